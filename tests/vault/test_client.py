"""VaultClient against a stdlib HTTP server: what it sends, and Vault's standby redirect."""

from __future__ import annotations

import contextlib
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jenkins_broker import errors
from jenkins_broker.vault import VaultClient, VaultSettings
from tests.support.processes import answer_json, serving

TOKEN = "hvs.CAESIJustATokenForTheTests0123456789"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _any(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append((self.command, self.path))
        if self.server.redirect_to:  # a standby: "ask the active node"
            self.send_response(307)
            self.send_header("Location", self.server.redirect_to + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        answer_json(self, 200, {"data": {"method": self.command, "path": self.path,
                                         "token": self.headers.get("X-Vault-Token"),
                                         "namespace": self.headers.get("X-Vault-Namespace"),
                                         "body": body.decode()}})

    do_GET = do_POST = do_DELETE = do_LIST = _any


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    seen: list[tuple[str, str]]
    redirect_to: str | None


@pytest.fixture
def server():
    with contextlib.ExitStack() as running:
        def start(redirect_to: str | None = None) -> tuple[_Server, str]:
            httpd = _Server(("127.0.0.1", 0), _Handler)
            httpd.seen, httpd.redirect_to = [], redirect_to
            return httpd, running.enter_context(serving(httpd))
        yield start


def test_a_call_carries_the_token_the_namespace_and_the_body(server):
    _, addr = server()
    with VaultClient(VaultSettings(addr=addr, token=TOKEN, namespace="team-a"), TOKEN) as client:
        data = client.request("POST", "jenkins-broker/data/x?y", json={"a": 1}, action="write")["data"]
    assert data["method"] == "POST" and data["path"] == "/v1/jenkins-broker/data/x%3Fy"
    assert data["token"] == TOKEN and data["namespace"] == "team-a"
    assert json.loads(data["body"]) == {"a": 1}


def test_a_standby_redirect_is_followed_with_method_body_and_token(server):
    active, active_addr = server()
    standby, standby_addr = server(redirect_to=active_addr)
    with VaultClient(VaultSettings(addr=standby_addr, token=TOKEN), TOKEN) as client:
        data = client.request("POST", "sys/capabilities-self", json={"paths": ["a"]},
                              action="check")["data"]
    # The standby is asked again by the pool manager, which follows its answer; the active
    # node gets the request once, with everything it needs.
    assert set(standby.seen) == {("POST", "/v1/sys/capabilities-self")}
    assert active.seen == [("POST", "/v1/sys/capabilities-self")]
    assert data["token"] == TOKEN and json.loads(data["body"]) == {"paths": ["a"]}


def test_a_redirect_loop_is_an_error_without_the_token(server):
    loop, loop_addr = server()
    loop.redirect_to = loop_addr
    with VaultClient(VaultSettings(addr=loop_addr, token=TOKEN), TOKEN) as client:
        with pytest.raises(errors.VaultError) as caught:
            client.request("GET", "sys/health", action="check health of")
    assert TOKEN not in str(caught.value) and "redirect" in str(caught.value)
