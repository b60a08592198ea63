"""The Vault-compatible HTTP API: shapes, status codes and authorization."""

import pytest

from jenkins_broker.domain.jenkins_config import StoredCredential
from tests.support.web import as_


def test_mint_returns_vault_secret_shape(client, services):
    resp = client.get("/v1/jenkins/creds/ci-bot", headers=as_("ci"))
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert set(body) >= {"request_id", "lease_id", "lease_duration", "renewable", "data", "warnings"}
    assert body["lease_id"].startswith("jenkins/creds/ci-bot/")
    assert body["lease_duration"] == 600 and body["renewable"] is True
    assert set(body["data"]) == {"username", "token", "token_name", "jenkins_url", "expires_at"}
    assert body["data"]["username"] == "ci-bot" and body["data"]["token"].startswith("11")
    record = services.manager.lookup(body["lease_id"])
    assert record.requester.display_name == "token-ci"


def test_mint_with_ttl_is_capped(client):
    body = client.post("/v1/jenkins/creds/ci-bot", json={"ttl": "5h"}, headers=as_("ci")).json
    assert body["lease_duration"] == 3600


@pytest.mark.parametrize("headers,status", [({}, 403), (as_("admin"), 403), (as_("stranger"), 403),
                                            ({"X-Vault-Token": "bad token\u00e9"}, 403)])
def test_mint_authorization(client, headers, status):
    resp = client.get("/v1/jenkins/creds/ci-bot", headers=headers)
    assert resp.status_code == status
    assert list(resp.json) == ["errors"] and resp.json["errors"]


def test_missing_role_is_404_after_authorization(client):
    assert client.get("/v1/jenkins/creds/nope", headers=as_("root")).status_code == 404
    assert client.get("/v1/jenkins/creds/nope", headers=as_("ci")).status_code == 403


@pytest.mark.parametrize("role", ["..", "a/../b", "a%00b", "x" * 10_000, "-lead"])
def test_bad_role_names_are_400(client, role):
    resp = client.get(f"/v1/jenkins/creds/{role}", headers=as_("root"))
    assert resp.status_code == 400 and resp.json["errors"][0].startswith("name: role name")


@pytest.mark.parametrize("ttl", [-5, "abc", "9999999999d", True, [1]])
def test_bad_ttl_is_400(client, ttl):
    resp = client.post("/v1/jenkins/creds/ci-bot", json={"ttl": ttl}, headers=as_("ci"))
    assert resp.status_code == 400 and "ttl" in resp.json["errors"][0]


def test_body_over_1mb_is_413(client):
    resp = client.post("/v1/jenkins/creds/ci-bot", data=b"{" + b" " * (1024 * 1024 + 10) + b"}",
                       headers={**as_("ci"), "Content-Type": "application/json"})
    assert resp.status_code == 413 and "errors" in resp.json


def test_malformed_json_is_400(client):
    resp = client.post("/v1/jenkins/creds/ci-bot", data=b"{nope", headers=as_("ci"))
    assert resp.status_code == 400


def test_jenkins_down_at_mint_is_503_and_leaves_nothing(client, services):
    services.gateway.fail_mint = True
    resp = client.get("/v1/jenkins/creds/ci-bot", headers=as_("ci"))
    assert resp.status_code == 503 and "errors" in resp.json
    assert services.store.leases == {}


def test_renew_lookup_revoke_cycle(client, services):
    lease_id = client.get("/v1/jenkins/creds/ci-bot", headers=as_("ci")).json["lease_id"]
    renewed = client.put("/v1/sys/leases/renew", json={"lease_id": lease_id, "increment": 120},
                         headers=as_("ci"))
    assert renewed.status_code == 200 and renewed.json["lease_duration"] == 120
    looked = client.put("/v1/sys/leases/lookup", json={"lease_id": lease_id}, headers=as_("ci")).json
    assert looked["data"]["id"] == lease_id and 0 < looked["data"]["ttl"] <= 120
    assert looked["data"]["expire_time"].endswith("Z")
    # The CI token may not revoke; the auditor may.
    assert client.put("/v1/sys/leases/revoke", json={"lease_id": lease_id},
                      headers=as_("ci")).status_code == 403
    assert client.put("/v1/sys/leases/revoke", json={"lease_id": lease_id},
                      headers=as_("auditor")).status_code == 204
    assert services.gateway.live == {}
    # Unknown lease: revoke is a no-op success, renew and lookup are 400 as in Vault.
    assert client.put("/v1/sys/leases/revoke", json={"lease_id": lease_id},
                      headers=as_("auditor")).status_code == 204
    assert client.put("/v1/sys/leases/renew", json={"lease_id": lease_id},
                      headers=as_("ci")).status_code == 400


