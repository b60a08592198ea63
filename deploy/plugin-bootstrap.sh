#!/bin/sh
# The plugin profile's one-shot setup, run by the `plugin-bootstrap` service
# (docker-compose.yml, `docker compose --profile plugin up -d`) in the
# vault-plugin image, against the `vault-plugin` server. Safe to run again.
#
# Needs: VAULT_ADDR, VAULT_TOKEN (the dev root token), JENKINS_ADMIN_PASSWORD.
# Registers the engine in the plugin catalog under the SHA-256 of the file in
# the plugin directory, enables it at jenkins/, stores the Jenkins connection
# (the admin user) and writes the role ci-bot.
set -eu

plugin_dir=/vault/plugins
plugin_file=jenkins-broker-plugin
jenkins_url=http://jenkins:8080/

: "${VAULT_ADDR:?VAULT_ADDR must be set}"
: "${VAULT_TOKEN:?VAULT_TOKEN must be an administrator token}"
: "${JENKINS_ADMIN_PASSWORD:?JENKINS_ADMIN_PASSWORD must be set}"

step() { printf '\n== %s\n' "$*"; }

step "register the plugin (catalog name jenkins)"
sha256=$(sha256sum "$plugin_dir/$plugin_file" | cut -d' ' -f1)
echo "sha256 $sha256"
vault plugin register -sha256="$sha256" -command="$plugin_file" secret jenkins

step "enable it at jenkins/"
if vault read -format=json sys/mounts/jenkins >/dev/null 2>&1; then
    vault plugin reload -plugin=jenkins
else
    vault secrets enable -path=jenkins jenkins
fi

step "Jenkins connection: $jenkins_url (user admin; the password from stdin, never on a command line)"
printf '%s' "$JENKINS_ADMIN_PASSWORD" | \
    vault write jenkins/config url="$jenkins_url" username=admin password=-

step "role ci-bot (Jenkins user ci-bot, minted by the admin)"
vault write jenkins/roles/ci-bot jenkins_user=ci-bot strategy=admin-rest ttl=15m max_ttl=1h

step "check"
vault read jenkins/config
vault read jenkins/roles/ci-bot
