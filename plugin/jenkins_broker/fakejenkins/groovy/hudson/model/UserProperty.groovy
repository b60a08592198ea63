// hudson.model.UserProperty: what User.getProperty and User.addProperty deal in.
package hudson.model

abstract class UserProperty {
    protected transient User user

    protected void setUser(User u) {
        this.user = u
    }
}
