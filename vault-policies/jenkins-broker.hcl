# Holder: the jenkins-broker service itself (its AppRole, token or Kubernetes login).
# Grants exactly what the broker uses: its private KV v2 state, and writing the
# shared credentials of shared-mode roles. No sudo, no policy or auth writes,
# and no reading of anything else in Vault.

# Private state: Jenkins connection, credentials, roles, lease records, rotation state.
path "jenkins-broker/data/*" {
  capabilities = ["create", "read", "update", "delete"]
}

# Listing records, and deleting a record with all its versions.
path "jenkins-broker/metadata/*" {
  capabilities = ["list", "delete"]
}

# Upgrading from a broker that kept credential secrets inline in credentials/<name>: the
# broker moves them to secrets/<name> and destroys the record versions that held them.
path "jenkins-broker/destroy/credentials/*" {
  capabilities = ["update"]
}

# Shared mode: the broker writes jenkins/creds/<role>; it never needs to read it back.
path "jenkins/creds/*" {
  capabilities = ["create", "update", "delete"]
}

# Leases follow their caller's Vault token (as Vault's own leases do): the broker looks
# up a caller's token by its accessor to cap renewals and to revoke the Jenkins tokens of
# a revoked token, and checks a use-limited token's capabilities by accessor so that a
# read spends one use of it, not two. Accessors only: neither call can use a token.
path "auth/token/lookup-accessor" {
  capabilities = ["update"]
}

path "sys/capabilities-accessor" {
  capabilities = ["update"]
}

# Keep its own token alive (also in Vault's default policy; stated for clarity).
path "auth/token/renew-self" {
  capabilities = ["update"]
}

path "auth/token/lookup-self" {
  capabilities = ["read"]
}
