"""The HTTP server's own rules (plugin/jenkins_broker/server/httpd.py), on raw sockets
against a small WSGI app that echoes what it was given."""

from __future__ import annotations

import contextlib
import http.client
import json
import select
import socket
import time
from types import SimpleNamespace

import pytest

from jenkins_broker.server import httpd
from jenkins_broker.server.httpd import HTTPServer
from tests.support.wire import Answer, address, assert_vault_error, read_answer, request_bytes, send_raw


def _echo(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else environ["wsgi.input"].read()
    out = json.dumps({"path": environ["PATH_INFO"], "body": body.decode("latin-1"),
                      "token": environ.get("HTTP_X_VAULT_TOKEN")}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
    return [out]


@pytest.fixture(scope="module")
def server():
    srv = HTTPServer(_echo).start()
    yield SimpleNamespace(broker_url=srv.url, server=srv)
    srv.stop()


def _exchange(server, data: bytes) -> tuple[list[Answer], bool]:
    """Send ``data``; every answer the server gives, and whether it then closed."""
    answers: list[Answer] = []
    with socket.create_connection(address(server), timeout=5) as sock:
        sock.sendall(data)
        rest = b""
        while True:
            try:
                answer, rest = read_answer(sock, rest)
            except ConnectionError:
                return answers, True
            except TimeoutError:
                return answers, False
            answers.append(answer)
            if answer.headers.get("connection") == "close":
                return answers, sock.recv(1) == b""


SMUGGLED = b"GET /v1/smuggled HTTP/1.1\r\nHost: broker\r\n\r\n"


def test_content_length_with_transfer_encoding_is_400_and_the_rest_never_runs(server):
    body = b"0\r\n\r\n" + SMUGGLED
    data = request_bytes("POST", b"/v1/first", [(b"Content-Length", str(len(body)).encode()),
                                                (b"Transfer-Encoding", b"chunked")], body)
    answers, closed = _exchange(server, data)
    assert len(answers) == 1 and closed
    assert_vault_error(answers[0], 400)


@pytest.mark.parametrize("coding", [b"chunked, chunked", b"gzip, chunked", b"chunked;x=1", b"identity"])
def test_only_the_exact_chunked_coding(server, coding):
    data = request_bytes("POST", b"/v1/x", [(b"Transfer-Encoding", coding)], b"0\r\n\r\n")
    assert_vault_error(send_raw(server, data, timeout=5), 400)


def test_chunked_alone_is_served(server):
    data = request_bytes("POST", b"/v1/x", [(b"Transfer-Encoding", b"Chunked")], b"2\r\nhi\r\n0\r\n\r\n")
    answer = send_raw(server, data, timeout=5)
    assert answer.status == 200 and answer.json()["body"] == "hi"


def test_transfer_encoding_in_http_1_0_is_400_and_the_body_never_runs(server):
    data = (b"POST /v1/first HTTP/1.0\r\nConnection: Keep-Alive\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"0 /v1/smuggled HTTP/1.1\r\n\r\n")
    answers, closed = _exchange(server, data)
    assert len(answers) == 1 and closed
    assert_vault_error(answers[0], 400)


def test_two_host_headers_are_400(server):
    data = request_bytes("GET", b"/v1/x", [(b"Host", b"evil.example")])
    assert_vault_error(send_raw(server, data, timeout=5), 400)


@pytest.mark.parametrize("name", [b"X_Vault_Token", b"X-Vault_Token", b"Foo_Bar"])
def test_header_names_with_underscores_are_400(server, name):
    data = request_bytes("GET", b"/v1/x", [(b"X-Vault-Token", b"good"), (name, b"other")])
    assert_vault_error(send_raw(server, data, timeout=5), 400, secret="other")


def test_an_ordinary_request_still_passes(server):
    answer = send_raw(server, request_bytes("GET", b"/v1/x", [(b"X-Vault-Token", b"t")]), timeout=5)
    assert answer.status == 200 and answer.json()["token"] == "t"


@contextlib.contextmanager
def _running(app=_echo, **options):
    """An :class:`HTTPServer` with ``options``, started; its address for ``wire``; stopped
    at the end, also on failure."""
    srv = HTTPServer(app, **options).start()
    try:
        yield SimpleNamespace(broker_url=srv.url, server=srv)
    finally:
        srv.stop()


def _until_the_server_ends_it(sock: socket.socket, piece: bytes, every: float,
                              at_most: float) -> tuple[float | None, bytes]:
    """Send ``piece`` every ``every`` seconds until the server answers or closes the
    connection (or ``at_most`` seconds pass); the seconds that took (None if it never
    did) and what the server sent."""
    start = time.monotonic()
    got = b""
    while time.monotonic() - start < at_most:
        try:
            sock.sendall(piece)
            if not select.select([sock], [], [], every)[0]:
                continue                   # nothing from the server yet
            chunk = sock.recv(65536)
        except OSError:                    # reset, or a broken pipe: cut
            return time.monotonic() - start, got
        got += chunk
        if not chunk or b"\r\n\r\n" in got:
            return time.monotonic() - start, got
    return None, got


def _assert_cut(sock: socket.socket, piece: bytes, what: str) -> None:
    """Feeding ``piece`` every 0.3 s, the server (deadline 1 s) ends the request well
    before the 12 s this would go on for, with a 408 if it could still answer."""
    took, sent = _until_the_server_ends_it(sock, piece, every=0.3, at_most=12)
    assert took is not None, f"{what} sent a byte at a time held its worker for 12 s"
    assert took < 6                        # cut near 1 s; the margin is for slow CI
    if sent:
        answer, _ = read_answer(sock, sent)
        assert "not received within 1 s" in assert_vault_error(answer, 408)[0]
        assert answer.headers.get("connection") == "close"


def test_a_request_whose_headers_trickle_in_is_cut_at_the_deadline():
    with _running(request_deadline=1.0) as target:
        with socket.create_connection(address(target), timeout=10) as sock:
            sock.sendall(b"GET /v1/x HTTP/1.1\r\n")
            _assert_cut(sock, b"X-Slow: 1\r\n", "a header line")


def test_a_new_connection_that_sends_nothing_is_cut_at_the_deadline():
    # cheroot hands a new connection to a worker at once: it waits there, not in the selector.
    with _running(request_deadline=1.0, idle_timeout=30) as target:
        with socket.create_connection(address(target), timeout=10) as sock:
            _assert_cut(sock, b"", "a silent connection")


TRICKLED_BODIES = {                        # the framing header, and one piece of the body
    "content-length": (b"Content-Length: 1000", b"x"),
    "chunked": (b"Transfer-Encoding: chunked", b"1\r\nx\r\n"),  # each chunk a whole read
}


@pytest.mark.parametrize("framing", sorted(TRICKLED_BODIES))
def test_a_request_whose_body_trickles_in_is_cut_at_the_deadline(framing):
    # One worker for the trickler, one free.
    with _running(request_deadline=1.0, threads=2, spare_threads=0) as target:
        header, piece = TRICKLED_BODIES[framing]
        with socket.create_connection(address(target), timeout=10) as sock:
            sock.sendall(b"POST /v1/x HTTP/1.1\r\nHost: broker\r\n" + header + b"\r\n\r\n")
            sock.sendall(piece)
            health = send_raw(target, request_bytes("GET", b"/v1/sys/health", []), timeout=5)
            assert health.status == 200             # answered while the body trickles in
            _assert_cut(sock, piece, "a body")


def test_a_tls_handshake_that_trickles_in_is_cut_at_the_deadline(tmp_path):
    trustme = pytest.importorskip("trustme")
    pem = tmp_path / "server.pem"
    trustme.CA().issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(pem))
    with _running(request_deadline=1.0, tls_cert=str(pem), tls_key=str(pem)) as target:
        with socket.create_connection(address(target), timeout=10) as sock:
            sock.sendall(b"\x16\x03\x01\x02\x00")  # a handshake record of 512 bytes, coming
            took, _ = _until_the_server_ends_it(sock, b"\x00", every=0.3, at_most=12)
        assert took is not None, "a handshake sent a byte at a time held its worker for 12 s"
        assert took < 6                             # cut near 1 s; the margin is for slow CI


def _slow(environ, start_response):
    """Reads its body late and answers slowly: each step longer than the test's deadline."""
    time.sleep(1.0)
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])    # chunked: no length

    def pieces():
        for _ in range(2):
            yield body
            time.sleep(0.6)
    return pieces()