def test_list_leases(client):
    ids = {client.get("/v1/jenkins/creds/ci-bot", headers=as_("ci")).json["lease_id"] for _ in range(3)}
    resp = client.open("/v1/sys/leases/lookup/jenkins/creds/ci-bot/", method="LIST", headers=as_("auditor"))
    assert resp.status_code == 200
    assert {f"jenkins/creds/ci-bot/{k}" for k in resp.json["data"]["keys"]} == ids
    resp = client.get("/v1/sys/leases/lookup/jenkins/creds?list=true", headers=as_("auditor"))
    assert resp.json["data"]["keys"] == ["ci-bot/"]
    assert client.open("/v1/sys/leases/lookup/jenkins/creds/other", method="LIST",
                       headers=as_("auditor")).status_code == 404
    assert client.open("/v1/sys/leases/lookup/jenkins/creds/ci-bot", method="LIST",
                       headers=as_("ci")).status_code == 403


def test_incident_button_and_live_token_listing(client, services):
    for _ in range(2):
        client.get("/v1/jenkins/creds/ci-bot", headers=as_("ci"))
    listing = client.get("/v1/jenkins/leases/ci-bot", headers=as_("auditor")).json["data"]["leases"]
    assert len(listing) == 2 and listing[0]["requester"]["display_name"] == "token-ci"
    assert all("token" not in row for row in listing)
    resp = client.post("/v1/jenkins/revoke/ci-bot", json={"requester": "ent-ci"}, headers=as_("auditor"))
    assert resp.json["data"] == {"revoked": 2, "failed": 0, "skipped": 0}
    assert services.gateway.live == {}


def test_revoke_prefix(client, services):
    client.get("/v1/jenkins/creds/ci-bot", headers=as_("ci"))
    resp = client.put("/v1/sys/leases/revoke-prefix/jenkins/creds/ci-bot", headers=as_("auditor"))
    assert resp.status_code == 204 and services.gateway.live == {}


def test_roles_admin(client, services):
    fields = {"jenkins_user": "deployer", "strategy": "admin-rest", "credential": "admin", "ttl": "5m"}
    # As the CLI: a role must name a stored credential.
    missing = client.post("/v1/jenkins/roles/deploy", headers=as_("admin"), json=fields)
    assert missing.status_code == 400 and "no credential named 'admin' is stored" in missing.json["errors"][0]
    services.store.put_credential(StoredCredential("admin", "admin", "password", "adminpw"))
    resp = client.post("/v1/jenkins/roles/deploy", headers=as_("admin"), json=fields)
    assert resp.status_code == 204
    role = client.get("/v1/jenkins/roles/deploy", headers=as_("admin")).json["data"]
    assert role["ttl"] == "5m" and role["strategy"] == "admin-rest"
    bad = client.post("/v1/jenkins/roles/deploy", headers=as_("admin"), json={"strategy": "magic"})
    assert bad.status_code == 400 and "strategy" in bad.json["errors"][0]
    keys = client.open("/v1/jenkins/roles", method="LIST", headers=as_("admin")).json["data"]["keys"]
    assert keys == ["ci-bot", "deploy"]
    assert client.delete("/v1/jenkins/roles/deploy", headers=as_("admin")).status_code == 204
    assert client.get("/v1/jenkins/roles/deploy", headers=as_("admin")).status_code == 404
    assert client.post("/v1/jenkins/roles/x", headers=as_("ci"), json={}).status_code == 403


