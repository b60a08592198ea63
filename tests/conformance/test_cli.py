"""The unmodified ``bao`` CLI against both modes: what a person or a CI script types.

Each test runs once per mode (``vault_front``) and expects the same outcome in both; the
differences by design come from ``conftest.DIFFERENCES``. A token value is never put in an
assertion message (``redact``).
"""

from __future__ import annotations

import json
import re

import pytest
import requests

from tests.conformance.conftest import VAULT_LEASE_LOOKUP_KEYS, by_design
from tests.support import wait_for
from tests.support.fronts import redact

pytestmark = pytest.mark.integration

JENKINS_TOKEN = re.compile(r"\b11[0-9a-f]{32}\b")


def read(vault_front, token, role="ci-bot", *args):
    return vault_front.cli_json("read", *args, f"jenkins/creds/{role}", token=token)


def revoked(vault_front, token):
    wait_for(lambda: vault_front.whoami(token) == 401, timeout=10, interval=0.1,
             what=f"[{vault_front.mode}] the Jenkins token of a revoked lease to answer 401")


def test_read_json_mints_a_working_token_under_a_lease(vault_front, client_token):
    before = vault_front.token_uuids()
    secret = read(vault_front, client_token)
    assert secret["lease_id"].startswith("jenkins/creds/ci-bot/")
    assert secret["renewable"] is True and secret["lease_duration"] == 3600
    assert secret["data"]["username"] == "ci-bot"
    assert vault_front.whoami(secret["data"]["token"]) == 200
    assert len(vault_front.token_uuids() - before) == 1


def test_read_field_token_prints_only_the_token(vault_front, client_token):
    out = vault_front.cli("read", "-field=token", "jenkins/creds/ci-bot", token=client_token)
    value = out.stdout.strip()
    only_the_token = JENKINS_TOKEN.fullmatch(value) is not None
    assert only_the_token, redact(out.stdout)
    status = vault_front.whoami(value)
    assert status == 200


def _unwrap(vault_front, wrapping_token, addr=None, check=True):
    # `bao unwrap` with the wrapping token as the client token, as a CI job does.
    return vault_front.cli("unwrap", "-format=json", token=wrapping_token, addr=addr, check=check)


def _lease_id_of_unwrapped(vault_front, unwrapped):
    where = by_design(vault_front, "unwrapped_lease_id_in")
    return unwrapped["lease_id"] if where == "top" else unwrapped["data"]["lease_id"]


@pytest.mark.parametrize("unwrap_at", ["front", "openbao"])
def test_wrapped_read_returns_only_wrap_info_and_unwraps_once(vault_front, client_token, unwrap_at):
    before = vault_front.token_uuids()
    out = vault_front.cli("read", "-format=json", "-wrap-ttl=60s", "jenkins/creds/ci-bot", token=client_token)
    printed = JENKINS_TOKEN.search(out.stdout) is not None
    assert not printed, f"a wrapped read printed a Jenkins token: {redact(out.stdout)}"
    wrapped = json.loads(out.stdout)
    assert wrapped["data"] is None and wrapped["lease_id"] == "", redact(out.stdout)
    info = wrapped["wrap_info"]
    assert info["ttl"] == 60 and info["creation_path"] == by_design(vault_front, "wrap_creation_path")
    assert len(vault_front.token_uuids() - before) == 1  # minted once, now, not at unwrap

    addr = vault_front.addr if unwrap_at == "front" else vault_front.bao.addr
    unwrapped = json.loads(_unwrap(vault_front, info["token"], addr=addr).stdout)
    assert unwrapped["data"]["username"] == "ci-bot"
    assert vault_front.whoami(unwrapped["data"]["token"]) == 200
    lease_id = _lease_id_of_unwrapped(vault_front, unwrapped)
    assert lease_id.startswith("jenkins/creds/ci-bot/")
    looked = vault_front.cli_json("lease lookup", lease_id, token=client_token)
    assert looked["data"]["id"] == lease_id

    for again_at in (vault_front.addr, vault_front.bao.addr):
        again = _unwrap(vault_front, info["token"], addr=again_at, check=False)
        assert again.returncode != 0, f"a second unwrap at {again_at} succeeded"
        assert "wrapping token is not valid or does not exist" in again.stderr, redact(again.stderr)
    assert len(vault_front.token_uuids() - before) == 1
    vault_front.cli("lease", "revoke", lease_id, token=client_token)