def test_the_deadline_never_cuts_the_app_nor_its_answer():
    with _running(_slow, request_deadline=0.5) as target:
        conn = http.client.HTTPConnection(*address(target), timeout=10)
        try:
            conn.request("POST", "/v1/x", body=b"abc")
            resp = conn.getresponse()
            assert resp.status == 200 and resp.read() == b"abcabc"
        finally:
            conn.close()


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout():
    with _running(idle_timeout=1) as target:
        with socket.create_connection(address(target), timeout=10) as sock:
            sock.sendall(request_bytes("GET", b"/v1/x", []))
            answer, rest = read_answer(sock)
            assert answer.status == 200 and answer.headers.get("connection") != "close"
            start = time.monotonic()
            assert rest + sock.recv(1) == b""       # blocks until the server closes it
            assert time.monotonic() - start < 6     # near 1 s; the margin is for slow CI


def test_the_pool_has_the_spare_threads_beyond_the_workers():
    with _running(threads=3, spare_threads=5) as target:
        assert len(target.server._server.requests._threads) == 8


def test_bodies_are_read_whole_and_the_connection_kept(server):
    first = request_bytes("POST", b"/v1/one", [(b"Content-Length", b"3")], b"abc")
    second = request_bytes("POST", b"/v1/two", [(b"Transfer-Encoding", b"chunked")],
                           b"2\r\nde\r\n1\r\nf\r\n0\r\nX-Trailer: 1\r\n\r\n")
    third = request_bytes("GET", b"/v1/three", [])
    with socket.create_connection(address(server), timeout=5) as sock:
        sock.sendall(first + second + third)
        rest = b""
        for path, body in (("/v1/one", "abc"), ("/v1/two", "def"), ("/v1/three", "")):
            answer, rest = read_answer(sock, rest)
            assert answer.status == 200 and answer.json() == {"path": path, "body": body, "token": None}


