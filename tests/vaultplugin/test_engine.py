"""The engine's paths against the fake Jenkins, without gRPC: config, roles, creds,
revoke, renew, rotate-root, help and routing."""

from __future__ import annotations

import time

import pytest
import requests

from jenkins_broker.vaultplugin.logical import (
    BadRequest,
    NotFound,
    UnsupportedOperation,
    UnsupportedPath,
    UpstreamError,
)
from jenkins_broker.vaultplugin.secret_token import TokenLease


def works(fake, user, token) -> bool:
    return requests.get(fake.url + "whoAmI/api/json", auth=(user, token), timeout=10).status_code == 200


# -- config ---------------------------------------------------------------------------------

def test_config_read_never_shows_the_secret(configured, bot_token):
    data = configured.call("read", "config").data
    assert data["url"].startswith("http://127.0.0.1:")
    assert data["username"] == "ci-bot" and data["credential_kind"] == "token"
    assert data["credential_managed"] is False
    assert bot_token not in repr(data) and "token" not in data and "password" not in data


def test_config_write_checks_the_credential(engine, fake_jenkins):
    with pytest.raises(BadRequest, match="connection check failed"):
        engine.call("update", "config", {"url": fake_jenkins.url, "username": "ci-bot", "password": "wrong"})
    assert engine.call("read", "config") is None
    engine.call("update", "config", {"url": fake_jenkins.url, "username": "ci-bot", "password": "wrong",
                                     "verify_connection": "false"})
    assert engine.call("read", "config").data["credential_kind"] == "password"


def test_config_write_validates_fields(engine, fake_jenkins):
    with pytest.raises(BadRequest, match="url"):
        engine.call("update", "config", {"url": "ftp://x", "username": "a", "token": "b"})
    with pytest.raises(BadRequest, match="exactly one"):
        engine.call("update", "config", {"url": fake_jenkins.url, "username": "a", "token": "b", "password": "c"})
    with pytest.raises(BadRequest, match="required on the first write"):
        engine.call("update", "config", {"url": fake_jenkins.url})
    with pytest.raises(BadRequest, match="bogus: unknown field"):
        engine.call("update", "config", {"bogus": 1})


def test_config_update_keeps_what_was_not_sent(configured):
    configured.call("update", "config", {"timeout": "20"})
    data = configured.call("read", "config").data
    assert data["timeout"] == 20.0 and data["username"] == "ci-bot"


def test_existence_check(configured):
    from jenkins_broker.vaultplugin.logical import Request

    def check(path):
        return configured.backend.existence_check(Request("update", path, configured.storage))

    assert check("config") == (True, True)
    assert check("roles/ci-bot") == (True, True)
    assert check("roles/nope") == (True, False)
    assert check("creds/ci-bot") == (False, False)
    assert check("nowhere") == (False, False)


# -- roles ------------------------------------------------------------------------------------

def test_roles_crud_and_list(configured):
    role = configured.call("read", "roles/ci-bot").data
    assert role["ttl"] == "10m" and role["max_ttl"] == "1h" and role["credential"] == "root"
    assert role["token_name_prefix"] == "vault-jenkins-"
    assert "shared" not in role and "rotation_period" not in role
    configured.call("update", "roles/ci-bot", {"ttl": "5m"})
    assert configured.call("read", "roles/ci-bot").data["ttl"] == "5m"
    configured.call("create", "roles/admin-made", {"jenkins_user": "other", "strategy": "admin-script"})
    assert configured.call("list", "roles/").data["keys"] == ["admin-made", "ci-bot"]
    configured.call("delete", "roles/admin-made")
    assert configured.call("read", "roles/admin-made") is None


@pytest.mark.parametrize("data, field", [
    ({"strategy": "user-token"}, "jenkins_user"),
    ({"jenkins_user": "x", "strategy": "nope"}, "strategy"),
    ({"jenkins_user": "x", "strategy": "user-token", "ttl": "2h", "max_ttl": "1h"}, "max_ttl"),
    ({"jenkins_user": "x", "strategy": "user-token", "shared": "true"}, "shared"),
    ({"jenkins_user": "x", "strategy": "user-token", "credential": "other"}, "credential"),
    ({"jenkins_user": "x", "strategy": "user-token", "max_live_tokens": 3}, "max_live_tokens"),
])
def test_role_writes_are_validated(engine, data, field):
    with pytest.raises(BadRequest, match=field):
        engine.call("create", "roles/r", data)


def test_bad_role_name_is_not_a_path(engine):
    with pytest.raises(UnsupportedPath):
        engine.call("create", "roles/../x", {"jenkins_user": "x", "strategy": "user-token"})


