# Holder: the platform team that configures the broker.
# Manages the Jenkins connection, stored Jenkins credentials and roles, both
# through the broker's API (jenkins/config, jenkins/credentials/*, jenkins/roles/*)
# and with the `jenkins-broker` CLI, which talks to the broker's KV mount directly.
# It does not grant minting (no jenkins/creds/*) or access to lease records, and it
# writes stored secrets without being able to read them back (jenkins-broker/data/secrets/*).

path "jenkins/config" {
  capabilities = ["create", "read", "update"]
}

path "jenkins/credentials" {
  capabilities = ["list"]
}

path "jenkins/credentials/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}

# Rotate a stored token credential now (the broker mints its own replacement).
path "jenkins/rotate-credential/*" {
  capabilities = ["update"]
}

path "jenkins/roles" {
  capabilities = ["list"]
}

path "jenkins/roles/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}

# The same objects in the broker's KV mount, for the CLI.
path "jenkins-broker/data/config" {
  capabilities = ["create", "read", "update"]
}

# What is known of each credential (user, kind, origin): no secret is stored here.
path "jenkins-broker/data/credentials/*" {
  capabilities = ["create", "read", "update", "delete"]
}

# The secrets themselves: written, never read back (no "read"; only the broker reads them).
path "jenkins-broker/data/secrets/*" {
  capabilities = ["create", "update"]
}

path "jenkins-broker/metadata/secrets/*" {
  capabilities = ["delete"]
}

path "jenkins-broker/metadata/credentials/*" {
  capabilities = ["list", "delete"]
}

path "jenkins-broker/data/roles/*" {
  capabilities = ["create", "read", "update", "delete"]
}

path "jenkins-broker/metadata/roles/*" {
  capabilities = ["list", "delete"]
}

path "jenkins-broker/metadata/credentials" {
  capabilities = ["list"]
}

path "jenkins-broker/metadata/roles" {
  capabilities = ["list"]
}

# The broker's /metrics and /v1/sys/health details (as Vault's own sys/metrics: this also
# lets the holder read Vault's metrics).
path "sys/metrics" {
  capabilities = ["read"]
}