def test_bodies_over_1_MB_are_413_before_the_app(server):
    big = b"x" * (httpd.MAX_BODY + 1)
    for framing, data in ((b"Content-Length", str(len(big)).encode()), (b"Transfer-Encoding", b"chunked")):
        body = big if framing == b"Content-Length" else b"%x\r\n%s\r\n0\r\n\r\n" % (len(big), big)
        answer = send_raw(server, request_bytes("POST", b"/v1/x", [(framing, data)], body), timeout=5)
        assert "1 MB" in assert_vault_error(answer, 413)[0]
        assert answer.headers.get("connection") == "close"


def test_the_body_limit_is_the_apps():
    from jenkins_broker.web import create_app
    assert create_app(SimpleNamespace()).config["MAX_CONTENT_LENGTH"] == httpd.MAX_BODY


@pytest.mark.parametrize("chunks", [b"zz\r\nab\r\n0\r\n\r\n", b"2\r\nabc\r\n0\r\n\r\n"])
def test_a_malformed_chunked_body_is_400_not_500(server, chunks):
    data = request_bytes("POST", b"/v1/x", [(b"Transfer-Encoding", b"chunked")], chunks)
    assert "chunked" in assert_vault_error(send_raw(server, data, timeout=5), 400)[0]


def test_health_answers_while_sixty_slow_and_idle_connections_are_open(server):
    addr = address(server)
    held = []
    try:
        for n in range(60):
            sock = socket.create_connection(addr, timeout=10)
            if n % 2:
                sock.sendall(b"GET /v1/x HTTP/1.1\r\n")   # holds a worker until the deadline
            held.append(sock)
        time.sleep(0.3)
        answer = send_raw(server, request_bytes("GET", b"/v1/sys/health", []), timeout=5)
        assert answer.status == 200
    finally:
        for sock in held:
            sock.close()
