"""Broker mode is a Vault front: what the broker does not own reaches Vault unchanged, and
Vault's answer comes back unchanged (web/forward.py).

The upstream here is a recording HTTP server standing in for Vault: it answers every
request with what the test asks for and keeps what it received, bytes and headers.
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client import generate_latest

from jenkins_broker import transport
from jenkins_broker.web import create_app
from jenkins_broker.web.forward import Upstream, broker_lease, broker_prefix
from tests.support import free_port
from tests.support.web import Services, as_

CALLER_TOKEN = "s.caller-token-never-logged-0123"


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append({"method": self.command, "target": self.path,
                                 "headers": {k.lower(): v for k, v in self.headers.items()},
                                 "body": body})
        status, headers, payload = self.server.answer
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_LIST = do_HEAD = do_OPTIONS = do_PATCH = _any


class Vault(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Recorder)
        self.seen: list[dict] = []
        self.answer = (200, [("Content-Type", "application/json")], b'{"data":{"from":"vault"}}')

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def vault():
    server = Vault()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def front(vault_url, namespace=""):
    services = Services()
    services.upstream = Upstream(transport.Session(vault_url, timeout=5), namespace=namespace)
    return services, create_app(services, {"TESTING": True}).test_client()


@pytest.fixture
def broker(vault):
    services, client = front(vault.url)
    yield client
    services.upstream.close()
    services.fast_path.close()


# -- who answers ---------------------------------------------------------------------------

FORWARDED = [
    ("GET", "/v1/sys/seal-status", {}),
    ("POST", "/v1/auth/approle/login", {}),
    ("GET", "/v1/auth/token/lookup-self", {}),
    ("POST", "/v1/sys/capabilities-self", {}),
    ("GET", "/v1/sys/internal/ui/mounts/jenkins/creds/ci-bot", {}),
    ("GET", "/v1/cubbyhole/x", {}),
    ("POST", "/v1/sys/wrapping/unwrap", {}),
    ("GET", "/v1/secret/data/app", {}),
    ("LIST", "/v1/sys/leases/lookup/database/creds", {}),
    ("PUT", "/v1/sys/leases/revoke-prefix/database/creds/app", {}),
    ("GET", "/v1/jenkins/not-a-broker-path", {}),
    # Another namespace's jenkins/ is Vault's, by header or by path.
    ("GET", "/v1/jenkins/creds/ci-bot", {"X-Vault-Namespace": "team-b"}),
    ("GET", "/v1/team-b/jenkins/creds/ci-bot", {}),
    ("HEAD", "/v1/sys/seal-status", {}),
    ("OPTIONS", "/v1/secret/data/app", {}),
    ("GET", "/", {}),
    ("GET", "/ui/", {}),
]


@pytest.mark.parametrize("method,path,headers", FORWARDED)
def test_what_the_broker_does_not_own_goes_to_vault(broker, vault, method, path, headers):
    resp = broker.open(path, method=method, headers={**as_(CALLER_TOKEN), **headers})
    assert resp.status_code == 200 and len(vault.seen) == 1
    assert vault.seen[0]["method"] == method and vault.seen[0]["target"] == path


@pytest.mark.parametrize("path", ["/v1/jenkins/creds/ci-bot", "/v1/jenkins/roles/ci-bot",
                                  "/v1/sys/health", "/metrics", "/v1/jenkins/config"])
def test_what_the_broker_owns_never_reaches_vault(broker, vault, path):
    broker.get(path, headers=as_("ci"))
    assert vault.seen == []


def test_a_lease_is_answered_by_whoever_issued_it(broker, vault):
    minted = broker.get("/v1/jenkins/creds/ci-bot", headers=as_("ci")).get_json()
    renewed = broker.put("/v1/sys/leases/renew", json={"lease_id": minted["lease_id"]},
                         headers=as_("ci"))
    assert renewed.status_code == 200 and renewed.get_json()["lease_id"] == minted["lease_id"]
    assert vault.seen == []
    # A database lease, named in the body: Vault gets the very body the caller sent.
    body = b'{"lease_id": "database/creds/app/abc", "increment": 60}'
    resp = broker.put("/v1/sys/leases/renew", data=body, headers=as_(CALLER_TOKEN),
                      content_type="application/json")
    assert resp.get_json() == {"data": {"from": "vault"}}
    assert vault.seen[-1]["body"] == body and vault.seen[-1]["target"] == "/v1/sys/leases/renew"
    # ... or in the path.
    broker.put("/v1/sys/leases/revoke/database/creds/app/abc", headers=as_(CALLER_TOKEN))
    assert vault.seen[-1]["target"] == "/v1/sys/leases/revoke/database/creds/app/abc"
    # No lease named at all: Vault says what is missing, as it would.
    broker.put("/v1/sys/leases/lookup", json={}, headers=as_(CALLER_TOKEN))
    assert vault.seen[-1]["target"] == "/v1/sys/leases/lookup"


def test_the_broker_serves_its_mount_in_its_own_namespace(vault):
    services, client = front(vault.url, namespace="team-a/")
    try:
        by_header = client.get("/v1/jenkins/creds/ci-bot",
                               headers={**as_("ci"), "X-Vault-Namespace": "team-a"})
        by_path = client.get("/v1/team-a/jenkins/creds/ci-bot", headers=as_("ci"))
        split = client.get("/v1/jenkins/creds/ci-bot", headers={**as_("ci"),
                                                                  "X-Vault-Namespace": "/team-a/"})
        assert [r.status_code for r in (by_header, by_path, split)] == [200, 200, 200]
        assert vault.seen == []
        # The root namespace, and a child of the broker's, are Vault's.
        client.get("/v1/jenkins/creds/ci-bot", headers=as_("ci"))
        client.get("/v1/jenkins/creds/ci-bot", headers={**as_("ci"),
                                                        "X-Vault-Namespace": "team-a/child"})
        assert [s["target"] for s in vault.seen] == ["/v1/jenkins/creds/ci-bot"] * 2
    finally:
        services.upstream.close()


def test_lease_and_prefix_rules():
    assert broker_lease("jenkins/creds/ci-bot/abc")
    assert not broker_lease("jenkins/credsx/a") and not broker_lease(None)
    assert not broker_lease("database/creds/jenkins/creds/a")
    assert broker_prefix("jenkins/creds/ci-bot") and broker_prefix("jenkins/") and broker_prefix(
        "jenkins/creds")
    assert not broker_prefix("jenkinsx/creds") and not broker_prefix("") and not broker_prefix(
        "database/creds")


# -- unchanged both ways ---------------------------------------------------------------

def test_the_request_reaches_vault_unchanged(broker, vault):
    headers = {"X-Vault-Token": CALLER_TOKEN, "X-Vault-Namespace": "team-b",
               "X-Vault-Wrap-TTL": "60s", "X-Vault-Request": "true",
               "X-Vault-Index": "v1:abc", "X-Vault-Inconsistent": "forward-active-node",
               "X-Vault-Policy-Override": "true", "Content-Type": "application/json",
               # Hop-by-hop: of the caller's connection to the broker, never passed on.
               "Connection": "keep-alive, X-Private-Hop", "X-Private-Hop": "1",
               "Keep-Alive": "timeout=5", "TE": "trailers", "Proxy-Authorization": "Basic x",
               "Upgrade": "h2c"}
    body = b'{"data": {"k": "v \\u00e9"}, "odd": [1, 2.50, null]}'
    broker.open("/v1/secret/data/a%2Fb?version=2&list=true&x=%20y", method="PUT", data=body,
                headers=headers)
    seen = vault.seen[0]
    assert seen["target"] == "/v1/secret/data/a%2Fb?version=2&list=true&x=%20y"
    assert seen["body"] == body
    for name in ("x-vault-token", "x-vault-namespace", "x-vault-wrap-ttl", "x-vault-request",
                 "x-vault-index", "x-vault-inconsistent", "x-vault-policy-override",
                 "content-type"):
        assert seen["headers"][name] == next(v for k, v in headers.items() if k.lower() == name)
    for hop in ("connection", "x-private-hop", "keep-alive", "te", "proxy-authorization",
                "upgrade"):
        assert hop not in seen["headers"], hop


def test_the_broker_adds_no_token_of_its_own(broker, vault):
    broker.get("/v1/sys/seal-status", headers={"User-Agent": "Go-http-client/1.1"})
    seen = vault.seen[0]["headers"]
    assert "x-vault-token" not in seen and "authorization" not in seen
    # Nor anything else the caller did not send: its client name, an encoding.
    assert seen["user-agent"] == "Go-http-client/1.1" and "accept-encoding" not in seen


@pytest.mark.parametrize("status", [200, 204, 307, 400, 403, 404, 412, 429, 472, 500, 503])
def test_vaults_answer_comes_back_unchanged(broker, vault, status):
    payload = b"" if status == 204 else b'{"errors":["as Vault says it"]}\n'
    vault.answer = (status, [("Content-Type", "application/json"), ("X-Vault-Index", "v1:xyz"),
                             ("Cache-Control", "no-store"), ("Location", "http://active:8200/v1/x"),
                             ("Connection", "X-Hop"), ("X-Hop", "1")], payload)
    resp = broker.get("/v1/secret/data/x", headers=as_(CALLER_TOKEN))
    assert resp.status_code == status and resp.data == payload
    assert resp.headers["X-Vault-Index"] == "v1:xyz"
    assert resp.headers["Location"] == "http://active:8200/v1/x"  # not followed, not rewritten
    assert "X-Hop" not in resp.headers
    assert len(vault.seen) == 1  # a redirect is the caller's to follow, with its own token


def test_a_compressed_answer_passes_undecoded(broker, vault):
    packed = gzip.compress(json.dumps({"data": {"k": "v" * 500}}).encode())
    vault.answer = (200, [("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
                    packed)
    resp = broker.get("/v1/secret/data/x", headers={**as_(CALLER_TOKEN),
                                                    "Accept-Encoding": "gzip"})
    assert resp.headers["Content-Encoding"] == "gzip" and resp.data == packed
    assert vault.seen[0]["headers"]["accept-encoding"] == "gzip"


def test_head_and_options_are_vaults_on_its_paths_and_never_mint(broker, vault):
    assert broker.head("/v1/secret/data/x", headers=as_(CALLER_TOKEN)).status_code == 200
    assert vault.seen[-1]["method"] == "HEAD"
    before = len(vault.seen)
    assert broker.head("/v1/jenkins/creds/ci-bot", headers=as_("ci")).status_code == 405
    assert broker.options("/v1/jenkins/creds/ci-bot", headers=as_("ci")).status_code == 405
    assert len(vault.seen) == before


def test_bounds_and_failures_name_no_address(vault, caplog):
    services, client = front(vault.url)
    services.upstream = Upstream(services.upstream.session, max_body=1000)
    client = create_app(services, {"TESTING": True}).test_client()
    try:
        big = client.put("/v1/secret/data/x", data=b"x" * 1001, headers=as_(CALLER_TOKEN))
        assert big.status_code == 413 and vault.seen == []
        assert client.put("/v1/secret/data/x", data=b"x" * 1000,
                          headers=as_(CALLER_TOKEN)).status_code == 200
    finally:
        services.upstream.close()
    gone = f"http://127.0.0.1:{free_port()}"
    services, client = front(gone)
    try:
        with caplog.at_level(logging.DEBUG):
            resp = client.get("/v1/secret/data/x", headers=as_(CALLER_TOKEN))
        assert resp.status_code == 502 and resp.get_json()["errors"]
        assert "127.0.0.1" not in resp.get_data(as_text=True)
        assert CALLER_TOKEN not in caplog.text and "secret/data" not in caplog.text
    finally:
        services.upstream.close()


def test_forwarded_requests_are_counted_and_never_logged_with_tokens(vault, caplog):
    services, client = front(vault.url)
    try:
        with caplog.at_level(logging.DEBUG):
            client.get(f"/v1/auth/token/lookup/{CALLER_TOKEN}", headers=as_(CALLER_TOKEN))
            vault.answer = (403, [], b'{"errors":["permission denied"]}')
            client.post("/v1/sys/wrapping/unwrap", json={"token": CALLER_TOKEN})
        assert CALLER_TOKEN not in caplog.text
        exposition = generate_latest(services.metrics.registry).decode()
        counter = services.metrics.forwarded
        assert counter.labels("GET", "2xx")._value.get() == 1
        assert counter.labels("POST", "4xx")._value.get() == 1
        assert CALLER_TOKEN not in exposition
    finally:
        services.upstream.close()


# -- the root list of lease prefixes: Vault's, with jenkins/ while the broker holds leases --

def lease_roots(vault, status, payload, *, holds=True, fails=False):
    """LIST sys/leases/lookup/ through a broker that ``holds`` leases (or cannot say: ``fails``),
    Vault answering ``status`` with ``payload``; returns the broker's answer."""
    services, client = front(vault.url)
    if fails:
        def down():
            from jenkins_broker.errors import VaultUnavailable
            raise VaultUnavailable("Vault is sealed")
        services.store.list_lease_roles = down
    elif holds:
        services.store.leases[("ci-bot", "0a1b")] = object()
    vault.answer = (status, [("Content-Type", "application/json")], json.dumps(payload).encode())
    try:
        return client.open("/v1/sys/leases/lookup/", method="LIST",
                           headers={**as_(CALLER_TOKEN), "Accept-Encoding": "gzip"})
    finally:
        services.upstream.close()
        services.fast_path.close()


