#!/bin/sh
# The Vault side of examples/gitlab-ci/.gitlab-ci.yml: JWT auth at jwt-gitlab/ trusting your
# GitLab's OIDC issuer, and a role gitlab-jenkins-ci-bot that only one project's jobs on one
# protected branch may log in with, getting the consumer policy of role ci-bot.
# Run once, with an administrator's token, against Vault itself (not the broker). Safe to
# run again.
#
#   GITLAB_PROJECT_ID=42 JWT_AUDIENCE=https://vault.example.com \
#   VAULT_ADDR=https://vault.example.com:8200 VAULT_TOKEN=... examples/gitlab-ci/vault-setup.sh
#
# Settings (environment):
#   GITLAB_PROJECT_ID   required: the numeric id of the project whose jobs may log in
#   JWT_AUDIENCE        required: the `aud` of the job's id_tokens entry
#   GITLAB_URL          the GitLab, which is the ID tokens' issuer (default https://gitlab.com)
#   GITLAB_REF          the branch the jobs must run on (default main; it must be protected)
#   JWT_MOUNT, JWT_ROLE default jwt-gitlab, gitlab-jenkins-ci-bot (a mount of its own: one
#                       JWT mount trusts one issuer, and jwt/ may be GitHub's)
#   POLICY_FILE         default vault-policies/jenkins-consumer-ci-bot.hcl of this checkout
#
# The job's Vault token lives 30 minutes at most: in broker and plugin mode a Jenkins token
# never outlives the Vault token that asked for it.
set -eu

die() { echo "vault-setup.sh: $*" >&2; exit 2; }
: "${VAULT_ADDR:?set VAULT_ADDR to the address of Vault itself, not of the broker}"
: "${VAULT_TOKEN:?set VAULT_TOKEN to a token of an administrator}"
: "${GITLAB_PROJECT_ID:?set GITLAB_PROJECT_ID to the numeric id of the project}"
: "${JWT_AUDIENCE:?set JWT_AUDIENCE to the aud of the id_tokens entry of the job}"
case $GITLAB_PROJECT_ID in
    '' | *[!0-9]*) die "GITLAB_PROJECT_ID must be a number, not $GITLAB_PROJECT_ID" ;;
esac
case ${JWT_AUDIENCE:-} in
    *[\\\"]*) die "JWT_AUDIENCE must not hold a quote or a backslash" ;;
esac
if ! command -v vault >/dev/null 2>&1; then
    command -v bao >/dev/null 2>&1 || die "the vault (or bao) CLI is not on PATH"
    vault() { bao "$@"; }
fi

here=$(cd "$(dirname "$0")" && pwd)
issuer=${GITLAB_URL:-https://gitlab.com}
issuer=${issuer%/}
ref=${GITLAB_REF:-main}
mount=${JWT_MOUNT:-jwt-gitlab}
role=${JWT_ROLE:-gitlab-jenkins-ci-bot}
policy=jenkins-consumer-ci-bot
policy_file=${POLICY_FILE:-$here/../../vault-policies/$policy.hcl}

vault policy write "$policy" "$policy_file"

if ! vault auth list -format=json | grep -q "\"$mount/\""; then
    vault auth enable -path="$mount" jwt
fi
# Vault fetches the issuer's discovery document and keys from here (so it needs to reach it).
vault write "auth/$mount/config" oidc_discovery_url="$issuer" bound_issuer="$issuer"

# GitLab's ID token claims are strings. user_claim: one Vault entity per project;
# claim_mappings put who ran what into the token's metadata (and Vault's audit log).
vault write "auth/$mount/role/$role" - <<JSON
{
  "role_type": "jwt",
  "user_claim": "project_path",
  "bound_audiences": ["$JWT_AUDIENCE"],
  "bound_claims_type": "string",
  "bound_claims": {"project_id": "$GITLAB_PROJECT_ID", "ref": "$ref", "ref_type": "branch",
                   "ref_protected": "true"},
  "claim_mappings": {"user_login": "user_login", "pipeline_id": "pipeline_id", "job_id": "job_id"},
  "token_policies": ["$policy"],
  "token_ttl": "30m",
  "token_max_ttl": "30m"
}
JSON

echo "JWT role $role at auth/$mount: jobs of project $GITLAB_PROJECT_ID on protected branch $ref (audience $JWT_AUDIENCE) get policy $policy."
