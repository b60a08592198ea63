#!/bin/sh
# The Vault side of examples/github-actions/jenkins-token.yml: JWT auth at jwt/ trusting
# GitHub's OIDC issuer, and a role github-jenkins-ci-bot that only one repository's
# workflows on one branch may log in with, getting the consumer policy of role ci-bot.
# Run once, with an administrator's token, against Vault itself (not the broker). Safe to
# run again.
#
#   GITHUB_REPOSITORY=my-org/my-repo VAULT_ADDR=https://vault.example.com:8200 VAULT_TOKEN=... \
#     examples/github-actions/vault-setup.sh
#
# Settings (environment):
#   GITHUB_REPOSITORY   required: owner/name of the repository whose workflows may log in
#   GITHUB_REF          the branch they must run on (default refs/heads/main)
#   GITHUB_OIDC_ISSUER  default https://token.actions.githubusercontent.com (GitHub
#                       Enterprise Server: https://HOSTNAME/_services/token)
#   JWT_AUDIENCE        default https://github.com/OWNER, what the workflow asks for
#   JWT_MOUNT, JWT_ROLE default jwt, github-jenkins-ci-bot
#   POLICY_FILE         default vault-policies/jenkins-consumer-ci-bot.hcl of this checkout
#
# The job's Vault token lives 30 minutes at most: in broker and plugin mode a Jenkins token
# never outlives the Vault token that asked for it, so keep token_max_ttl at least as long
# as the job's use of the token. Bound to the repository's name: a repository deleted and
# created again under the same name would match too; bind repository_id as well to exclude
# that.
set -eu

: "${VAULT_ADDR:?set VAULT_ADDR to the address of Vault itself, not of the broker}"
: "${VAULT_TOKEN:?set VAULT_TOKEN to a token of an administrator}"
: "${GITHUB_REPOSITORY:?set GITHUB_REPOSITORY to owner/name of the repository}"
die() { echo "vault-setup.sh: $*" >&2; exit 2; }
case $GITHUB_REPOSITORY in
    */*/* | /* | */ | *[!A-Za-z0-9_./-]*) die "GITHUB_REPOSITORY must be owner/name, not $GITHUB_REPOSITORY" ;;
    */*) ;;
    *) die "GITHUB_REPOSITORY must be owner/name, not $GITHUB_REPOSITORY" ;;
esac
if ! command -v vault >/dev/null 2>&1; then
    command -v bao >/dev/null 2>&1 || die "the vault (or bao) CLI is not on PATH"
    vault() { bao "$@"; }
fi

here=$(cd "$(dirname "$0")" && pwd)
ref=${GITHUB_REF:-refs/heads/main}
issuer=${GITHUB_OIDC_ISSUER:-https://token.actions.githubusercontent.com}
audience=${JWT_AUDIENCE:-https://github.com/${GITHUB_REPOSITORY%%/*}}
case $audience in
    *[\\\"]*) die "JWT_AUDIENCE must not hold a quote or a backslash" ;;
esac
mount=${JWT_MOUNT:-jwt}
role=${JWT_ROLE:-github-jenkins-ci-bot}
policy=jenkins-consumer-ci-bot
policy_file=${POLICY_FILE:-$here/../../vault-policies/$policy.hcl}

vault policy write "$policy" "$policy_file"

if ! vault auth list -format=json | grep -q "\"$mount/\""; then
    vault auth enable -path="$mount" jwt
fi
# Vault fetches the issuer's discovery document and keys from here (so it needs to reach it).
vault write "auth/$mount/config" oidc_discovery_url="$issuer" bound_issuer="$issuer"

# user_claim: one Vault entity per repository; claim_mappings put who ran what into the
# token's metadata (and so into Vault's audit log).
vault write "auth/$mount/role/$role" - <<JSON
{
  "role_type": "jwt",
  "user_claim": "repository",
  "bound_audiences": ["$audience"],
  "bound_claims_type": "string",
  "bound_claims": {"repository": "$GITHUB_REPOSITORY", "ref": "$ref"},
  "claim_mappings": {"actor": "actor", "workflow": "workflow", "run_id": "run_id"},
  "token_policies": ["$policy"],
  "token_ttl": "30m",
  "token_max_ttl": "30m"
}
JSON

echo "JWT role $role at auth/$mount: workflows of $GITHUB_REPOSITORY on $ref (audience $audience) get policy $policy."