def test_health_and_metrics(client):
    client.get("/v1/jenkins/creds/ci-bot", headers=as_("ci"))
    assert client.get("/v1/sys/health").status_code == 200
    text = client.get("/metrics", headers=as_("scraper")).get_data(as_text=True)
    assert 'jenkins_broker_mints_total{role="ci-bot"} 1.0' in text


def test_unknown_path_and_method(client):
    assert client.get("/v1/nothing/here").json == {"errors": ["unsupported path"]}
    assert client.delete("/v1/jenkins/creds/ci-bot", headers=as_("ci")).status_code == 405


def test_a_fast_path_mint_that_vault_cannot_confirm_is_revoked_before_answering(client, services):
    """Repeat mints overlap the capability check with Jenkins; if Vault then fails instead of
    answering, the token minted meanwhile must not live on unheld."""
    from jenkins_broker.errors import VaultUnavailable
    authorizer = services.authorizer
    assert client.get("/v1/jenkins/creds/ci-bot", headers=as_("ci")).status_code == 200
    authorizer.known = lambda token: True
    real = authorizer.capabilities

    def failing(token, path):
        raise VaultUnavailable("Vault went away (test)")
    authorizer.capabilities = failing
    try:
        answer = client.get("/v1/jenkins/creds/ci-bot", headers=as_("ci"))
    finally:
        authorizer.capabilities = real
    assert answer.status_code == 503
    assert len(services.store.list_leases("ci-bot")) == 1  # only the first mint's lease
    assert len(services.gateway.revoked) == 1


def test_each_broker_has_its_own_fast_path_and_it_forgets_after_a_minute(client, services):
    from jenkins_broker.web.auth import FastPath
    from tests.fakes import Clock
    from tests.support.web import Services
    other = Services()
    try:
        assert client.get("/v1/jenkins/creds/ci-bot", headers=as_("ci")).status_code == 200
        key = FastPath.key("ci", "jenkins/creds/ci-bot")
        assert services.fast_path.recent(key) and not other.fast_path.recent(key)
    finally:
        other.fast_path.close()
    clock = Clock()
    fast = FastPath(clock=clock)
    fast.remember(key, True)
    clock.advance(59)
    assert fast.recent(key)
    clock.advance(2)
    assert not fast.recent(key)
    fast.close()


# -- one vocabulary, one error table ----------------------------------------------------------

@pytest.fixture
def config_store(services):
    """The fake store, with the Jenkins connection (which it lacks) kept in a list."""
    written = []
    services.store.get_jenkins_config = lambda: written[-1] if written else None
    services.store.put_jenkins_config = written.append
    return written


TRUE_WORDS, FALSE_WORDS = ["true", "T", "1", "yes", "on"], ["false", "f", "0", "No", "OFF"]


@pytest.mark.parametrize("word", TRUE_WORDS + FALSE_WORDS)
def test_the_api_reads_every_boolean_with_the_one_vocabulary(client, services, config_store, word):
    """?list= had a copy of the rule of its own: list=t (Vault's own word), yes or on read the
    path instead of listing it, and list=junk was a read too (Vault answers 400)."""
    meaning = word in TRUE_WORDS
    services.store.put_credential(StoredCredential("c", "u", "token", "s"))
    assert client.post("/v1/jenkins/roles/flags", headers=as_("admin"), json={
        "jenkins_user": "u", "strategy": "user-token", "credential": "c", "shared": word,
        "disabled": word}).status_code == 204
    role = services.store.get_role("flags")
    assert role.shared is meaning and role.disabled is meaning
    assert client.post("/v1/jenkins/config", headers=as_("admin"), json={
        "url": "https://jenkins.example.com/", "verify_tls": word, "verify_after_mint": word}).status_code == 204
    assert config_store[-1].verify_tls is meaning and config_store[-1].verify_after_mint is meaning
    listed = client.get(f"/v1/jenkins/roles?list={word}", headers=as_("admin"))
    if meaning:
        assert listed.status_code == 200 and listed.json["data"]["keys"] == ["ci-bot", "flags"]
    else:
        assert listed.status_code == 405


