"""Proxies from the environment: chosen once for the session's server (NO_PROXY honoured),
and a URL behind one goes through it with the proxy's own credentials."""

from __future__ import annotations

import http.client
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from jenkins_broker import transport
from jenkins_broker.transport import Session
from tests.support import serving


def test_the_proxy_is_chosen_once_for_the_sessions_server(monkeypatch):
    assert transport.proxy_for("https://vault.example:8200") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert transport.proxy_for("https://vault.example:8200") == "http://proxy.example:3128"
    assert transport.proxy_for("http://vault.example:8200") is None
    monkeypatch.setenv("NO_PROXY", "vault.example")
    assert transport.proxy_for("https://vault.example:8200") is None
    assert transport.proxy_for("https://jenkins.example") == "http://proxy.example:3128"


class _ForwardProxy(BaseHTTPRequestHandler):
    """A plain-HTTP forward proxy: takes absolute-URI requests and relays them."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.seen.append((self.path, self.headers.get("Proxy-Authorization")))
        target = urlsplit(self.path)
        relay = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        relay.request("GET", target.path or "/", headers={"Host": target.netloc})
        answer = relay.getresponse()
        body = answer.read()
        relay.close()
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.getheader("Content-Type", "text/plain"))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_url_behind_a_proxy_goes_through_it(serve, monkeypatch):
    _, url = serve()
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _ForwardProxy)
    proxy.daemon_threads = True
    proxy.seen = []
    with serving(proxy):
        monkeypatch.setenv("HTTP_PROXY", f"http://user:pw@127.0.0.1:{proxy.server_address[1]}")
        with Session(url, timeout=10) as session:
            answer = session.request("GET", f"{url}/echo")
        assert answer.status == 200 and answer.json()["method"] == "GET"
        assert [path for path, _ in proxy.seen] == [f"{url}/echo"]
        assert proxy.seen[0][1].startswith("Basic ")  # the proxy's own credentials
