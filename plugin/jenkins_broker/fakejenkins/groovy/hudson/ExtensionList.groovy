// hudson.ExtensionList, as far as the fake has extensions: its administrative monitors.
package hudson

import hudson.model.AdministrativeMonitor
import jenkins.model.Jenkins

class ExtensionList<T> extends ArrayList<T> {
    ExtensionList(Collection<T> items) {
        super(items)
    }

    /** The one instance of ``type`` in the list, or null. */
    public <U extends T> U get(Class<U> type) {
        return (U) find { type.isInstance(it) }
    }

    static <T> ExtensionList<T> lookup(Class<T> type) {
        return Jenkins.getInstance().getExtensionList(type)
    }

    static <U> U lookupSingleton(Class<U> type) {
        List<AdministrativeMonitor> all = lookup(AdministrativeMonitor).findAll { type.isInstance(it) }
        if (all.size() != 1) {
            throw new IllegalStateException('Expected 1 instance of ' + type.getName() + ' but got ' + all.size())
        }
        return (U) all[0]
    }
}
