"""The lean HTTP session against a real (stdlib) HTTP/1.1 server on loopback.

Each behaviour the broker relies on from ``requests`` is checked here against the
lean session: bodies, headers, auth, keep-alive and its pool, redirects, the
``requests`` exception classes for each way a connection fails, decoding, cookies
and TLS. Proxies are handed to ``requests`` by :func:`make_session`.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import trustme
from requests.auth import AuthBase
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import InsecureRequestWarning

from jenkins_broker.httpsession import make_session
from jenkins_broker.leanhttp import LeanResponse, LeanSession
from jenkins_broker.leanhttp.rules import leaves_origin, safe_url
from tests.integration.conftest import wait_for

SECRET = "s.never-in-a-message-0123456789"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self, status=200, body=b"", headers=None, close=False):
        self.send_response(status)
        for key, value in (headers or {}).items():
            if isinstance(value, list):
                for one in value:
                    self.send_header(key, one)
            else:
                self.send_header(key, value)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _route(self):
        server = self.server
        server.peers.add(self.client_address)
        body = self._read_body()
        path = urlsplit(self.path).path
        if path == "/echo":
            self._answer(200, json.dumps({
                "method": self.command, "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("latin-1")}).encode(), {"Content-Type": "application/json"})
        elif path == "/close":        # says so, then closes
            self._answer(200, b"bye", close=True)
            self.close_connection = True
        elif path == "/close-quietly":  # answers as if keep-alive, then closes anyway
            self._answer(200, b"bye")
            self.close_connection = True
        elif path == "/redirect":
            query = parse_qs(urlsplit(self.path).query)
            self._answer(int(query["status"][0]), b"", {"Location": query["to"][0]})
        elif path == "/loop":
            self._answer(302, b"", {"Location": "/loop"})
        elif path == "/hang":
            server.release.wait(10)
            self._answer(200, b"late")
        elif path == "/reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            self.close_connection = True
            self.connection.close()
        elif path == "/truncated":
            self._answer(200, b"only part", {"Content-Length": "100"})
            self.close_connection = True
        elif path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (b"hello ", b"chunked ", b"world"):
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/text":
            query = parse_qs(urlsplit(self.path).query)
            self._answer(200, "café".encode(query.get("enc", ["utf-8"])[0]),
                         {"Content-Type": query["type"][0]})
        elif path == "/cookies":
            self._answer(200, b"", {"Set-Cookie": ["JSESSIONID.1a2b3c4d=node0abc; Path=/; HttpOnly",
                                                   "other=1; Path=/"]})
        elif path == "/notjson":
            self._answer(200, b"<html>proxy page</html>", {"Content-Type": "application/json"})
        else:
            self._answer(404, b"no")

    do_GET = do_POST = do_PUT = do_DELETE = _route

    def do_HEAD(self):
        self.server.peers.add(self.client_address)
        self.send_response(200)
        self.send_header("Content-Length", "42")
        self.end_headers()

    def do_LIST(self):
        self._route()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.peers: set = set()
        self.release = threading.Event()
        self.closed = threading.Event()  # set each time the server closes a connection

    def shutdown_request(self, request):
        super().shutdown_request(request)
        self.closed.set()


@pytest.fixture
def serve():
    started = []

    def start(context: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> tuple[_Server, str]:
        server = _Server((host, 0), _Handler)
        scheme = "http"
        if context is not None:
            server.socket = context.wrap_socket(server.socket, server_side=True)
            scheme = "https"
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                                  daemon=True)
        thread.start()
        started.append((server, thread))
        return server, f"{scheme}://{host}:{server.server_address[1]}"
    yield start
    for server, thread in started:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def session():
    with LeanSession(pool_size=4) as s:
        yield s


# -- what is sent ----------------------------------------------------------------------

def test_json_body_method_and_session_headers(serve, session):
    _, url = serve()
    session.headers["X-Session"] = "yes"
    answer = session.request("list", f"{url}/echo", json={"paths": ["a/b"]},
                             headers={"X-Vault-Token": "t", "X-Session": None}).json()
    assert answer["method"] == "LIST"
    assert json.loads(answer["body"]) == {"paths": ["a/b"]}
    headers = answer["headers"]
    assert headers["content-type"] == "application/json"
    assert headers["x-vault-token"] == "t"
    assert "x-session" not in headers  # None removes a session header, as in requests
    assert headers["user-agent"] == "jenkins-broker"
    assert headers["accept-encoding"] == "identity"


def test_form_params_cookies_and_both_kinds_of_auth(serve, session):
    _, url = serve()
    answer = session.request("POST", f"{url}/echo", params={"a": "1 2"},
                             data={"newTokenName": "x y", "skipped": None},
                             cookies={"JSESSIONID.1": "abc"}, auth=("ci-bot", "pässword")).json()
    assert answer["path"] == "/echo?a=1+2"
    assert parse_qs(answer["body"]) == {"newTokenName": ["x y"]}
    assert answer["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert answer["headers"]["cookie"] == "JSESSIONID.1=abc"
    assert answer["headers"]["authorization"] == requests.auth._basic_auth_str("ci-bot", "pässword")

    class Custom(AuthBase):
        def __call__(self, request):
            request.headers["Authorization"] = "Bearer custom"
            return request
    answer = session.request("GET", f"{url}/echo", auth=Custom()).json()
    assert answer["headers"]["authorization"] == "Bearer custom"


def test_a_post_without_body_sends_a_zero_length(serve, session):
    _, url = serve()
    answer = session.request("POST", f"{url}/echo").json()
    assert answer["headers"]["content-length"] == "0"


def test_what_it_does_not_do_is_refused(serve, session):
    _, url = serve()
    with pytest.raises(ValueError, match="proxies"):
        session.request("GET", f"{url}/echo", proxies={"http": "http://proxy:3128"})
    with pytest.raises(TypeError):
        session.request("POST", f"{url}/echo", files={"f": b"x"})
    with pytest.raises(requests.exceptions.InvalidJSONError):
        session.request("POST", f"{url}/echo", json={"nan": float("nan")})


# -- keep-alive ------------------------------------------------------------------------

def test_one_connection_serves_sequential_requests(serve, session):
    server, url = serve()
    for _ in range(5):
        assert session.request("GET", f"{url}/echo").status_code == 200
    assert len(server.peers) == 1


def test_connection_close_is_honoured(serve, session):
    server, url = serve()
    for _ in range(3):
        assert session.request("GET", f"{url}/close").text == "bye"
    assert len(server.peers) == 3


def test_an_idle_connection_the_server_closed_is_replaced_not_failed(serve, session):
    server, url = serve()
    assert session.request("GET", f"{url}/close-quietly").status_code == 200
    assert server.closed.wait(10)
    # The server closed without saying so; the pooled socket is now readable (EOF).
    assert session.request("GET", f"{url}/echo").status_code == 200
    assert len(server.peers) == 2


def test_the_pool_keeps_at_most_pool_size_idle_connections(serve):
    server, url = serve()
    results = []
    with LeanSession(pool_size=2) as session:
        def worker():
            results.append(session.request("GET", f"{url}/hang", timeout=10).text)
        threads = [threading.Thread(target=worker) for _ in range(6)]
        for t in threads:
            t.start()
        wait_for(lambda: len(server.peers) == 6, interval=0.005, what="six connections open at once")
        server.release.set()
        for t in threads:
            t.join(10)
        assert results == ["late"] * 6
        pool = next(iter(session._pools.values()))
        assert len(pool.idle) == 2  # four were closed after use
    assert pool.idle == []


# -- redirects -------------------------------------------------------------------------

def test_get_follows_redirects_and_reports_the_final_url(serve, session):
    _, url = serve()
    answer = session.request("GET", f"{url}/redirect?status=302&to=/echo")
    assert answer.status_code == 200 and answer.url == f"{url}/echo"


def test_redirects_not_followed_when_told(serve, session):
    _, url = serve()
    answer = session.request("POST", f"{url}/redirect?status=302&to=/echo", allow_redirects=False)
    assert answer.status_code == 302 and answer.headers["location"] == "/echo"


def test_307_keeps_method_and_body_303_turns_into_get(serve, session):
    _, url = serve()
    kept = session.request("POST", f"{url}/redirect?status=307&to=/echo", json={"a": 1}).json()
    assert kept["method"] == "POST" and json.loads(kept["body"]) == {"a": 1}
    changed = session.request("POST", f"{url}/redirect?status=303&to=/echo", json={"a": 1}).json()
    assert changed["method"] == "GET" and changed["body"] == ""
    assert "content-type" not in changed["headers"]


def test_credentials_do_not_follow_a_redirect_to_another_host(serve, session):
    _, target = serve(host="localhost")
    _, url = serve()
    answer = session.request("GET", f"{url}/redirect?status=302&to={target}/echo",
                             auth=("u", "p")).json()
    assert "authorization" not in answer["headers"]


@pytest.mark.parametrize("old, new, leaves", [
    ("https://j.example/a", "https://j.example/b", False),
    ("http://j.example/a", "https://j.example/b", False),      # upgrade on default ports
    ("http://j.example:80/a", "https://j.example:443/b", False),
    ("https://j.example/a", "http://j.example/b", True),       # downgrade: never
    ("https://j.example/a", "https://j.example:8443/b", True),
    ("http://j.example:8080/a", "https://j.example/b", True),
    ("https://j.example/a", "https://other.example/b", True),
])
def test_which_redirects_drop_credentials(old, new, leaves):
    assert leaves_origin(old, new) is leaves


def test_a_301_keeps_methods_other_than_post(serve, session):
    _, url = serve()
    kept = session.request("DELETE", f"{url}/redirect?status=301&to=/echo").json()
    assert kept["method"] == "DELETE"
    changed = session.request("POST", f"{url}/redirect?status=301&to=/echo", data="x").json()
    assert changed["method"] == "GET"


def test_a_redirect_loop_stops(serve, session):
    _, url = serve()
    session.max_redirects = 5
    with pytest.raises(requests.exceptions.TooManyRedirects, match="Exceeded 5 redirects"):
        session.request("GET", f"{url}/loop")


# -- failures, as requests' exception classes --------------------------------------------

def test_refused_is_a_connection_error_naming_errno():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with LeanSession() as session, pytest.raises(requests.exceptions.ConnectionError) as caught:
        session.request("GET", f"http://127.0.0.1:{port}/", headers={"X-Vault-Token": SECRET})
    assert "[Errno" in str(caught.value) and SECRET not in str(caught.value)


def test_no_answer_in_time_is_a_read_timeout_without_the_token(serve, session):
    server, url = serve()
    with pytest.raises(requests.exceptions.ReadTimeout, match="Read timed out") as caught:
        session.request("GET", f"{url}/hang", timeout=(5, 0.2), headers={"X-Vault-Token": SECRET})
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)
    server.release.set()
    # The timed-out connection was closed, not pooled: the late answer is not read as this one's.
    assert session.request("GET", f"{url}/echo").json()["path"] == "/echo"
    assert len(server.peers) == 2


def test_a_reset_is_a_connection_error(serve, session):
    _, url = serve()
    with pytest.raises(requests.exceptions.ConnectionError, match="Connection"):
        session.request("GET", f"{url}/reset")


def test_an_answer_cut_short_is_a_chunked_encoding_error(serve, session):
    _, url = serve()
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        session.request("GET", f"{url}/truncated")


@pytest.mark.parametrize("url, error", [
    ("127.0.0.1:8200/v1", requests.exceptions.MissingSchema),
    ("/v1/sys/health", requests.exceptions.MissingSchema),
    ("ftp://127.0.0.1/", requests.exceptions.InvalidSchema),
    ("http://127.0.0.1:notaport/", requests.exceptions.InvalidURL),
    ("http:///path", requests.exceptions.InvalidURL),
])
def test_bad_urls(url, error):
    with LeanSession() as session, pytest.raises(error):
        session.request("GET", url)


@pytest.mark.parametrize("headers", [
    {"Jenkins-Crumb": f"abc\n{SECRET}"},
    {"Jenkins-Crumb": f"{SECRET}\r"},
    {"X-Vault-Token": f" {SECRET}"},
    {"Bad Name": SECRET},
    {"X-Number": 5},
])
def test_a_header_that_cannot_be_sent_is_refused_without_its_value(serve, session, headers):
    server, url = serve()
    with pytest.raises(requests.exceptions.InvalidHeader) as caught:
        session.request("GET", f"{url}/echo", headers=headers)
    assert SECRET not in str(caught.value)
    assert server.peers == set()  # nothing was sent


@pytest.mark.parametrize("url, shown", [
    ("https://user:pw@jenkins.example:8443/a/b?token=x#frag", "https://jenkins.example:8443/a/b"),
    ("http://jenkins.example:notaport/x?q=1", "<unparsable URL>"),
    ("http://[::1]:8080/v1/x", "http://[::1]:8080/v1/x"),
])
def test_safe_url(url, shown):
    assert safe_url(url) == shown


def test_url_messages_leave_the_query_out():
    with LeanSession() as session, pytest.raises(requests.exceptions.InvalidSchema) as caught:
        session.request("GET", f"ftp://127.0.0.1/x?token={SECRET}")
    assert SECRET not in str(caught.value)


# -- what is read ----------------------------------------------------------------------

def test_chunked_answers_are_decoded(serve, session):
    _, url = serve()
    assert session.request("GET", f"{url}/chunked").text == "hello chunked world"


@pytest.mark.parametrize("kind, encoded_as, expected", [
    ("text/plain;charset=UTF-8", "utf-8", "café"),
    ("text/html", "latin-1", "café"),            # text/* without charset: Latin-1, as requests
    ("application/json", "utf-8", "café"),
])
def test_text_decoding_follows_requests(serve, session, kind, encoded_as, expected):
    _, url = serve()
    answer = session.request("GET", f"{url}/text", params={"type": kind, "enc": encoded_as})
    assert answer.text == expected


def test_json_errors_are_requests_json_errors(serve, session):
    _, url = serve()
    answer = session.request("GET", f"{url}/notjson")
    with pytest.raises(requests.exceptions.JSONDecodeError) as caught:
        answer.json()
    assert isinstance(caught.value, ValueError)


def test_cookies_status_and_headers(serve, session):
    _, url = serve()
    answer = session.request("GET", f"{url}/cookies")
    assert {c.name: c.value for c in answer.cookies} == {"JSESSIONID.1a2b3c4d": "node0abc",
                                                          "other": "1"}
    assert "node0abc" not in repr(answer.cookies)
    # Attributes unknown to http.cookies neither hide the cookie nor become cookies.
    odd = LeanResponse(200, "OK", CaseInsensitiveDict(), b"", url, [
        "JSESSIONID.ab=x; Path=/; Secure; HttpOnly; Partitioned", "a=1; Priority=High", "flag"])
    assert {c.name: c.value for c in odd.cookies} == {"JSESSIONID.ab": "x", "a": "1"}
    assert answer.headers["SET-COOKIE"].count("Path=/") == 2  # repeated headers are joined
    missing = session.request("GET", f"{url}/nothing")
    assert missing.status_code == 404 and not missing.ok and missing.reason == "Not Found"
    with pytest.raises(requests.exceptions.HTTPError):
        missing.raise_for_status()


def test_head_has_no_body(serve, session):
    _, url = serve()
    answer = session.request("HEAD", f"{url}/echo")
    assert answer.status_code == 200 and answer.content == b""
    assert session.request("GET", f"{url}/echo").json()["method"] == "GET"  # still in step


# -- TLS -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


def _server_context(ca, *, client_ca=None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    if client_ca is not None:
        client_ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def test_tls_verified_against_a_ca_file(serve, ca, tmp_path):
    _, url = serve(_server_context(ca))
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with LeanSession() as session:
        assert session.request("GET", f"{url}/echo", verify=str(bundle)).status_code == 200
        with pytest.raises(requests.exceptions.SSLError, match="certificate verify failed"):
            session.request("GET", f"{url}/echo", verify=True)
        with pytest.warns(InsecureRequestWarning, match="Unverified HTTPS request"):
            assert session.request("GET", f"{url}/echo", verify=False).status_code == 200
    with LeanSession() as session:
        session.verify = str(bundle)  # a session default, as requests has
        assert session.request("GET", f"{url}/echo").status_code == 200


def test_tls_hostname_is_checked(serve, ca, tmp_path):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("vault.example").configure_cert(context)
    _, url = serve(context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with LeanSession() as session, pytest.raises(requests.exceptions.SSLError):
        session.request("GET", f"{url}/echo", verify=str(bundle))


def test_tls_client_certificate(serve, ca, tmp_path):
    client_ca = trustme.CA()
    _, url = serve(_server_context(ca, client_ca=client_ca))
    bundle, cert, key = tmp_path / "ca.pem", tmp_path / "client.pem", tmp_path / "client.key"
    ca.cert_pem.write_to_path(str(bundle))
    issued = client_ca.issue_cert("broker@example")
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    with LeanSession() as session:
        answer = session.request("GET", f"{url}/echo", verify=str(bundle), cert=(str(cert), str(key)))
        assert answer.status_code == 200
    with LeanSession() as session, pytest.raises((requests.exceptions.SSLError,
                                                  requests.exceptions.ConnectionError)):
        session.request("GET", f"{url}/echo", verify=str(bundle))


def test_a_ca_bundle_that_is_not_pem_is_a_tls_error(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate")
    with LeanSession() as session, pytest.raises(requests.exceptions.SSLError, match="TLS settings"):
        session.request("GET", "https://127.0.0.1:1/", verify=str(bundle))


def test_a_missing_ca_bundle_is_named():
    with LeanSession() as session, pytest.raises(OSError, match="CA certificate bundle"):
        session.request("GET", "https://127.0.0.1:1/", verify="/nonexistent/ca.pem")


# -- which session make_session gives --------------------------------------------------

def test_make_session_is_lean_unless_a_proxy_applies(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
                 "http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(make_session("https://vault.example:8200"), LeanSession)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    proxied = make_session("https://vault.example:8200")
    assert isinstance(proxied, requests.Session)
    assert proxied.proxies["https"] == "http://proxy.example:3128"
    monkeypatch.setenv("NO_PROXY", "vault.example")
    assert isinstance(make_session("https://vault.example:8200"), LeanSession)


class _ForwardProxy(BaseHTTPRequestHandler):
    """A plain-HTTP forward proxy: takes absolute-URI requests and relays them."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.seen.append(self.path)
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
    thread = threading.Thread(target=proxy.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
        session = make_session(url)
        answer = session.request("GET", f"{url}/echo", timeout=10)
        assert answer.status_code == 200 and answer.json()["method"] == "GET"
        assert proxy.seen == [f"{url}/echo"]
        session.close()
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join(10)
