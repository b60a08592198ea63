//@file-if new_tokens
// jenkins.security.apitoken.LegacyApiTokenAdministrativeMonitor (since 2.129): which users
// still have a legacy token, and whether they have fresher or more recently used tokens.
// Its page is not served by the fake; its revokeAllSelected is (fakejenkins/tokens.py).
package jenkins.security.apitoken

import hudson.model.AdministrativeMonitor
import hudson.model.User
import jenkins.security.ApiTokenProperty

class LegacyApiTokenAdministrativeMonitor extends AdministrativeMonitor {
    LegacyApiTokenAdministrativeMonitor() {
        super('legacyApiToken')
    }

    String getDisplayName() {
        return 'Legacy API Token usage'
    }

    boolean isActivated() {
        return User.getAll().any { User user -> user.getProperty(ApiTokenProperty)?.hasLegacyToken() }
    }

    boolean isSecurity() {
        return true
    }

    List<User> getImpactedUserList() {
        return User.getAll().findAll { User user -> user.getProperty(ApiTokenProperty)?.hasLegacyToken() }
    }

    ApiTokenStore.HashedToken getLegacyTokenOf(User user) {
        return user.getProperty(ApiTokenProperty).getTokenStore().getLegacyToken()
    }

    ApiTokenProperty.TokenInfoAndStats getLegacyStatsOf(User user, ApiTokenStore.HashedToken legacyToken) {
        if (legacyToken == null) {
            return null
        }
        ApiTokenProperty property = user.getProperty(ApiTokenProperty)
        return new ApiTokenProperty.TokenInfoAndStats(legacyToken,
                property.getTokenStats().findTokenStatsById(legacyToken.getUuid()))
    }

    /** A new token made after the legacy token's last use (or its creation). */
    boolean hasFreshToken(User user, ApiTokenProperty.TokenInfoAndStats legacyStats) {
        return anyNewTokenAfterLegacy(user, legacyStats) { it.creationDate }
    }

    /** A new token used after the legacy token's last use (or its creation). */
    boolean hasMoreRecentlyUsedToken(User user, ApiTokenProperty.TokenInfoAndStats legacyStats) {
        return anyNewTokenAfterLegacy(user, legacyStats) { it.lastUseDate }
    }

    /** Whether a non-legacy token's date (``dateOf``) is after the legacy token's last use. */
    private static boolean anyNewTokenAfterLegacy(User user, ApiTokenProperty.TokenInfoAndStats legacyStats,
                                                  Closure<Date> dateOf) {
        if (legacyStats == null) {
            return false
        }
        Date legacyLast = legacyStats.lastUseDate ?: legacyStats.creationDate
        return user.getProperty(ApiTokenProperty).getTokenList().any {
            Date date = dateOf(it)
            !it.isLegacy && date != null && legacyLast != null && date.after(legacyLast)
        }
    }
}
