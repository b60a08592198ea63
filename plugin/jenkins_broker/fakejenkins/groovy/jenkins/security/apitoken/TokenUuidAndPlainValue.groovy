//@file-if revoke_all
// jenkins.security.apitoken.TokenUuidAndPlainValue: a class of its own since 2.260
// (JENKINS-57484; before, a class inside ApiTokenStore); expiry fields since 2.548.
package jenkins.security.apitoken
//@if expiry

import java.time.LocalDate
import java.time.format.DateTimeFormatter
//@end

class TokenUuidAndPlainValue {
    public final String tokenUuid
    public final String plainValue
//@if expiry
    public final String expirationDate
    public final boolean aboutToExpire

    TokenUuidAndPlainValue(String tokenUuid, String plainValue, LocalDate expirationDate, boolean aboutToExpire) {
        this.tokenUuid = tokenUuid
        this.plainValue = plainValue
        this.aboutToExpire = aboutToExpire
        this.expirationDate = expirationDate == null ? 'Never'
                : DateTimeFormatter.ofPattern('E, L d u').format(expirationDate)
    }
//@end
//@if !expiry

    TokenUuidAndPlainValue(String tokenUuid, String plainValue) {
        this.tokenUuid = tokenUuid
        this.plainValue = plainValue
    }
//@end
}
