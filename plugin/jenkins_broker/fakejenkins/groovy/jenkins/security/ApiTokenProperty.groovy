// jenkins.security.ApiTokenProperty backed by the fake Jenkins' token state (Python):
// the legacy token on every version; since 2.129 the token store, its statistics and the
// token list; since 2.260 the scripting methods (JENKINS-57484); since 2.548 the
// expiry-date overloads. A property made with "new" belongs to no user until
// User.addProperty, and has no token store before that (as on Jenkins).
package jenkins.security

import fakejenkins.Bridge
import groovy.transform.PackageScope
import hudson.model.User
import hudson.model.UserProperty
//@if new_tokens
import jenkins.security.apitoken.ApiTokenStats
import jenkins.security.apitoken.ApiTokenStore
//@end
//@if revoke_all
import jenkins.security.apitoken.TokenUuidAndPlainValue
//@end
//@if expiry
import java.time.LocalDate
import java.time.format.DateTimeFormatter
import java.time.format.FormatStyle
//@end

class ApiTokenProperty extends UserProperty {
//@if new_tokens
    private ApiTokenStore tokenStore
    private transient ApiTokenStats tokenStats
//@end

    ApiTokenProperty() {
    }

    protected void setUser(User u) {
        super.setUser(u)
//@if new_tokens
        if (tokenStore == null) {
            tokenStore = new ApiTokenStore(u.getId())
        }
        if (tokenStats == null) {
            tokenStats = new ApiTokenStats(u.getId())
        }
//@end
    }

    /** The legacy token if the current user may see it (its owner), else "Token is hidden". */
    String getApiToken() {
        return (String) Bridge.call('legacy.get', [user: user.getId(), insecure: false])
    }

    @PackageScope
    String getApiTokenInsecure() {
        return (String) Bridge.call('legacy.get', [user: user.getId(), insecure: true])
    }

    boolean matchesPassword(String token) {
//@if new_tokens
        if (token == null || token.trim().isEmpty()) {
            return false
        }
//@end
//@if !new_tokens
        token.getBytes('US-ASCII')      // a null password throws, as it did
//@end
        return Bridge.call('tokens.match', [user: user.getId(), value: token, count: true]) != null
    }

    void changeApiToken() throws IOException {
        Bridge.call('legacy.change', [user: user.getId()])
        user.save()
    }
//@if new_tokens

    boolean hasLegacyToken() {
        return (boolean) Bridge.call('legacy.has', [user: user.getId()])
    }

    void deleteApiToken() {
        Bridge.call('legacy.delete', [user: user.getId()])
    }

    ApiTokenStore getTokenStore() {
        return tokenStore
    }

    ApiTokenStats getTokenStats() {
        return tokenStats
    }

    Collection<TokenInfoAndStats> getTokenList() {
        return tokenStore.getTokenListSortedByName().collect { ApiTokenStore.HashedToken token ->
            new TokenInfoAndStats(token, tokenStats.findTokenStatsById(token.getUuid()))
        }
    }

    static class TokenInfoAndStats {
        public final String uuid
        public final String name
        public final Date creationDate
        public final long numDaysCreation
        public final boolean isLegacy
        public final int useCounter
        public final Date lastUseDate
        public final long numDaysUse
//@if expiry
        public final String expirationDate
        public final boolean expired
        public final boolean aboutToExpire
//@end

        TokenInfoAndStats(ApiTokenStore.HashedToken token, ApiTokenStats.SingleTokenStats stats) {
            this.uuid = token.getUuid()
            this.name = token.getName()
            this.creationDate = token.getCreationDate()
            this.numDaysCreation = token.getNumDaysCreation()
            this.isLegacy = token.isLegacy()
//@if expiry
            this.expired = token.isExpired()
            this.aboutToExpire = token.isAboutToExpire()
            LocalDate expires = token.getExpirationDate()
            // Formatted for the request's locale on Jenkins; the fake answers en-US.
            this.expirationDate = expires == null ? 'never'
                    : expires.format(DateTimeFormatter.ofLocalizedDate(FormatStyle.SHORT).withLocale(Locale.US))
//@end
            this.useCounter = stats.getUseCounter()
            this.lastUseDate = stats.getLastUseDate()
            this.numDaysUse = stats.getNumDaysUse()
        }
    }
//@end
//@if revoke_all

    TokenUuidAndPlainValue generateNewToken(String name) throws IOException {
//@if expiry
        return generateNewToken(name, null)
    }

    TokenUuidAndPlainValue generateNewToken(String name, LocalDate expirationDate) throws IOException {
        TokenUuidAndPlainValue made = tokenStore.generateNewToken(name, expirationDate)
//@end
//@if !expiry
        TokenUuidAndPlainValue made = tokenStore.generateNewToken(name)
//@end
        user.save()
        return made
    }

    String addFixedNewToken(String name, String tokenPlainValue) throws IOException {
//@if expiry
        return addFixedNewToken(name, tokenPlainValue, null)
    }

    String addFixedNewToken(String name, String tokenPlainValue, LocalDate expirationDate) throws IOException {
        String tokenUuid = tokenStore.addFixedNewToken(name, tokenPlainValue, expirationDate)
//@end
//@if !expiry
        String tokenUuid = tokenStore.addFixedNewToken(name, tokenPlainValue)
//@end
        user.save()
        return tokenUuid
    }

    void revokeAllTokens() throws IOException {
        tokenStats.removeAll()
        tokenStore.revokeAllTokens()
        user.save()
    }

    void revokeAllTokensExceptOne(String tokenUuid) throws IOException {
        tokenStats.removeAllExcept(tokenUuid)
        tokenStore.revokeAllTokensExcept(tokenUuid)
        user.save()
    }

    void revokeToken(String tokenUuid) throws IOException {
        ApiTokenStore.HashedToken revoked = tokenStore.revokeToken(tokenUuid)
        if (revoked != null) {
            if (revoked.isLegacy()) {
                deleteApiToken()
            }
            tokenStats.removeId(revoked.getUuid())
            user.save()
        }
    }
//@end
}