def test_lease_lookup_renew_and_revoke(vault_front, client_token):
    secret = read(vault_front, client_token)
    lease_id, token = secret["lease_id"], secret["data"]["token"]

    looked = vault_front.cli_json("lease lookup", lease_id, token=client_token)
    assert looked["lease_id"] == "" and looked["renewable"] is False  # the lookup itself has no lease
    data = looked["data"]
    missing, extra = VAULT_LEASE_LOOKUP_KEYS - set(data), set(data) - VAULT_LEASE_LOOKUP_KEYS
    assert not missing, f"the lease lookup lacks Vault's {sorted(missing)}"
    assert extra == by_design(vault_front, "lease_lookup_extra_keys"), f"fields beyond Vault's: {sorted(extra)}"
    assert data["id"] == lease_id and data["renewable"] is True and data["last_renewal"] is None
    assert data["path"] == "jenkins/creds/ci-bot" and 3590 <= data["ttl"] <= 3600

    renewed = vault_front.cli_json("lease renew", "-increment=120", lease_id, token=client_token)
    assert renewed["lease_id"] == lease_id and renewed["renewable"] is True
    assert renewed["lease_duration"] == 120 and not renewed["data"]
    after = vault_front.cli_json("lease lookup", lease_id, token=client_token)["data"]
    assert after["last_renewal"] is not None and 110 <= after["ttl"] <= 120

    out = vault_front.cli("lease", "revoke", lease_id, token=client_token)
    assert "successfully" in out.stdout
    revoked(vault_front, token)


def test_lease_list_from_the_root_down_to_the_lease(vault_front, client_token):
    """An operator browsing the leases with `bao list`, from the root to one lease id."""
    lease_id = read(vault_front, client_token)["lease_id"]
    try:
        root = vault_front.root
        assert "jenkins/" in vault_front.cli_json("list", "sys/leases/lookup/", token=root)
        assert vault_front.cli_json("list", "sys/leases/lookup/jenkins/", token=root) == ["creds/"]
        assert "ci-bot/" in vault_front.cli_json("list", "sys/leases/lookup/jenkins/creds/", token=root)
        ids = vault_front.cli_json("list", "sys/leases/lookup/jenkins/creds/ci-bot/", token=root)
        assert lease_id.rsplit("/", 1)[1] in ids
    finally:
        vault_front.cli("lease", "revoke", lease_id, token=client_token)


def test_lease_revoke_prefix_revokes_every_lease_of_the_role(vault_front, client_token):
    tokens = [read(vault_front, client_token, "prefix-bot")["data"]["token"] for _ in range(2)]
    assert all(vault_front.whoami(t) == 200 for t in tokens)
    vault_front.cli("lease", "revoke", "-prefix", "jenkins/creds/prefix-bot", token=client_token)
    for token in tokens:
        revoked(vault_front, token)


def test_status_is_openbaos(vault_front):
    through = vault_front.cli("status", "-format=json")
    assert through.returncode == 0, redact(through.stderr)
    direct = json.loads(vault_front.cli("status", "-format=json", addr=vault_front.bao.addr).stdout)
    shown = json.loads(through.stdout)
    for key in ("initialized", "sealed", "version", "type", "cluster_id"):
        assert shown.get(key) == direct.get(key), key


def test_login_with_a_token_without_storing_it(vault_front, client_token):
    out = vault_front.cli("login", "-no-store", "-format=json", client_token)
    auth = json.loads(out.stdout)["auth"]
    assert "conformance-client" in auth["policies"]
    assert not any(vault_front.home.iterdir()), "login -no-store wrote a token helper file"


def test_token_lookup_is_openbaos(vault_front, client_token):
    shown = vault_front.cli_json("token lookup", token=client_token)["data"]
    direct = vault_front.cli_json("token lookup", token=client_token, addr=vault_front.bao.addr)["data"]
    assert shown["accessor"] == direct["accessor"] and "conformance-client" in shown["policies"]


def test_token_capabilities(vault_front, client_token):
    out = vault_front.cli("token", "capabilities", "jenkins/creds/ci-bot", token=client_token)
    assert out.stdout.split() == ["read"]
    root = vault_front.cli("token", "capabilities", "jenkins/creds/ci-bot", token=vault_front.root)
    assert root.stdout.split() == ["root"]


def test_path_help_prints_help_and_mints_nothing(vault_front, client_token):
    before = vault_front.token_uuids()
    out = vault_front.cli("path-help", "jenkins/creds/ci-bot", token=client_token)
    minted = vault_front.token_uuids() - before
    assert not minted, f"path-help minted {len(minted)} Jenkins token(s)"
    assert out.stdout.strip() and "token" in out.stdout.lower(), redact(out.stdout)


def test_read_without_a_token_is_refused_as_vault_refuses_it(vault_front):
    before = vault_front.token_uuids()
    out = vault_front.cli("read", "jenkins/creds/ci-bot", token="", check=False)
    assert out.returncode == 2
    assert "Code: 403" in out.stderr and "permission denied" in out.stderr, redact(out.stderr)
    assert not vault_front.token_uuids() - before  # nothing minted (others' may have expired)


def test_head_mints_nothing(vault_front, client_token):
    before = vault_front.token_uuids()
    answer = requests.head(f"{vault_front.addr}/v1/jenkins/creds/ci-bot",
                           headers={"X-Vault-Token": client_token}, timeout=10)
    assert answer.status_code >= 400 and not answer.content
    assert not vault_front.token_uuids() - before  # nothing minted (others' may have expired)
