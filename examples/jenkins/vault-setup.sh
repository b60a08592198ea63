#!/bin/sh
# The Vault side of examples/jenkins/: an AppRole whose tokens hold only the consumer policy
# of role ci-bot. Run once, with an administrator's token, against Vault itself (not the
# broker). Safe to run again.
#
#   VAULT_ADDR=https://vault.example.com:8200 VAULT_TOKEN=... examples/jenkins/vault-setup.sh
#
# Settings (environment): APPROLE_MOUNT (default approle), APPROLE_ROLE (jenkins-ci-bot),
# POLICY_FILE (default vault-policies/jenkins-consumer-ci-bot.hcl of this checkout).
#
# A build's token lives 30 minutes at most (token_max_ttl): in broker and plugin mode a
# Jenkins token never outlives the Vault token that asked for it, so keep this at least as
# long as your longest build step that uses the token.
#
# Prints the role_id. The secret_id is never printed: the last lines say how to make one.
set -eu

: "${VAULT_ADDR:?set VAULT_ADDR to the address of Vault itself, not of the broker}"
: "${VAULT_TOKEN:?set VAULT_TOKEN to a token of an administrator}"
if ! command -v vault >/dev/null 2>&1; then
    command -v bao >/dev/null 2>&1 || { echo "vault-setup.sh: the vault (or bao) CLI is not on PATH" >&2; exit 2; }
    vault() { bao "$@"; }
fi

here=$(cd "$(dirname "$0")" && pwd)
mount=${APPROLE_MOUNT:-approle}
role=${APPROLE_ROLE:-jenkins-ci-bot}
policy=jenkins-consumer-ci-bot
policy_file=${POLICY_FILE:-$here/../../vault-policies/$policy.hcl}

vault policy write "$policy" "$policy_file"

if ! vault auth list -format=json | grep -q "\"$mount/\""; then
    vault auth enable -path="$mount" approle
fi

# secret_id_ttl 0: a secret_id stays valid until it is destroyed (rotate it yourself);
# token_num_uses=0: no use limit (a build logs in, reads once, and revokes its token).
vault write "auth/$mount/role/$role" \
    token_policies="$policy" token_ttl=30m token_max_ttl=30m token_num_uses=0 \
    secret_id_ttl=0 secret_id_num_uses=0

role_id=$(vault read -field=role_id "auth/$mount/role/$role/role-id")
cat <<EOF

AppRole $role at auth/$mount: tokens with policy $policy, 30 minutes at most.
role_id: $role_id
Jenkinsfile: store it as the Secret text credential vault-approle-role-id.
Make a secret_id straight into a file only you can read, then store it as the Secret text
credential vault-approle-secret-id (Jenkinsfile), or both in the "Vault App Role Credential"
vault-approle-jenkins-ci-bot (Jenkinsfile.vault-plugin):

  (umask 077; vault write -f -field=secret_id auth/$mount/role/$role/secret-id > secret-id.txt)
EOF
