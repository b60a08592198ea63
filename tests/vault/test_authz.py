"""Caller authorization through sys/capabilities-self and lookup-self, on a real OpenBao."""

import logging
import time

import pytest

from jenkins_broker.errors import CallerTokenGone, VaultForbidden, VaultInvalidRequest, VaultUnavailable
from jenkins_broker.vault import CallerAuthz, VaultSettings

pytestmark = pytest.mark.integration

CONSUMER = 'path "jenkins/creds/ci-bot" { capabilities = ["read"] }'


@pytest.fixture
def authz(bao_server):
    with CallerAuthz(VaultSettings(addr=bao_server.addr, token="unused")) as authz:
        yield authz


@pytest.fixture
def ci_token(vault_sandbox):
    policy = vault_sandbox.policy("ci-bot-consumer", CONSUMER)
    return policy, vault_sandbox.token([policy], ttl="10m", display_name="ci")


def test_policy_grants_read_on_one_role_only(authz, ci_token, vault_sandbox):
    _, auth = ci_token
    token = auth["client_token"]
    assert authz.capabilities(token, "jenkins/creds/ci-bot") == {"read"}
    assert authz.capabilities(token, "jenkins/creds/deployer") == {"deny"}
    assert authz.capabilities(token, "jenkins/creds/ci-bot/extra") == {"deny"}
    assert authz.can(token, "jenkins/creds/ci-bot")
    assert not authz.can(token, "jenkins/creds/deployer")
    assert not authz.can(token, "jenkins/creds/ci-bot", "update")

    other = vault_sandbox.token(["default"], ttl="10m")["client_token"]
    assert authz.capabilities(other, "jenkins/creds/ci-bot") == {"deny"}
    assert not authz.can(other, "jenkins/creds/ci-bot")
    assert authz.capabilities(vault_sandbox.root_token, "jenkins/creds/ci-bot") == {"root"}
    assert authz.can(vault_sandbox.root_token, "jenkins/creds/ci-bot")


def test_lookup_self_fields(authz, ci_token):
    policy, auth = ci_token
    who = authz.lookup_self(auth["client_token"])
    assert set(who) == {"accessor", "entity_id", "display_name", "policies", "ttl", "num_uses",
                        "expires_at"}
    assert who["num_uses"] == 0 and who["expires_at"] is not None
    assert who["accessor"] == auth["accessor"]
    assert who["display_name"] == "token-ci"
    assert policy in who["policies"] and "default" in who["policies"]
    assert 0 < who["ttl"] <= 600
    assert auth["client_token"] not in repr(who)


def test_bad_or_revoked_token_is_forbidden_without_echoing_it(authz, vault_sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    bogus = "s.ThisIsNotAValidTokenAtAll12"
    for call in (lambda t: authz.capabilities(t, "jenkins/creds/ci-bot"), authz.lookup_self):
        with pytest.raises(VaultForbidden, match="invalid, expired or revoked") as err:
            call(bogus)
        assert bogus not in str(err.value)
    auth = vault_sandbox.token(["default"], ttl="10m")
    vault_sandbox.client.auth.token.revoke(auth["client_token"])
    with pytest.raises(VaultForbidden) as err:
        authz.capabilities(auth["client_token"], "jenkins/creds/ci-bot")
    assert err.value.status == 403
    assert bogus not in caplog.text and auth["client_token"] not in caplog.text


@pytest.mark.parametrize("token", ["", None, "a b", "tok\nX-Evil: 1", "é" * 10, "x" * 5000])
def test_missing_or_malformed_token_is_refused_locally(authz, token):
    with pytest.raises(VaultForbidden):
        authz.capabilities(token, "jenkins/creds/ci-bot")


def test_bad_path_is_refused(authz, ci_token):
    with pytest.raises(VaultInvalidRequest):
        authz.capabilities(ci_token[1]["client_token"], "jenkins/creds/../../sys/seal")


def test_vault_down_is_unavailable(bao_factory):
    bao = bao_factory()
    authz = CallerAuthz(VaultSettings(addr=bao.addr, token="unused"))
    bao.stop()
    with pytest.raises(VaultUnavailable):
        authz.capabilities("s.whatever-token-value-123", "jenkins/creds/ci-bot")


# -- by accessor, with the broker's own token (leases follow their caller's token) ------

@pytest.fixture
def broker_authz(bao_server, vault_sandbox):
    with CallerAuthz(VaultSettings(addr=bao_server.addr, token="unused"),
                     broker_token=lambda: vault_sandbox.root_token) as authz:
        yield authz


def test_token_expiry_by_accessor_and_gone_once_revoked(broker_authz, ci_token, vault_sandbox):
    _, auth = ci_token
    expires = broker_authz.token_expiry(auth["accessor"])
    assert expires is not None and 0 < expires - time.time() <= 600
    vault_sandbox.client.auth.token.revoke(auth["client_token"])
    with pytest.raises(CallerTokenGone):
        broker_authz.token_expiry(auth["accessor"])
    assert broker_authz.token_expiry(vault_sandbox.client.auth.token.lookup_self()["data"]["accessor"]) is None


def test_authorize_spends_one_use_of_a_use_limited_token(broker_authz, ci_token, vault_sandbox):
    policy, _ = ci_token
    token = vault_sandbox.client.auth.token.create(policies=[policy], ttl="10m", num_uses=3)["auth"]
    caps, who = broker_authz.authorize(token["client_token"], "jenkins/creds/ci-bot")
    assert caps == {"read"} and who["accessor"] == token["accessor"]
    left = vault_sandbox.client.auth.token.lookup_accessor(token["accessor"])["data"]["num_uses"]
    assert left == 2
    caps, _ = broker_authz.authorize(token["client_token"], "jenkins/creds/ci-bot")
    assert caps == {"read"}
    assert vault_sandbox.client.auth.token.lookup_accessor(token["accessor"])["data"]["num_uses"] == 1
    # The last use would end the token and any lease with it: refused, and why.
    with pytest.raises(VaultForbidden, match="one use left"):
        broker_authz.authorize(token["client_token"], "jenkins/creds/ci-bot")