def test_the_root_lease_list_gets_jenkins_while_the_broker_holds_leases(vault):
    vaults = {"request_id": "r1", "lease_id": "", "renewable": False, "lease_duration": 0,
              "data": {"keys": ["auth/", "zeta/"]}, "wrap_info": None, "warnings": None, "auth": None}
    resp = lease_roots(vault, 200, vaults)
    assert resp.status_code == 200
    assert resp.get_json() == {**vaults, "data": {"keys": ["auth/", "jenkins/", "zeta/"]}}
    assert resp.headers["Content-Length"] == str(len(resp.get_data()))
    # Vault was asked as the caller asked, but for a body the broker can read and rewrite.
    assert vault.seen[-1]["target"] == "/v1/sys/leases/lookup/"
    assert vault.seen[-1]["headers"]["x-vault-token"] == CALLER_TOKEN
    assert "accept-encoding" not in vault.seen[-1]["headers"]


def test_vaults_404_for_no_lease_at_all_becomes_a_list_of_jenkins(vault):
    resp = lease_roots(vault, 404, {"errors": []})
    assert resp.status_code == 200 and resp.get_json()["data"] == {"keys": ["jenkins/"]}


@pytest.mark.parametrize("status, payload, holds, fails", [
    (200, {"data": {"keys": ["auth/"]}}, False, False),   # the broker holds no lease
    (404, {"errors": []}, False, False),
    (403, {"errors": ["1 error occurred:\n\t* permission denied\n\n"]}, True, False),  # Vault refused
    (200, {"data": {"keys": ["auth/"]}}, True, True),     # the broker cannot say: Vault's answer
])
def test_otherwise_vaults_answer_comes_back_as_it_is(vault, status, payload, holds, fails):
    resp = lease_roots(vault, status, payload, holds=holds, fails=fails)
    assert resp.status_code == status and resp.get_json() == payload