# -- creds, revoke, renew ---------------------------------------------------------------------

def test_read_mints_a_working_token_under_a_lease(configured, fake_jenkins):
    response = configured.call("read", "creds/ci-bot")
    data = response.data
    assert set(data) == {"username", "token", "token_name", "jenkins_url", "expires_at"}
    assert data["username"] == "ci-bot" and works(fake_jenkins, "ci-bot", data["token"])
    assert data["token_name"].startswith("vault-jenkins-ci-bot-")
    lease = response.secret.lease
    assert lease.ttl == 600 and lease.max_ttl == 3600 and lease.renewable and lease.issue_time
    internal = TokenLease.from_internal(response.secret.internal_data)
    assert internal.jenkins_user == "ci-bot" and internal.strategy == "user-token"
    assert internal.credential_username == "ci-bot" and internal.credential_kind == "token"
    assert data["token"] not in repr(response.secret.internal_data)
    # the deadline in the name is when max_ttl ends
    deadline = int(data["token_name"].rsplit("-", 2)[1])
    assert abs(deadline - (internal.issued_at + 3600)) < 2


def test_read_with_ttl_is_capped_by_max_ttl(configured):
    assert configured.call("update", "creds/ci-bot", {"ttl": "2m"}).secret.lease.ttl == 120
    assert configured.call("update", "creds/ci-bot", {"ttl": "5h"}).secret.lease.ttl == 3600
    with pytest.raises(BadRequest, match="ttl"):
        configured.call("update", "creds/ci-bot", {"ttl": "soon"})


def test_unknown_role_is_404(configured):
    with pytest.raises(NotFound, match="unknown role 'nope'"):
        configured.call("read", "creds/nope")


def test_revoke_revokes_in_jenkins_and_is_idempotent(configured, fake_jenkins):
    response = configured.call("read", "creds/ci-bot")
    token = response.data["token"]
    assert configured.revoke(response) is None
    assert not works(fake_jenkins, "ci-bot", token)
    assert configured.revoke(response) is None  # again: still fine


def test_revoke_still_works_after_the_role_is_deleted(configured, fake_jenkins):
    response = configured.call("read", "creds/ci-bot")
    configured.call("delete", "roles/ci-bot")
    configured.revoke(response)
    assert not works(fake_jenkins, "ci-bot", response.data["token"])


def test_revoke_fails_while_jenkins_is_down_then_succeeds(configured, fake_jenkins):
    response = configured.call("read", "creds/ci-bot")
    fake_jenkins.set_fault("refuse")
    try:
        with pytest.raises(UpstreamError, match="revoking token"):
            configured.revoke(response)
    finally:
        fake_jenkins.set_fault(None)
    configured.revoke(response)
    assert not works(fake_jenkins, "ci-bot", response.data["token"])


def test_renew_extends_within_max_ttl(configured):
    response = configured.call("read", "creds/ci-bot")
    renewed = configured.renew(response, increment=1200)
    assert renewed.secret.lease.ttl == 1200 and renewed.secret.lease.max_ttl == 3600
    assert renewed.data == {}  # the token value is not kept in the lease after a renewal
    late = configured.renew(response, increment=1200, issue_time=time.time() - 3500)
    assert 95 <= late.secret.lease.ttl <= 100
    with pytest.raises(BadRequest, match="max_ttl"):
        configured.renew(response, issue_time=time.time() - 3601)


def test_internal_data_round_trip(configured):
    response = configured.call("read", "creds/ci-bot")
    internal = response.secret.internal_data
    assert TokenLease.from_internal(internal).to_internal() == internal
    with pytest.raises(BadRequest, match="not a jenkins_token"):
        TokenLease.from_internal({"secret_type": "other"})
    with pytest.raises(BadRequest, match="lacks"):
        TokenLease.from_internal({"secret_type": "jenkins_token", "role": "x"})


def test_admin_script_role_mints_for_another_user(engine, fake_jenkins):
    engine.call("update", "config", {"url": fake_jenkins.url, "username": "admin", "password": "adminpw"})
    engine.call("create", "roles/other", {"jenkins_user": "other", "strategy": "admin-script"})
    response = engine.call("read", "creds/other")
    assert response.data["username"] == "other" and works(fake_jenkins, "other", response.data["token"])
    engine.revoke(response)
    assert not works(fake_jenkins, "other", response.data["token"])


