"""The client keeps connections alive and reuses them (one requests.Session per client).

Measured on the server side against a minimal HTTP/1.1 server that keeps
connections open, as Jenkins' Jetty does (the fake Jenkins' werkzeug server closes
every connection, so it cannot show reuse). The server is not a Jenkins double: it
answers every request with the same small JSON object.
"""

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jenkins_broker.jenkins import JenkinsClient
from tests.support import serving

WHOAMI = json.dumps({"name": "ci-bot", "authenticated": True, "anonymous": False}).encode()


class _KeepAliveHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.server.connections += 1        # one call per accepted TCP connection

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(WHOAMI)))
        self.send_header("X-Jenkins", "2.555.1")
        self.end_headers()
        self.wfile.write(WHOAMI)

    def log_message(self, *args):
        pass


@pytest.fixture
def keepalive_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAliveHandler)
    server.daemon_threads = True
    server.connections = 0
    with serving(server) as url:
        yield server, url + "/"


def test_one_client_uses_one_connection(keepalive_server):
    server, url = keepalive_server
    with JenkinsClient(url, timeout=5.0) as client:
        assert client.version() == "2.555.1"
        for _ in range(5):
            assert client.verify_token("ci-bot", "botpw")
    assert server.connections == 1


def test_the_measure_catches_a_client_that_does_not_reuse(keepalive_server):
    # Control: without reuse (a client per call) the same count goes up.
    server, url = keepalive_server
    for _ in range(3):
        with JenkinsClient(url, timeout=5.0) as client:
            client.verify_token("ci-bot", "botpw")
    assert server.connections == 3
