"""The transport (jenkins_broker.transport, urllib3 underneath) against a real stdlib
HTTP/1.1 server on loopback.

Each rule the broker relies on is checked here: bodies and headers, keep-alive and its
pool, redirects and which of them drop credentials, the TransportError class for each
way a request fails (and that no message carries a header value), decoding, cookies,
TLS and proxies from the environment.
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
import trustme
from urllib3.exceptions import InsecureRequestWarning

from jenkins_broker import transport
from jenkins_broker.transport import Session, safe_url
from tests.support import wait_for

SECRET = "s.never-in-a-message-0123456789"

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
        server.requests += 1
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
        self.requests = 0
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
    with Session("http://unused.invalid/", pool_size=4, timeout=10) as s:
        yield s


@pytest.fixture(autouse=True)
def no_proxy_from_the_environment(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
                 "http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


# -- what is sent ----------------------------------------------------------------------

def test_json_body_method_and_headers(serve, session):
    _, url = serve()
    session.headers["X-Session"] = "yes"
    answer = session.request("LIST", f"{url}/echo", json={"paths": ["a/b"]},
                             headers={"X-Vault-Token": "t"}).json()
    assert answer["method"] == "LIST"
    assert json.loads(answer["body"]) == {"paths": ["a/b"]}
    headers = answer["headers"]
    assert headers["content-type"] == "application/json"
    assert headers["x-vault-token"] == "t" and headers["x-session"] == "yes"
    assert headers["user-agent"] == "jenkins-broker"
    assert headers["accept-encoding"] == "identity"


def test_form_params_and_a_relative_path(serve):
    _, url = serve()
    with Session(url + "/") as session:
        answer = session.request("POST", "echo", params={"a": "1 2"},
                                 form={"newTokenName": "x y"}).json()
    assert answer["path"] == "/echo?a=1+2"
    assert parse_qs(answer["body"]) == {"newTokenName": ["x y"]}
    assert answer["headers"]["content-type"] == "application/x-www-form-urlencoded"


def test_a_post_without_body_sends_a_zero_length(serve, session):
    _, url = serve()
    answer = session.request("POST", f"{url}/echo").json()
    assert answer["headers"]["content-length"] == "0"


# -- keep-alive ------------------------------------------------------------------------

def test_one_connection_serves_sequential_requests(serve, session):
    server, url = serve()
    for _ in range(5):
        assert session.request("GET", f"{url}/echo").status == 200
    assert len(server.peers) == 1


def test_connection_close_is_honoured(serve, session):
    server, url = serve()
    for _ in range(3):
        assert session.request("GET", f"{url}/close").text == "bye"
    assert len(server.peers) == 3


def test_an_idle_connection_the_server_closed_is_replaced_not_failed(serve, session):
    server, url = serve()
    assert session.request("GET", f"{url}/close-quietly").status == 200
    assert server.closed.wait(10)
    # The server closed without saying so; the pooled socket is now readable (EOF).
    assert session.request("GET", f"{url}/echo").status == 200
    assert len(server.peers) == 2


def test_the_pool_keeps_at_most_pool_size_connections(serve):
    server, url = serve()
    results = []
    with Session(url, pool_size=2, timeout=10) as session:
        def worker():
            results.append(session.request("GET", f"{url}/hang").text)
        threads = [threading.Thread(target=worker) for _ in range(6)]
        for t in threads:
            t.start()
        wait_for(lambda: len(server.peers) == 6, interval=0.005, what="six connections open at once")
        server.release.set()
        for t in threads:
            t.join(10)
        assert results == ["late"] * 6
        pool = session.pool_manager.connection_from_url(url)
        assert pool.num_connections == 6 and pool.pool.qsize() == 2  # four closed after use


# -- redirects -------------------------------------------------------------------------

def test_get_follows_redirects_when_asked_and_reports_the_final_url(serve, session):
    _, url = serve()
    answer = session.request("GET", f"{url}/redirect?status=302&to=/echo", redirect=True)
    assert answer.status == 200 and answer.url == f"{url}/echo"


def test_redirects_are_not_followed_by_default(serve, session):
    _, url = serve()
    answer = session.request("POST", f"{url}/redirect?status=302&to=/echo")
    assert answer.status == 302 and answer.headers["location"] == "/echo"
    assert answer.url == f"{url}/redirect?status=302&to=/echo"


def test_credentials_do_not_follow_a_redirect_to_another_host(serve, session):
    _, target = serve(host="localhost")
    _, url = serve()
    answer = session.request("GET", f"{url}/redirect?status=302&to={target}/echo", redirect=True,
                             headers={"Authorization": "Basic " + SECRET,
                                      "Cookie": "JSESSIONID=" + SECRET}).json()
    assert "authorization" not in answer["headers"] and "cookie" not in answer["headers"]


def test_credentials_do_not_follow_a_redirect_to_another_port_or_scheme(serve, session):
    _, target = serve()
    _, url = serve()
    answer = session.request("GET", f"{url}/redirect?status=302&to={target}/echo", redirect=True,
                             headers={"Authorization": "Basic " + SECRET}).json()
    assert "authorization" not in answer["headers"]
    same = session.request("GET", f"{url}/redirect?status=302&to={url}/echo", redirect=True,
                           headers={"Authorization": "Basic x"}).json()
    assert same["headers"]["authorization"] == "Basic x"  # same origin: kept


def test_a_303_turns_into_a_get_without_body(serve, session):
    _, url = serve()
    changed = session.request("POST", f"{url}/redirect?status=303&to=/echo", json={"a": 1},
                              redirect=True).json()
    assert changed["method"] == "GET" and changed["body"] == ""


def test_a_redirect_loop_stops(serve, session):
    _, url = serve()
    with pytest.raises(transport.TooManyRedirects, match="too many redirects"):
        session.request("GET", f"{url}/loop", redirect=True)


# -- failures --------------------------------------------------------------------------

def test_refused_is_connect_failed_naming_why():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Session(f"http://127.0.0.1:{port}/") as session, \
            pytest.raises(transport.ConnectFailed) as caught:
        session.request("GET", "x", headers={"X-Vault-Token": SECRET})
    assert "Connection refused" in str(caught.value) and SECRET not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_no_answer_in_time_is_a_read_timeout_without_the_token(serve, session):
    server, url = serve()
    with pytest.raises(transport.ReadTimeout, match="read timed out") as caught:
        session.request("GET", f"{url}/hang", timeout=(5, 0.2), headers={"X-Vault-Token": SECRET})
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)
    server.release.set()
    # The timed-out connection was closed, not pooled: the late answer is not read as this one's.
    assert session.request("GET", f"{url}/echo").json()["path"] == "/echo"
    assert len(server.peers) == 2


def test_a_request_is_never_sent_twice(serve, session):
    server, url = serve()
    with pytest.raises(transport.ConnectionBroken):
        session.request("POST", f"{url}/reset", form={"x": "1"})
    assert server.requests == 1


def test_an_answer_cut_short_is_a_broken_connection(serve, session):
    _, url = serve()
    with pytest.raises(transport.ConnectionBroken):
        session.request("GET", f"{url}/truncated")


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "http://127.0.0.1:notaport/",
                                 "http:///path"])
def test_bad_urls_are_bad_requests(session, url):
    with pytest.raises(transport.BadRequest):
        session.request("GET", url + f"?token={SECRET}")


@pytest.mark.parametrize("headers", [
    {"Jenkins-Crumb": f"abc\n{SECRET}"},
    {"Jenkins-Crumb": f"{SECRET}\r"},
    {"X-Vault-Token": f" {SECRET}"},
    {"Bad Name": SECRET},
    {"X-Number": 5},
])
def test_a_header_that_cannot_be_sent_is_refused_without_its_value(serve, session, headers):
    server, url = serve()
    with pytest.raises(transport.BadRequest) as caught:
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


def test_messages_leave_the_query_out(session):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(transport.ConnectFailed) as caught:
        session.request("GET", f"http://127.0.0.1:{port}/x?token={SECRET}")
    assert SECRET not in str(caught.value) and caught.value.url == f"http://127.0.0.1:{port}/x"


# -- what is read ----------------------------------------------------------------------

def test_chunked_answers_are_decoded(serve, session):
    _, url = serve()
    assert session.request("GET", f"{url}/chunked").text == "hello chunked world"


@pytest.mark.parametrize("kind, encoded_as, expected", [
    ("text/plain;charset=UTF-8", "utf-8", "café"),
    ("text/html; charset=ISO-8859-1", "latin-1", "café"),
    ("application/json", "utf-8", "café"),     # no charset: UTF-8
    ("text/html", "latin-1", "caf\ufffd"),      # no charset, not UTF-8: replaced, not raised
])
def test_text_decoding(serve, session, kind, encoded_as, expected):
    _, url = serve()
    answer = session.request("GET", f"{url}/text", params={"type": kind, "enc": encoded_as})
    assert answer.text == expected


def test_json_errors_are_value_errors(serve, session):
    _, url = serve()
    with pytest.raises(ValueError):
        session.request("GET", f"{url}/notjson").json()


def test_cookies_status_and_headers(serve, session):
    _, url = serve()
    answer = session.request("GET", f"{url}/cookies")
    assert answer.cookies == {"JSESSIONID.1a2b3c4d": "node0abc", "other": "1"}
    assert answer.headers.getlist("set-cookie")[0].startswith("JSESSIONID.1a2b3c4d=")
    assert "node0abc" not in repr(answer)
    missing = session.request("GET", f"{url}/nothing")
    assert missing.status == 404 and not missing.ok and missing.reason == "Not Found"


def test_head_has_no_body(serve, session):
    _, url = serve()
    answer = session.request("HEAD", f"{url}/echo")
    assert answer.status == 200 and answer.body == b""
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


def test_tls_verified_against_a_ca_file_or_pem_text(serve, ca, tmp_path):
    _, url = serve(_server_context(ca))
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with Session(url, verify=str(bundle)) as session:
        assert session.request("GET", "echo").status == 200
    with Session(url, ca_data=ca.cert_pem.bytes().decode()) as session:
        assert session.request("GET", "echo").status == 200
    with Session(url) as session, pytest.raises(transport.TLSFailure,
                                                match="certificate verify failed"):
        session.request("GET", "echo")
    with Session(url, verify=False) as session, pytest.warns(InsecureRequestWarning):
        assert session.request("GET", "echo").status == 200


def test_tls_hostname_is_checked(serve, ca, tmp_path):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("vault.example").configure_cert(context)
    _, url = serve(context)
    with Session(url, ca_data=ca.cert_pem.bytes().decode()) as session, \
            pytest.raises(transport.TLSFailure):
        session.request("GET", "echo")


def test_tls_client_certificate(serve, ca, tmp_path):
    client_ca = trustme.CA()
    _, url = serve(_server_context(ca, client_ca=client_ca))
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    issued = client_ca.issue_cert("broker@example")
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    pem = ca.cert_pem.bytes().decode()
    with Session(url, ca_data=pem, cert=(str(cert), str(key))) as session:
        assert session.request("GET", "echo").status == 200
    with Session(url, ca_data=pem) as session, \
            pytest.raises((transport.TLSFailure, transport.ConnectionBroken)):
        session.request("GET", "echo")


def test_tls_files_that_cannot_be_used_are_named_when_the_session_is_built(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate")
    with pytest.raises(transport.LocalFailure, match="CA bundle"):
        Session("https://127.0.0.1:1/", verify=str(bundle))
    with pytest.raises(transport.LocalFailure, match="does not exist"):
        Session("https://127.0.0.1:1/", verify="/nonexistent/ca.pem")
    with pytest.raises(transport.LocalFailure, match="client certificate"):
        Session("https://127.0.0.1:1/", cert=str(bundle))


# -- proxies from the environment --------------------------------------------------------

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
    thread = threading.Thread(target=proxy.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("HTTP_PROXY", f"http://user:pw@127.0.0.1:{proxy.server_address[1]}")
        with Session(url, timeout=10) as session:
            answer = session.request("GET", f"{url}/echo")
        assert answer.status == 200 and answer.json()["method"] == "GET"
        assert [path for path, _ in proxy.seen] == [f"{url}/echo"]
        assert proxy.seen[0][1].startswith("Basic ")  # the proxy's own credentials
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join(10)


@pytest.mark.parametrize("raised", [
    http.client.InvalidURL(f"URL can't contain control characters. '/x?t={SECRET}'"),
    http.client.RemoteDisconnected(SECRET),
    RuntimeError(SECRET),
])
def test_whatever_escapes_urllib3_is_translated_by_class_only(raised):
    from tests.jenkins.stub import stub_session

    session = stub_session(lambda sent: raised, url="http://jenkins.example/")
    with pytest.raises(transport.TransportError) as caught:
        session.request("GET", "x", headers={"Authorization": "Basic " + SECRET})
    assert SECRET not in str(caught.value) and type(raised).__name__ in str(caught.value)


def test_a_redirect_from_the_sessions_own_server_follows_the_same_rules(serve):
    # Requests to the base URL's server take the pool directly; a redirect answer is
    # followed by the pool manager, with its rules for credentials.
    _, target = serve(host="localhost")
    _, url = serve()
    with Session(url) as session:
        moved = session.request("GET", f"redirect?status=302&to={target}/echo", redirect=True,
                                headers={"Authorization": "Basic " + SECRET}).json()
        kept = session.request("POST", "redirect?status=307&to=/echo", json={"a": 1},
                               redirect=True, headers={"Authorization": "Basic x"}).json()
        not_asked = session.request("GET", f"redirect?status=302&to={target}/echo")
    assert "authorization" not in moved["headers"]
    assert kept["method"] == "POST" and json.loads(kept["body"]) == {"a": 1}
    assert kept["headers"]["authorization"] == "Basic x"
    assert not_asked.status == 302
