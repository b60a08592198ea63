"""TokenRenewer against a real OpenBao, with TTLs of a few seconds."""

import logging
import threading
import time

import pytest

from jenkins_broker.errors import VaultForbidden
from jenkins_broker.vault import TokenRenewer, VaultSettings, connect

pytestmark = pytest.mark.integration


def _until(predicate, timeout: float = 8.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _renewer_threads():
    return [t for t in threading.enumerate() if t.name == "vault-token-renewer"]


def test_short_ttl_token_is_renewed_and_renewer_stops(bao_server, vault_sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    auth = vault_sandbox.token(["default"], ttl="2s", explicit_max_ttl="1m")
    settings = VaultSettings(addr=bao_server.addr, token=auth["client_token"])
    client, result = connect(settings)
    renewer = TokenRenewer(client, settings, login_result=result).start()
    try:
        # Without renewal the token would be dead after 2 s.
        assert _until(lambda: renewer.renewals >= 3)
        assert client.request("GET", "auth/token/lookup-self", action="look up")["data"]["ttl"] > 0
    finally:
        renewer.stop()
    assert not renewer.running and not _renewer_threads()
    assert renewer.last_error is None
    assert auth["client_token"] not in caplog.text


def test_approle_logs_in_again_near_max_ttl(bao_server, vault_sandbox):
    c = vault_sandbox.client
    c.sys.enable_auth_method("approle", path=vault_sandbox.approle)
    c.auth.approle.create_or_update_approle("broker", mount_point=vault_sandbox.approle,
                                            token_policies=["default"], token_ttl="2s",
                                            token_max_ttl="4s")
    role_id = c.auth.approle.read_role_id("broker",
                                          mount_point=vault_sandbox.approle)["data"]["role_id"]
    secret_id = c.auth.approle.generate_secret_id(
        "broker", mount_point=vault_sandbox.approle)["data"]["secret_id"]
    settings = VaultSettings(addr=bao_server.addr, auth_method="approle", role_id=role_id,
                             secret_id=secret_id, approle_mount=vault_sandbox.approle)
    client, result = connect(settings)
    born = time.monotonic()
    first = client.token
    with TokenRenewer(client, settings, login_result=result) as renewer:
        # The first renewal is capped below token_ttl (max TTL near): log in again.
        assert _until(lambda: renewer.logins >= 1)
        assert client.token != first
        # Past the first token's max TTL the client still works, with its new token.
        time.sleep(max(0.0, 4.2 - (time.monotonic() - born)))
        assert client.request("GET", "auth/token/lookup-self", action="look up")["data"]["ttl"] > 0
    assert not renewer.running


def test_root_token_is_left_alone(vault_settings):
    client, result = connect(vault_settings)
    renewer = TokenRenewer(client, vault_settings).start()
    assert _until(lambda: not renewer.running, timeout=3)
    assert renewer.renewals == 0 and renewer.logins == 0 and renewer.last_error is None
    renewer.stop()


def test_revoked_token_with_token_auth_ends_with_a_clear_error(bao_server, vault_sandbox,
                                                               caplog):
    auth = vault_sandbox.token(["default"], ttl="2s")
    settings = VaultSettings(addr=bao_server.addr, token=auth["client_token"])
    client, result = connect(settings)
    vault_sandbox.client.auth.token.revoke(auth["client_token"])
    renewer = TokenRenewer(client, settings, login_result=result).start()
    try:
        assert _until(lambda: not renewer.running, timeout=5)
    finally:
        renewer.stop()
    assert isinstance(renewer.last_error, VaultForbidden)
    assert "VAULT_TOKEN" in caplog.text
    assert auth["client_token"] not in caplog.text
    assert auth["client_token"] not in str(renewer.last_error)


def test_stop_is_prompt_while_waiting(vault_sandbox, bao_server):
    auth = vault_sandbox.token(["default"], ttl="1h")
    settings = VaultSettings(addr=bao_server.addr, token=auth["client_token"])
    client, result = connect(settings)
    renewer = TokenRenewer(client, settings, login_result=result).start()
    started = time.monotonic()
    renewer.stop()
    assert time.monotonic() - started < 1 and not renewer.running
    twice = TokenRenewer(client, settings).start()
    try:
        with pytest.raises(RuntimeError):
            twice.start()
    finally:
        twice.stop()
