#!/bin/sh
# jenkins-token.sh: run a command with a short-lived Jenkins API token, for any CI.
#
#   jenkins-token.sh [-r ROLE] [-t TTL] [-w] [-k] [--] [COMMAND [ARG...]]
#
# Reads jenkins/creds/ROLE once with the `vault` CLI (or `bao`), exports
#   JENKINS_USER, JENKINS_TOKEN       the Jenkins user and its API token
#   JENKINS_TOKEN_URL                 the Jenkins the token is valid on
#   JENKINS_TOKEN_LEASE_ID            the lease (empty for a shared credential)
#   JENKINS_TOKEN_EXPIRES_AT          when the token stops working
# runs COMMAND with them, and at exit (also on failure or Ctrl-C) revokes the lease.
# Without COMMAND it only checks the token with Jenkins' whoAmI (a smoke test).
#
# Needs VAULT_ADDR and VAULT_TOKEN (or BAO_ADDR and BAO_TOKEN):
#   broker mode   VAULT_ADDR is jenkins-broker; every run mints its own token
#   shared mode   VAULT_ADDR is Vault; every reader gets the rotating shared token,
#                 which is never revoked here
#   plugin mode   VAULT_ADDR is Vault with the secrets engine at jenkins/
#
#   -r ROLE   the role (default: $JENKINS_ROLE, else ci-bot)
#   -t TTL    ask for a lease this long, e.g. 10m (broker and plugin mode)
#   -w        check the token with whoAmI before running COMMAND (needs curl)
#   -k        keep the lease: do not revoke anything at exit
#
# Environment: VAULT_CLI (the CLI to run; default `vault`, else `bao`),
# JENKINS_MOUNT (default jenkins), JENKINS_TOKEN_REVOKE: what to revoke at exit,
#   lease   (default) the lease, with `write sys/leases/revoke`: the Vault token
#           needs `update` on sys/leases/revoke (examples/shell/jenkins-lease-revoke.hcl);
#           without it a warning says so and the token lives until its lease ends
#   token   this job's own Vault token (`token revoke -self`, allowed by Vault's
#           default policy): its Jenkins tokens go with it. Only for a token that
#           belongs to this job alone (a JWT or AppRole login), never a shared one
#   none    nothing (as -k)
#
# The token is never printed, traced or put on a command line (curl reads it on stdin).
set -eu
set +x

prog=jenkins-token.sh
die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 2; }
note() { printf '%s: %s\n' "$prog" "$*" >&2; }
usage() { sed -n '3p' "$0" | sed 's/^# *//' >&2; }

role=${JENKINS_ROLE:-ci-bot}
ttl=
check=false
revoke_mode=${JENKINS_TOKEN_REVOKE:-lease}
while getopts r:t:wkh opt; do
    case $opt in
        r) role=$OPTARG ;;
        t) ttl=$OPTARG ;;
        w) check=true ;;
        k) revoke_mode=none ;;
        h) usage; exit 0 ;;
        *) usage; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ "$#" -gt 0 ] || check=true

case $revoke_mode in
    lease | token | none) ;;
    *) die "JENKINS_TOKEN_REVOKE must be lease, token or none, not '$revoke_mode'" ;;
