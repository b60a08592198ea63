// hudson.model.AdministrativeMonitor: the fake has one, LegacyApiTokenAdministrativeMonitor.
package hudson.model

abstract class AdministrativeMonitor {
    public final String id

    protected AdministrativeMonitor(String id) {
        this.id = id
    }

    String getId() {
        return id
    }

    String getUrl() {
        return 'administrativeMonitor/' + id
    }

    String getDisplayName() {
        return id
    }

    abstract boolean isActivated()

    boolean isEnabled() {
        return true
    }

    boolean isSecurity() {
        return false
    }
}
