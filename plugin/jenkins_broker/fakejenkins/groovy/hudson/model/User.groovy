// hudson.model.User backed by the fake Jenkins' users (Python): looking a user up, its
// properties (only ApiTokenProperty here), save(). Ids compare case-insensitively, as with
// Jenkins' default IdStrategy; one User object per user, as Jenkins caches them.
package hudson.model

import fakejenkins.Bridge
import jenkins.model.Jenkins
import jenkins.security.ApiTokenProperty

import java.util.concurrent.ConcurrentHashMap

class User implements Comparable<User> {
    private static final Map<String, User> KNOWN = new ConcurrentHashMap<>()

    private final String id
    private final String fullName
    private volatile ApiTokenProperty apiTokenProperty

    private User(String id, String fullName) {
        this.id = id
        this.fullName = fullName
    }

    private static User of(Object found) {
        if (found == null) {
            return null
        }
        Map user = (Map) found
        String key = ((String) user.id).toLowerCase(Locale.ENGLISH)
        return KNOWN.computeIfAbsent(key, { new User((String) user.id, (String) user.fullName) })
    }

    static User getById(String id, boolean create) {
        return of(Bridge.call('user.get', [name: id, byFullName: false, create: create]))
    }

    static User get(String idOrFullName, boolean create) {
        if (idOrFullName == null) {
            return null
        }
        return of(Bridge.call('user.get', [name: idOrFullName, byFullName: true, create: create]))
    }

    static User get(String idOrFullName, boolean create, Map context) {
        return get(idOrFullName, create)
    }

    @Deprecated
    static User get(String idOrFullName) {
        return getOrCreateByIdOrFullName(idOrFullName)
    }

    static User getOrCreateByIdOrFullName(String idOrFullName) {
        return get(idOrFullName, true)
    }

    static User current() {
        return of(Bridge.call('user.current', [:]))
    }

    static Collection<User> getAll() {
        return ((List) Bridge.call('user.all', [:])).collect { of(it) }.sort()
    }

    String getId() {
        return id
    }

    String getFullName() {
        return fullName
    }

    String getDisplayName() {
        return fullName
    }

    String getUrl() {
        return 'user/' + URLEncoder.encode(id.toLowerCase(Locale.ENGLISH), 'UTF-8')
    }

    String getAbsoluteUrl() {
        return Jenkins.getInstance().getRootUrl() + getUrl()
    }

    synchronized <T extends UserProperty> T getProperty(Class<T> clazz) {
        ApiTokenProperty property = apiTokenProperty()
        return clazz.isInstance(property) ? clazz.cast(property) : null
    }

    synchronized List<UserProperty> getAllProperties() {
        return [apiTokenProperty()]
    }

    synchronized Map<Class, UserProperty> getProperties() {
        return [(ApiTokenProperty): apiTokenProperty()]
    }

    /** Replaces the user's property of that class and saves; a new ApiTokenProperty has no tokens. */
    synchronized void addProperty(UserProperty p) throws IOException {
        if (!(p instanceof ApiTokenProperty)) {
            throw new IllegalArgumentException('this fake Jenkins keeps no user property but ApiTokenProperty: '
                    + p.getClass().getName())
        }
        if (!p.is(apiTokenProperty)) {
            Bridge.call('property.attach', [user: id])
            apiTokenProperty = (ApiTokenProperty) p
            p.setUser(this)
        }
        save()
    }

    synchronized void save() throws IOException {
        Bridge.call('user.save', [user: id])
    }

    int compareTo(User that) {
        return id.compareToIgnoreCase(that.id)
    }

    String toString() {
        return fullName
    }

    private ApiTokenProperty apiTokenProperty() {
        if (apiTokenProperty == null) {
            ApiTokenProperty property = new ApiTokenProperty()
            property.setUser(this)
            apiTokenProperty = property
        }
        return apiTokenProperty
    }
}
