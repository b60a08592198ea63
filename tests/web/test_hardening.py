"""Issue 14's hardening of the HTTP API: verbs that never mint, no caching of secrets,
no redirects built from the Host header, what anonymous callers learn."""

import pytest

from tests.support.web import as_


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS"])
def test_head_and_options_never_mint(client, services, method):
    before = services.metrics.registry.get_sample_value("jenkins_broker_mints_total", {"role": "ci-bot"})
    resp = client.open("/v1/jenkins/creds/ci-bot", method=method, headers=as_("ci"))
    assert resp.status_code == 405
    assert "HEAD" not in resp.headers["Allow"] and "OPTIONS" not in resp.headers["Allow"]
    if method == "OPTIONS":
        assert resp.json == {"errors": ["unsupported operation"]}
    after = services.metrics.registry.get_sample_value("jenkins_broker_mints_total", {"role": "ci-bot"})
    assert after == before is None


def test_head_on_health_still_answers(client):
    assert client.head("/v1/sys/health").status_code == 200


def test_every_response_says_no_store(client):
    mint = client.get("/v1/jenkins/creds/ci-bot", headers=as_("ci"))
    assert mint.status_code == 200
    for resp in (mint, client.get("/v1/jenkins/creds/ci-bot"), client.get("/v1/nothing"),
                 client.post("/v1/sys/leases/lookup", json={"lease_id": mint.json["lease_id"]},
                             headers=as_("ci"))):
        assert resp.headers["Cache-Control"] == "no-store", resp.status_code


@pytest.mark.parametrize("path", ["/v1//jenkins/creds/ci-bot", "//v1/jenkins/creds/ci-bot",
                                  "/v1/jenkins//creds/ci-bot", "/v1/sys//health"])
def test_doubled_slashes_are_not_redirected(client, services, path):
    resp = client.get(path, headers={**as_("ci"), "Host": "evil.example"})
    assert resp.status_code in (400, 404)
    assert "Location" not in resp.headers
    assert resp.is_json and resp.json["errors"]
    assert b"evil.example" not in resp.get_data()


def test_trailing_slash_is_not_redirected(client):
    resp = client.get("/v1/sys/health/", headers={"Host": "evil.example"})
    assert "Location" not in resp.headers
    assert resp.status_code in (200, 404)


VAULT = "http://vault.internal.example:8200"


def test_a_bogus_token_403_names_no_internal_address(client, services):
    from jenkins_broker.vault.translate import error_for_status

    def refuse(token, path):
        raise error_for_status(403, "permission denied", addr=VAULT, path="sys/capabilities-self",
                               action="check capabilities", kind="caller")
    services.authorizer.authorize = refuse
    resp = client.get("/v1/jenkins/creds/ci-bot", headers=as_("bogus"))
    assert resp.status_code == 403
    message = resp.json["errors"][0]
    assert "vault.internal" not in message and "http" not in message and "8200" not in message
    assert "invalid, expired or revoked" in message and "log in" in message.lower()


def test_vault_trouble_names_no_internal_address(client, services, caplog):
    from jenkins_broker.vault.translate import error_for_status

    def down(*args, **kwargs):
        raise error_for_status(503, "Vault is sealed", addr=VAULT, path="jenkins-broker/data/leases/x",
                               action="write the lease record")
    services.manager.mint = down
    resp = client.get("/v1/jenkins/creds/ci-bot", headers=as_("ci"))
    assert resp.status_code == 503
    message = resp.json["errors"][0]
    assert "vault.internal" not in message and "8200" not in message
    assert "sealed" in message and "retry" in message
    assert "vault.internal.example:8200" in caplog.text  # the operator's log keeps it


@pytest.mark.parametrize("headers,status", [({}, 403), (as_("ci"), 403), (as_("stranger"), 403),
                                            (as_("scraper"), 200), (as_("root"), 200)])
def test_metrics_need_read_on_sys_metrics(client, headers, status):
    client.get("/v1/jenkins/creds/ci-bot", headers=as_("ci"))
    resp = client.get("/metrics", headers=headers)
    assert resp.status_code == status
    assert ("ci-bot" in resp.get_data(as_text=True)) is (status == 200)


def test_an_operator_may_open_metrics_to_anyone(client, services):
    from jenkins_broker.server.settings import BrokerSettings

    services.settings = BrokerSettings(metrics_unauthenticated=True)
    assert client.get("/metrics").status_code == 200
    assert BrokerSettings.from_env({"JENKINS_BROKER_METRICS_UNAUTHENTICATED": "true"}).metrics_unauthenticated


@pytest.mark.parametrize("headers", [{}, as_("ci"), as_("stranger"), {"X-Vault-Token": "bad token\u00e9"}])
def test_health_shows_anonymous_callers_vaults_answer_only(client, headers):
    resp = client.get("/v1/sys/health", headers=headers)
    assert resp.status_code == 200
    # Vault's own answer (the test store's), which Vault gives anyone; no broker details.
    assert resp.json == {"initialized": True, "sealed": False, "standby": False, "version": "test"}


def test_health_shows_details_to_a_token_that_may_read_metrics(client):
    body = client.get("/v1/sys/health", headers=as_("scraper")).json["broker"]
    assert {"ready", "version", "live_leases", "credentials"} <= set(body)
