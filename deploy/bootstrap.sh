#!/usr/bin/env bash
# The docker-compose stack's one-shot setup, run by the `bootstrap` service
# (docker-compose.yml) on every `docker compose up`. Every step is idempotent.
#
# Needs: VAULT_ADDR and VAULT_TOKEN (an administrator's token: the dev root
# token here), JENKINS_ADMIN_PASSWORD (the Jenkins admin's password, stored in
# Vault as the credential the admin-rest strategy mints with).
#
# Writes, in the volume shared with the broker (owner-only files):
#   broker.env  the broker's AppRole login (sourced by the broker service)
#   ci.env      CI_VAULT_TOKEN, a token holding only jenkins-consumer-ci-bot, and
#               the host-side addresses (VAULT_ADDR, JENKINS_URL, JENKINS_BROKER_ADDR)
set -euo pipefail
umask 077

run_dir=/run/jenkins-broker
jenkins_url=http://jenkins:8080/

: "${VAULT_ADDR:?VAULT_ADDR must be set}"
: "${VAULT_TOKEN:?VAULT_TOKEN must be an administrator token}"
: "${JENKINS_ADMIN_PASSWORD:?JENKINS_ADMIN_PASSWORD must be set}"

step() { printf '\n== %s\n' "$*"; }

step "Vault: mounts, policies and the broker's AppRole"
jenkins-broker bootstrap --env-file "$run_dir/broker.env"

step "Jenkins connection: $jenkins_url"
jenkins-broker config write --url "$jenkins_url"

step "credential admin (the Jenkins administrator, for the admin-rest strategy)"
jenkins-broker credentials write admin --username admin --password-env JENKINS_ADMIN_PASSWORD

step "role ci-bot (Jenkins user ci-bot, shared mode)"
jenkins-broker roles write ci-bot jenkins_user=ci-bot strategy=admin-rest credential=admin \
    ttl=15m max_ttl=1h shared=true

step "CI token (policy jenkins-consumer-ci-bot only) in $run_dir/ci.env"
# Kept while it is still valid for a day; otherwise (first run, a new dev
# Vault, close to expiry) a new one is issued. Its value is never printed.
python - "$run_dir/ci.env" <<'PY'
import sys
from pathlib import Path

from jenkins_broker.commands.bootstrap import write_env_file
from jenkins_broker.errors import BrokerError
from jenkins_broker.vault.bootstrap import create_token
from jenkins_broker.vault.login import admin_client, connect
from jenkins_broker.vault.settings import VaultSettings

POLICY = "jenkins-consumer-ci-bot"
KEEP_IF_TTL_OVER = 24 * 3600
path = Path(sys.argv[1])
settings = VaultSettings.from_env()


def existing_token():
    """The token in ci.env if this Vault still knows it, as a consumer token with time left."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None
    values = dict(line.removeprefix("export ").split("=", 1) for line in lines if "=" in line)
    token = values.get("CI_VAULT_TOKEN", "").strip("'")
    if not token:
        return None
    try:
        data = admin_client(settings, token).auth.token.lookup_self()["data"]
    except Exception:  # unknown token (a fresh dev Vault), or Vault said no: issue a new one
        return None
    policies = set(data.get("policies") or ()) - {"default"}
    if policies != {POLICY} or int(data.get("ttl") or 0) < KEEP_IF_TTL_OVER:
        return None
    return token


token = existing_token()
if token:
    print(f"unchanged  CI token in {path} (policy {POLICY})")
else:
    try:
        logged_in, _ = connect(settings)
        logged_in.close()
        issued = create_token(admin_client(settings, logged_in.token), [POLICY], ttl="168h",
                              display_name="compose-ci")
    except BrokerError as exc:
        sys.exit(f"Error: {exc}")
    token = issued.token
    print(f"created    CI token in {path} (policy {POLICY}, accessor {issued.accessor})")
# Addresses as seen from the host (the ports docker-compose.yml publishes).
write_env_file(str(path), {"VAULT_ADDR": "http://127.0.0.1:8200",
                           "JENKINS_URL": "http://127.0.0.1:8080/",
                           "JENKINS_BROKER_ADDR": "http://127.0.0.1:8400",
                           "CI_VAULT_TOKEN": token})
PY

step "check"
jenkins-broker check