def test_mint_without_config_is_a_clear_400(engine):
    engine.call("create", "roles/ci-bot", {"jenkins_user": "ci-bot", "strategy": "user-token"})
    with pytest.raises(BadRequest, match="not configured"):
        engine.call("read", "creds/ci-bot")


def test_jenkins_down_on_mint_is_502(configured, fake_jenkins):
    fake_jenkins.set_fault("refuse")
    try:
        with pytest.raises(UpstreamError, match="minting a token for role 'ci-bot' failed"):
            configured.call("read", "creds/ci-bot")
    finally:
        fake_jenkins.set_fault(None)


# -- rotate-root ------------------------------------------------------------------------------

def test_rotate_root_twice_revokes_the_engine_made_token(configured, fake_jenkins, bot_token):
    first = configured.call("update", "rotate-root")
    assert any("written by hand" in w for w in first.warnings)
    assert configured.call("read", "config").data["credential_managed"] is True
    assert works(fake_jenkins, "ci-bot", bot_token)  # unknown uuid: left alone, with a warning
    first_uuid = first.data["token_uuid"]
    assert "token" not in first.data
    second = configured.call("update", "rotate-root")
    assert second.warnings == []
    uuids = {t["uuid"] for t in fake_jenkins.tokens("ci-bot")}
    assert first_uuid not in uuids and second.data["token_uuid"] in uuids
    # minting still works with the new credential
    assert works(fake_jenkins, "ci-bot", configured.call("read", "creds/ci-bot").data["token"])


def test_rotate_root_of_a_password(engine, fake_jenkins):
    engine.call("update", "config", {"url": fake_jenkins.url, "username": "admin", "password": "adminpw"})
    engine.call("create", "roles/pw", {"jenkins_user": "admin", "strategy": "user-password"})
    with pytest.raises(BadRequest, match="pw use the user-password strategy"):
        engine.call("update", "rotate-root")
    engine.call("delete", "roles/pw")
    response = engine.call("update", "rotate-root")
    assert any("password" in w for w in response.warnings)
    assert engine.call("read", "config").data["credential_kind"] == "token"
    engine.call("create", "roles/other", {"jenkins_user": "other", "strategy": "admin-script"})
    assert works(fake_jenkins, "other", engine.call("read", "creds/other").data["token"])


# -- routing and help ---------------------------------------------------------------------------

def test_routing_errors(engine):
    with pytest.raises(UnsupportedPath):
        engine.call("read", "nowhere")
    with pytest.raises(UnsupportedOperation):
        engine.call("delete", "creds/x")


def test_rollback_without_config_does_nothing(engine):
    # "rollback" runs the periodic reconciliation (test_periodic.py); unconfigured, it has no Jenkins
    assert engine.call("rollback", "") is None
    assert engine.storage.list("minted/") == []


def test_help_for_each_path(engine):
    assert "jenkins/creds/<role>" in engine.call("help", "").data["help"]
    for path, word in (("config", "verify_connection"), ("roles/x", "strategy"), ("creds/x", "ttl"),
                       ("rotate-root", "only the engine knows"), ("roles/", "LIST")):
        text = engine.call("help", path).data["help"]
        assert word in text, path


def test_the_broker_reconciliation_reads_the_engine_token_names(configured):
    """The broker's backstop (reconcile.py) parses what the engine's mints and rotate-root write
    (one vocabulary, values.py, makes and reads both)."""
    from jenkins_broker.values import ENGINE_TOKEN_PREFIX, parse_engine_token_name

    assert configured.call("read", "roles/ci-bot").data["token_name_prefix"] == ENGINE_TOKEN_PREFIX
    before = int(time.time())
    minted = configured.call("read", "creds/ci-bot")
    role, deadline = parse_engine_token_name(minted.data["token_name"])
    assert role == "ci-bot" and before + 3600 <= deadline <= int(time.time()) + 3600
    configured.revoke(minted)
    root = configured.call("update", "rotate-root").data["token_name"]
    assert root.startswith(ENGINE_TOKEN_PREFIX) and parse_engine_token_name(root) is None


# -- one vocabulary with the broker, one error table ----------------------------------------------

@pytest.mark.parametrize("name", ["a..b", "x" * 129, "-lead", "a b"])
def test_the_engine_refuses_the_role_names_the_broker_refuses(configured, name):
    """The engine's paths matched names with a copy of the pattern, without the broker's '..'
    rule: creds/a..b was a 404 "unknown role", a 129-character name an "unsupported path".
    Every operation now answers the broker's 400 naming the rule."""
    for operation, path, data in (("create", f"roles/{name}", {"jenkins_user": "x", "strategy": "user-token"}),
                                  ("read", f"roles/{name}", None), ("delete", f"roles/{name}", None),
                                  ("read", f"creds/{name}", None)):
        with pytest.raises(BadRequest, match="name: role name .* is invalid: use 1-128 letters") as refused:
            configured.call(operation, path, data)
        assert refused.value.status == 400


