//@file-if new_tokens
// jenkins.security.apitoken.ApiTokenStats (since 2.129): the use counter and last use of
// each of a user's tokens, kept by the fake Jenkins (Python) with the token itself; the
// statistics of a uuid without a token read as unused.
package jenkins.security.apitoken

import fakejenkins.Bridge

class ApiTokenStats {
    private final String owner

    ApiTokenStats(String owner) {
        this.owner = owner
    }

    synchronized void removeId(String tokenUuid) {
        Bridge.call('stats.reset', [user: owner, only: tokenUuid, except: null])
    }
//@if revoke_all

    synchronized void removeAll() {
        Bridge.call('stats.reset', [user: owner, only: null, except: null])
    }

    synchronized void removeAllExcept(String tokenUuid) {
        Bridge.call('stats.reset', [user: owner, only: null, except: tokenUuid])
    }
//@end

    SingleTokenStats updateUsageForId(String tokenUuid) {
        return new SingleTokenStats(tokenUuid, (Map) Bridge.call('stats.use', [user: owner, uuid: tokenUuid]))
    }

    synchronized SingleTokenStats findTokenStatsById(String tokenUuid) {
        return new SingleTokenStats(tokenUuid, (Map) Bridge.call('stats.get', [user: owner, uuid: tokenUuid]))
    }

    synchronized void save() {
    }

    static class SingleTokenStats {
        private final String tokenUuid
        private final Date lastUseDate
        private final Integer useCounter

        private SingleTokenStats(String tokenUuid, Map stats) {
            this.tokenUuid = tokenUuid
            this.useCounter = stats.useCounter == null ? null : ((Number) stats.useCounter).intValue()
            this.lastUseDate = stats.lastUse == null ? null : new Date(((Number) stats.lastUse).longValue())
        }

        String getTokenUuid() {
            return tokenUuid
        }

        int getUseCounter() {
            return useCounter == null ? 0 : useCounter
        }

        Date getLastUseDate() {
            return lastUseDate
        }

        long getNumDaysUse() {
            return lastUseDate == null ? 0 : (long) ((System.currentTimeMillis() - lastUseDate.getTime()) / 86400000L)
        }
    }
}
