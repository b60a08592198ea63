// jenkins.model.Jenkins as the fake's scripts see it: the singleton, its lookups, its version.
// jenkins_broker's own code, shaped after the signatures of Jenkins core; blocks between
// "//@if <feature>" and "//@end" exist only on the versions that have that feature
// (jenkins_broker/fakejenkins/versions.py).
package jenkins.model

import fakejenkins.Bridge
import hudson.ExtensionList
import hudson.model.AdministrativeMonitor
import hudson.model.Hudson
//@if new_tokens
import jenkins.security.apitoken.LegacyApiTokenAdministrativeMonitor
//@end

class Jenkins {
    /** The version of Jenkins this is (``Jenkins.VERSION``). */
    public static final String VERSION = Bridge.version()

    private static final Jenkins THE_INSTANCE = new Hudson()

    protected Jenkins() {
    }

//@if jenkins_get
    static Jenkins get() throws IllegalStateException {
        return THE_INSTANCE
    }

    static Jenkins getInstanceOrNull() {
        return THE_INSTANCE
    }

//@end
    @Deprecated
    static Jenkins getInstance() {
        return THE_INSTANCE
    }

    String getRootUrl() {
        return (String) Bridge.context().rootUrl
    }

    String getDisplayName() {
        return 'Jenkins'
    }

    /** The fake's extensions: its administrative monitors, and nothing else. */
    public <T> ExtensionList<T> getExtensionList(Class<T> type) {
        return new ExtensionList<T>(administrativeMonitors.findAll { type.isInstance(it) } as List<T>)
    }

    List<AdministrativeMonitor> getAdministrativeMonitors() {
        return MONITORS
    }

    AdministrativeMonitor getAdministrativeMonitor(String id) {
        return MONITORS.find { it.id == id }
    }

    private static final List<AdministrativeMonitor> MONITORS = [
//@if new_tokens
            new LegacyApiTokenAdministrativeMonitor(),
//@end
    ].asImmutable()
}