def test_a_role_named_root_is_refused(configured):
    """Its tokens would be named vault-jenkins-root-<deadline>-<8 hex>, like the engine's own
    credential after rotate-root, which every reconciliation reads as no lease's token (the
    broker's, with engine_shares_users, revoked them as foreign)."""
    from jenkins_broker.values import engine_token_name, parse_engine_token_name
    assert parse_engine_token_name(engine_token_name("vault-jenkins-", "root", time.time() + 60)) is None
    with pytest.raises(BadRequest, match="name: 'root' is reserved in plugin mode"):
        configured.call("create", "roles/root", {"jenkins_user": "ci-bot", "strategy": "user-token"})
    assert configured.call("read", "roles/root") is None


@pytest.mark.parametrize("field,off", [("shared", "off"), ("shared", "no"), ("shared", "F"), ("shared", 0),
                                       ("shared", False), ("rotation_period", "0m"),
                                       ("rotation_period", 0), ("rotation_period", "")])
def test_broker_only_settings_may_be_sent_off_in_any_word_for_off(configured, field, off):
    """The engine had its own list of "off" words: shared=off, which broker mode reads as false,
    was refused as turning a broker-mode setting on."""
    configured.call("update", "roles/ci-bot", {field: off})
    assert field not in configured.call("read", "roles/ci-bot").data


@pytest.mark.parametrize("field,value,message", [
    ("shared", "on", "shared: a broker-mode setting"), ("shared", 1, "shared: a broker-mode setting"),
    ("rotation_period", "1m", "rotation_period: a broker-mode setting"),
    ("shared", "maybe", "shared: expected true or false"), ("rotation_period", "soon", "rotation_period: 'soon'"),
])
def test_broker_only_settings_turned_on_or_unreadable_are_400(configured, field, value, message):
    with pytest.raises(BadRequest, match=message):
        configured.call("update", "roles/ci-bot", {field: value})


@pytest.mark.parametrize("url", ["https://jenkins.example.com/?x=1", "https://jenkins.example.com/#top"])
def test_config_write_refuses_a_url_with_a_query_or_fragment(engine, url):
    """Stored as https://jenkins.example.com/?x=1/ before the URL rule, refused at every mint after."""
    with pytest.raises(BadRequest, match="url: must not have a query or fragment") as refused:
        engine.call("update", "config", {"url": url, "username": "ci-bot", "token": "t",
                                         "verify_connection": "false"})
    assert refused.value.status == 400
    assert engine.call("read", "config") is None


def test_a_stored_config_this_version_cannot_use_is_a_400_that_says_what(configured):
    """ConfigError is the engine's 400 (backend.ERRORS says why; the broker answers 503)."""
    from jenkins_broker.vaultplugin.path_config import STORAGE_KEY
    from jenkins_broker.vaultplugin.storage import get_json, put_json
    record = get_json(configured.storage, STORAGE_KEY)
    record["connection"]["url"] = "https://jenkins.example.com/?x=1/"  # as stored before the URL rule
    put_json(configured.storage, STORAGE_KEY, record)
    configured.backend.forget_connection()
    with pytest.raises(BadRequest, match="role 'ci-bot' cannot mint .* must not have a query") as refused:
        configured.call("read", "creds/ci-bot")
    assert refused.value.status == 400


def test_the_engine_error_table():
    from jenkins_broker.errors import (
        BrokerError,
        ConfigError,
        InvalidRequest,
        JenkinsTimeout,
        LeaseNotFound,
        VaultUnavailable,
    )
    from jenkins_broker.vaultplugin.backend import logical_error
    from jenkins_broker.vaultplugin.logical import LogicalError
    from jenkins_broker.vaultplugin.storage import StorageError
    for raised, status in ((InvalidRequest("a"), 400), (LeaseNotFound("a"), 400), (ConfigError("a"), 400),
                           (JenkinsTimeout("a"), 502), (VaultUnavailable("a"), 500), (BrokerError("a"), 500),
                           (StorageError("a"), 500)):
        answer = logical_error(raised)
        assert isinstance(answer, LogicalError) and answer.status == status, raised
    secret = "11" + "ab" * 16
    assert secret not in str(logical_error(ConfigError(f"token {secret} refused")))
