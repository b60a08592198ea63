# Holder: CI jobs that act as the Jenkins user of role ci-bot.
# One such policy per role: copy this file, replace "ci-bot" with the role name.
#
# The one line that matters: `read` on jenkins/creds/<role>. It lets the holder
#   - read the shared, rotating credential from Vault (shared mode), and
#   - mint its own short-lived token through the broker (broker mode).
# Renewing and looking up its own leases needs nothing more: Vault's default
# policy grants sys/leases/renew and sys/leases/lookup to every token, and the
# broker checks the same paths.
path "jenkins/creds/ci-bot" {
  capabilities = ["read"]
}