esac
case $role in
    '' | */* | *[!A-Za-z0-9_.-]*) die "'$role' is not a role name" ;;
esac

# -- Vault address, token and CLI -------------------------------------------------------

if [ -n "${VAULT_ADDR:-}" ] && [ -n "${BAO_ADDR:-}" ] && [ "$VAULT_ADDR" != "$BAO_ADDR" ]; then
    die "VAULT_ADDR and BAO_ADDR are both set and differ: unset one"
fi
addr=${VAULT_ADDR:-${BAO_ADDR:-}}
vtoken=${VAULT_TOKEN:-${BAO_TOKEN:-}}
[ -n "$addr" ] || die "VAULT_ADDR (or BAO_ADDR) is not set: the broker's URL in broker mode, Vault's in shared or plugin mode"
[ -n "$vtoken" ] || die "VAULT_TOKEN (or BAO_TOKEN) is not set: log in to Vault first (a JWT, AppRole or Kubernetes login)"

cli=${VAULT_CLI:-}
if [ -z "$cli" ]; then
    if command -v vault >/dev/null 2>&1; then
        cli=vault
    elif command -v bao >/dev/null 2>&1; then
        cli=bao
    else
        die "neither the vault nor the bao CLI is on PATH (or set VAULT_CLI to one)"
    fi
elif ! command -v "$cli" >/dev/null 2>&1; then
    die "VAULT_CLI=$cli is not an executable on PATH"
fi
if [ "$check" = true ] && ! command -v curl >/dev/null 2>&1; then
    die "curl is not on PATH: it checks the token with whoAmI (run a COMMAND without -w to skip that)"
fi

# The CLI gets the address and token in its environment only, under both names.
vcli() { VAULT_ADDR=$addr BAO_ADDR=$addr VAULT_TOKEN=$vtoken BAO_TOKEN=$vtoken "$cli" "$@"; }
# The reason in a CLI error (its "* ..." line), else its first line.
reason() { printf '%s\n' "$1" | awk '/^\* / { sub(/^\* /, ""); print; found = 1; exit }
                                      NR == 1 { first = $0 } END { if (!found) print first }'; }

# -- revocation at exit -------------------------------------------------------------------

lease_id=
revoke() {
    case $revoke_mode in
        token)
            if err=$(vcli token revoke -self 2>&1 >/dev/null); then
                note "revoked this job's Vault token; its Jenkins tokens go with it"
            else
                note "warning: could not revoke this job's Vault token: $(reason "$err")"
            fi ;;
        lease)
            [ -n "$lease_id" ] || return 0
            if err=$(vcli write sys/leases/revoke "lease_id=$lease_id" 2>&1 >/dev/null); then
                note "revoked lease $lease_id"
            else
                note "warning: could not revoke lease $lease_id (the Vault token needs update on sys/leases/revoke); the Jenkins token ends with its lease at ${JENKINS_TOKEN_EXPIRES_AT:-its expiry}: $(reason "$err")"
            fi ;;
    esac
}
on_exit() { rc=$?; trap - EXIT; revoke; exit "$rc"; }
trap on_exit EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# -- one read ---------------------------------------------------------------------------

# One read only: in broker and plugin mode every read mints a token.
path="${JENKINS_MOUNT:-jenkins}/creds/$role"
if [ -n "$ttl" ]; then
    answer=$(vcli read -format=table "$path" "ttl=$ttl") || die "could not read $path from $addr (the CLI's error is above)"
else
    answer=$(vcli read -format=table "$path") || die "could not read $path from $addr (the CLI's error is above)"
fi

# A row of the table: `key   value` (awk reads the answer on stdin, never argv).
row() { printf '%s\n' "$answer" | awk -v key="$1" '$1 == key { print $2; exit }'; }

if [ -n "$(row lease_duration)" ]; then
    lease_id=$(row lease_id)       # a lease of its own: broker or plugin mode
    kind="lease $lease_id"
elif [ -n "$(row refresh_interval)" ]; then
    kind="the shared credential (rotated by the broker, not revoked here)"
else
    kind="no lease"
fi
JENKINS_USER=$(row username)
JENKINS_TOKEN=$(row token)
JENKINS_TOKEN_URL=$(row jenkins_url)
JENKINS_TOKEN_EXPIRES_AT=$(row expires_at)
JENKINS_TOKEN_LEASE_ID=$lease_id
answer=
[ -n "$JENKINS_TOKEN" ] && [ -n "$JENKINS_USER" ] \
    || die "$path has no token or username field: is $role a jenkins-broker role?"
export JENKINS_USER JENKINS_TOKEN JENKINS_TOKEN_URL JENKINS_TOKEN_LEASE_ID JENKINS_TOKEN_EXPIRES_AT
note "Jenkins user $JENKINS_USER on ${JENKINS_TOKEN_URL:-?}, until ${JENKINS_TOKEN_EXPIRES_AT:-?}; $kind"

# -- whoAmI -------------------------------------------------------------------------------

if [ "$check" = true ]; then
    [ -n "$JENKINS_TOKEN_URL" ] || die "$path has no jenkins_url field to check the token against"
    whoami=${JENKINS_TOKEN_URL%/}/whoAmI/api/json
    body=$(printf 'user = "%s:%s"\n' "$JENKINS_USER" "$JENKINS_TOKEN" \
           | curl --fail --silent --show-error --max-time 30 --config - "$whoami") \
        || die "Jenkins refused the token at $whoami"
    case $body in
        *"\"name\":\"$JENKINS_USER\""*) note "whoAmI: $JENKINS_USER, authenticated" ;;
        *) die "whoAmI at $whoami does not answer as $JENKINS_USER" ;;
    esac
fi

[ "$#" -eq 0 ] || "$@"
