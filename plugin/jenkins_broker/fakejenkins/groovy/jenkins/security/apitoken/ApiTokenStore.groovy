//@file-if new_tokens
// jenkins.security.apitoken.ApiTokenStore (since 2.129) backed by the fake Jenkins' token
// state (Python): each method is one step on it, made under the fake's lock, as the
// store's synchronized methods are on Jenkins. HashedToken is what the store held when
// it was asked; renaming one renames the stored token.
package jenkins.security.apitoken

import fakejenkins.Bridge
//@if expiry
import java.time.LocalDate
//@end

class ApiTokenStore {
    private final String owner

    ApiTokenStore(String owner) {
        this.owner = owner
    }

    private HashedToken hashed(Object found) {
        return found == null ? null : new HashedToken(owner, (Map) found)
    }

    /** Sorted by lower-cased name; two tokens or more, one of them without a name, throw as on Jenkins. */
    synchronized Collection<HashedToken> getTokenListSortedByName() {
        List<HashedToken> tokens = ((List) Bridge.call('tokens.list', [user: owner])).collect { hashed(it) }
        return tokens.sort(false) { HashedToken a, HashedToken b -> lowerName(a) <=> lowerName(b) }
    }

    private static String lowerName(HashedToken token) {
        if (token.getName() == null) {
            throw new NullPointerException('Cannot invoke "String.toLowerCase(java.util.Locale)" because the '
                    + 'return value of "jenkins.security.apitoken.ApiTokenStore$HashedToken.getName()" is null')
        }
        return token.getName().toLowerCase(Locale.ENGLISH)
    }

    synchronized HashedToken getLegacyToken() {
        return hashed(Bridge.call('tokens.legacy', [user: owner]))
    }

    synchronized TokenUuidAndPlainValue generateNewToken(String name) {
//@if expiry
        return generateNewToken(name, null)
    }

    synchronized TokenUuidAndPlainValue generateNewToken(String name, LocalDate expirationDate) {
        Map made = (Map) Bridge.call('tokens.generate', [user: owner, name: name, expires: expirationDate?.toString()])
        return new TokenUuidAndPlainValue((String) made.uuid, (String) made.value, expirationDate,
                (boolean) made.aboutToExpire)
//@end
//@if !expiry
        Map made = (Map) Bridge.call('tokens.generate', [user: owner, name: name, expires: null])
        return new TokenUuidAndPlainValue((String) made.uuid, (String) made.value)
//@end
    }
//@if revoke_all

//@if !expiry
    synchronized String addFixedNewToken(String name, String tokenPlainValue) {
        return addFixed(name, tokenPlainValue, null)
    }
//@end
//@if expiry
    synchronized String addFixedNewToken(String name, String tokenPlainValue, LocalDate expirationDate) {
        return addFixed(name, tokenPlainValue, expirationDate?.toString())
    }
//@end

    private String addFixed(String name, String tokenPlainValue, String expires) {
        if (tokenPlainValue.length() != 34) {
            throw new IllegalArgumentException(
                    'The token must consist of 2 characters for the version and 32 hex-characters for the secret')
        }
        String version = tokenPlainValue.substring(0, 2)
        if (version != '11') {
            throw new IllegalArgumentException('The given version is not recognized: ' + version)
        }
        String secret = tokenPlainValue.substring(2).toLowerCase()
        if (!(secret ==~ /[a-f0-9]{32}/)) {
            throw new IllegalArgumentException('The secret part of the token must consist of 32 hex-characters')
        }
        return (String) Bridge.call('tokens.addFixed', [user: owner, name: name, value: '11' + secret, expires: expires])
    }
//@end

    synchronized HashedToken findMatchingToken(String token) {
        return hashed(Bridge.call('tokens.match', [user: owner, value: token, count: false]))
    }

    synchronized HashedToken revokeToken(String tokenUuid) {
        return hashed(Bridge.call('tokens.revoke', [user: owner, uuid: tokenUuid]))
    }
//@if revoke_all

    synchronized void revokeAllTokens() {
        Bridge.call('tokens.revokeAll', [user: owner, except: null])
    }

    synchronized void revokeAllTokensExcept(String tokenUuid) {
        Bridge.call('tokens.revokeAll', [user: owner, except: tokenUuid])
    }
//@end

    synchronized boolean renameToken(String tokenUuid, String newName) {
        return (boolean) Bridge.call('tokens.rename', [user: owner, uuid: tokenUuid, name: newName])
    }

    static class HashedToken implements Serializable {
        private final transient String owner
        private final String uuid
        private String name
        private final Date creationDate
        private final boolean legacy
//@if expiry
        private final LocalDate expirationDate
        private final boolean expired
        private final boolean aboutToExpire
//@end

        private HashedToken(String owner, Map stored) {
            this.owner = owner
            this.uuid = (String) stored.uuid
            this.name = (String) stored.name
            this.creationDate = stored.created == null ? null : new Date(((Number) stored.created).longValue())
            this.legacy = (boolean) stored.legacy
//@if expiry
            this.expirationDate = stored.expires == null ? null : LocalDate.parse((String) stored.expires)
            this.expired = (boolean) stored.expired
            this.aboutToExpire = (boolean) stored.aboutToExpire
//@end
        }

        void rename(String newName) {
            Bridge.call('tokens.rename', [user: owner, uuid: uuid, name: newName])
            this.name = newName
        }

        void setName(String name) {
            rename(name)
        }

        String getName() {
            return name
        }

        Date getCreationDate() {
            return creationDate
        }

        long getNumDaysCreation() {
            return creationDate == null ? 0 : (long) ((System.currentTimeMillis() - creationDate.getTime()) / 86400000L)
        }

        String getUuid() {
            return uuid
        }

        boolean isLegacy() {
            return legacy
        }
//@if expiry

        LocalDate getExpirationDate() {
            return expirationDate
        }

        boolean isAboutToExpire() {
            return aboutToExpire
        }

        boolean isExpired() {
            return expired
        }
//@end
    }
//@if !revoke_all

    static class TokenUuidAndPlainValue {
        public final String tokenUuid
        public final String plainValue

        private TokenUuidAndPlainValue(String tokenUuid, String plainValue) {
            this.tokenUuid = tokenUuid
            this.plainValue = plainValue
        }
    }
//@end
}
