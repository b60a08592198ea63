# Holder: the security team.
# Sees every live token (who asked, when it dies; records hold no token values)
# and can kill any of them, one lease, one requester's or a whole role's.
# Reads no credential: jenkins/creds/* and the broker's stored credentials and
# connection are denied explicitly, so a broader policy cannot add them by accident.

# Broker API: live tokens per role, the incident button.
path "jenkins/leases/*" {
  capabilities = ["read", "list"]
}

path "jenkins/revoke/*" {
  capabilities = ["update"]
}

# Vault-compatible lease endpoints (as `bao lease ...` uses them).
path "sys/leases/lookup" {
  capabilities = ["update"]
}

path "sys/leases/lookup/jenkins/creds/*" {
  capabilities = ["list", "sudo"]
}

path "sys/leases/lookup/jenkins/creds" {
  capabilities = ["list", "sudo"]
}

path "sys/leases/revoke" {
  capabilities = ["update"]
}

# The same with the lease id in the path (PUT sys/leases/revoke/<id>): Vault checks that path.
path "sys/leases/revoke/jenkins/creds/*" {
  capabilities = ["update"]
}

path "sys/leases/revoke-prefix/jenkins/creds/*" {
  capabilities = ["update", "sudo"]
}

# Vault's revoke-force: the records go even if Jenkins refuses; reconciliation revokes
# such tokens as orphans.
path "sys/leases/revoke-force/jenkins/creds/*" {
  capabilities = ["update", "sudo"]
}

# Lease records in the broker's KV mount, for `jenkins-broker leases` without a broker.
# Read only: revoking goes through the broker, which holds the Jenkins credentials.
path "jenkins-broker/data/leases/*" {
  capabilities = ["read"]
}

path "jenkins-broker/metadata/leases/*" {
  capabilities = ["list"]
}

path "jenkins-broker/metadata/leases" {
  capabilities = ["list"]
}

path "jenkins/creds/*" {
  capabilities = ["deny"]
}

path "jenkins-broker/data/credentials/*" {
  capabilities = ["deny"]
}

path "jenkins-broker/data/secrets/*" {
  capabilities = ["deny"]
}

path "jenkins-broker/data/config" {
  capabilities = ["deny"]
}

# The broker's /metrics and /v1/sys/health details (as Vault's own sys/metrics: this also
# lets the holder read Vault's metrics).
path "sys/metrics" {
  capabilities = ["read"]
}
