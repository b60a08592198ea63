# Optional, beside jenkins-consumer-ci-bot: lets a CI job revoke its own lease when it
# is done (examples/shell/jenkins-token.sh does, with JENKINS_TOKEN_REVOKE=lease).
#
# `update` on sys/leases/revoke (the lease id in the body, as
# `vault write sys/leases/revoke lease_id=...` sends it) lets the holder revoke any lease
# whose id it knows, in Vault and through the broker: lease ids are not secret (auditors
# list them), so weigh that before attaching it. A job that logs in for itself (JWT,
# AppRole, Kubernetes) needs none of this: it can revoke its own Vault token instead
# (JENKINS_TOKEN_REVOKE=token; Vault's default policy allows it) and its Jenkins tokens
# go with it.
path "sys/leases/revoke" {
  capabilities = ["update"]
}