def test_a_list_flag_that_is_no_boolean_is_400(client):
    answer = client.get("/v1/jenkins/roles?list=perhaps", headers=as_("admin"))
    assert answer.status_code == 400 and answer.json["errors"][0].startswith("list: expected true or false")
    assert client.get("/v1/jenkins/roles?list=", headers=as_("admin")).status_code == 405


@pytest.mark.parametrize("url", ["https://jenkins.example.com/?x=1", "https://jenkins.example.com/#top"])
def test_config_write_refuses_a_url_with_a_query_or_fragment(client, config_store, url):
    """It used to be stored as https://jenkins.example.com/?x=1/, and every mint refused after."""
    answer = client.post("/v1/jenkins/config", json={"url": url}, headers=as_("admin"))
    assert answer.status_code == 400
    assert answer.json["errors"] == ["url: must not have a query or fragment"]
    assert config_store == []


def test_a_config_the_broker_cannot_work_with_is_503(client, services):
    """ConfigError is the broker's 503 (web/errors.py says why; the engine answers 400)."""
    from jenkins_broker.errors import ConfigError

    def unconfigured(role, name):
        raise ConfigError("Jenkins is not configured: write jenkins/config url=<Jenkins root URL>")
    services.gateway.mint = unconfigured
    answer = client.get("/v1/jenkins/creds/ci-bot", headers=as_("ci"))
    assert answer.status_code == 503 and "not configured" in answer.json["errors"][0]
    assert services.store.list_leases("ci-bot") == []


def test_the_api_error_table():
    from jenkins_broker import errors as e
    from jenkins_broker.domain.roles import InvalidRole
    from jenkins_broker.web.errors import Forbidden, Unauthorized, status_for
    expected = [(Unauthorized("x"), 403), (Forbidden("x"), 403), (e.UnknownRole("x"), 404),
                (e.RoleDisabled("x"), 403), (e.QuotaExceeded("x"), 429), (InvalidRole("f", "x"), 400),
                (e.LeaseNotFound("x"), 400), (e.JenkinsTimeout("x"), 504), (e.JenkinsConnectionError("x"), 503),
                (e.JenkinsAuthError("x"), 502), (e.VaultConflict("x"), 409), (e.VaultUnavailable("x"), 503),
                (e.ConfigError("x"), 503), (e.BrokerError("x"), 500), (ValueError("x"), 500)]
    assert [(type(exc).__name__, status_for(exc)) for exc, _ in expected] == \
        [(type(exc).__name__, status) for exc, status in expected]


def test_a_lease_named_in_the_path_needs_the_capability_on_that_path_as_in_vault(client, services):
    """Vault checks the request's own path: ``PUT sys/leases/revoke/<id>`` needs ``update`` on
    ``sys/leases/revoke/<id>``, and the bare ``sys/leases/revoke`` grants only the body form."""
    lease = client.get("/v1/jenkins/creds/ci-bot", headers=as_("ci")).json["lease_id"]
    services.authorizer.table["by-path"] = {"sys/leases/revoke/jenkins/creds/ci-bot/*": ["update"],
                                            "sys/leases/renew/jenkins/creds/ci-bot/*": ["update"]}
    services.authorizer.table["bare"] = {"sys/leases/revoke": ["update"], "sys/leases/renew": ["update"]}
    assert client.put(f"/v1/sys/leases/renew/{lease}", headers=as_("bare")).status_code == 403
    assert client.put(f"/v1/sys/leases/renew/{lease}", headers=as_("by-path")).status_code == 200
    assert client.put("/v1/sys/leases/renew", json={"lease_id": lease},
                      headers=as_("by-path")).status_code == 403
    assert client.put(f"/v1/sys/leases/revoke/{lease}", headers=as_("bare")).status_code == 403
    assert client.put(f"/v1/sys/leases/revoke/{lease}", headers=as_("by-path")).status_code == 204
