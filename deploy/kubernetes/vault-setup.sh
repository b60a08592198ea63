#!/bin/sh
# The Vault side of deploy/kubernetes/: Kubernetes auth, a role for the broker's service
# account (policy jenkins-broker) and one for the example CI pod's (policy
# jenkins-consumer-ci-bot). Run once, with an administrator's token, against Vault itself,
# after `jenkins-broker bootstrap` made the mounts. Safe to run again.
#
#   VAULT_ADDR=https://vault.example.com:8200 VAULT_TOKEN=... deploy/kubernetes/vault-setup.sh
#
# Settings (environment):
#   KUBERNETES_HOST         the API server as Vault reaches it (default
#                           https://kubernetes.default.svc: Vault running in the cluster)
#   KUBERNETES_CA_CERT_FILE Vault outside the cluster: the cluster's CA (PEM). Then Vault
#                           uses no token of its own pod to review logins: give
#                           TOKEN_REVIEWER_JWT_FILE (a token of a service account bound to
#                           system:auth-delegator), or else each login is reviewed with the
#                           client's own token, whose service account then needs that binding
#   K8S_MOUNT               default kubernetes
#   BROKER_NAMESPACE, BROKER_SERVICE_ACCOUNT   default jenkins-broker, jenkins-broker
#   CI_NAMESPACE, CI_SERVICE_ACCOUNT, CI_ROLE  default ci, ci-bot, ci-bot
#   POLICIES_DIR            default vault-policies/ of this checkout
set -eu

die() { echo "vault-setup.sh: $*" >&2; exit 2; }
: "${VAULT_ADDR:?set VAULT_ADDR to the address of Vault itself, not of the broker}"
: "${VAULT_TOKEN:?set VAULT_TOKEN to a token of an administrator}"
if ! command -v vault >/dev/null 2>&1; then
    command -v bao >/dev/null 2>&1 || die "the vault (or bao) CLI is not on PATH"
    vault() { bao "$@"; }
fi

here=$(cd "$(dirname "$0")" && pwd)
policies=${POLICIES_DIR:-$here/../../vault-policies}
mount=${K8S_MOUNT:-kubernetes}
host=${KUBERNETES_HOST:-https://kubernetes.default.svc}
broker_ns=${BROKER_NAMESPACE:-jenkins-broker}
broker_sa=${BROKER_SERVICE_ACCOUNT:-jenkins-broker}
ci_ns=${CI_NAMESPACE:-ci}
ci_sa=${CI_SERVICE_ACCOUNT:-ci-bot}
ci_role=${CI_ROLE:-ci-bot}

vault policy write jenkins-broker "$policies/jenkins-broker.hcl"
vault policy write jenkins-consumer-ci-bot "$policies/jenkins-consumer-ci-bot.hcl"

if ! vault auth list -format=json | grep -q "\"$mount/\""; then
    vault auth enable -path="$mount" kubernetes
fi
if [ -n "${KUBERNETES_CA_CERT_FILE:-}" ]; then
    [ -r "$KUBERNETES_CA_CERT_FILE" ] || die "KUBERNETES_CA_CERT_FILE: cannot read $KUBERNETES_CA_CERT_FILE"
    if [ -n "${TOKEN_REVIEWER_JWT_FILE:-}" ]; then
        [ -r "$TOKEN_REVIEWER_JWT_FILE" ] || die "TOKEN_REVIEWER_JWT_FILE: cannot read $TOKEN_REVIEWER_JWT_FILE"
        vault write "auth/$mount/config" kubernetes_host="$host" disable_local_ca_jwt=true \
            kubernetes_ca_cert="@$KUBERNETES_CA_CERT_FILE" token_reviewer_jwt="@$TOKEN_REVIEWER_JWT_FILE"
    else
        vault write "auth/$mount/config" kubernetes_host="$host" disable_local_ca_jwt=true \
            kubernetes_ca_cert="@$KUBERNETES_CA_CERT_FILE"
    fi
else
    vault write "auth/$mount/config" kubernetes_host="$host"
fi

# The broker: its projected token has the audience "vault" only (deployment.yaml). Its
# Vault token is renewed by the broker, which logs in again when it can no longer renew.
vault write "auth/$mount/role/jenkins-broker" \
    bound_service_account_names="$broker_sa" bound_service_account_namespaces="$broker_ns" \
    audience=vault token_policies=jenkins-broker token_ttl=1h token_max_ttl=24h

# The CI pod: the injected agent logs in with the pod's own service-account token. Its
# Vault token caps the life of the Jenkins token it reads (broker and plugin mode).
vault write "auth/$mount/role/$ci_role" \
    bound_service_account_names="$ci_sa" bound_service_account_namespaces="$ci_ns" \
    token_policies=jenkins-consumer-ci-bot token_ttl=30m token_max_ttl=30m

echo "Kubernetes auth at auth/$mount: role jenkins-broker for $broker_ns/$broker_sa, role $ci_role for $ci_ns/$ci_sa."
