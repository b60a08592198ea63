"""The HTTP server's own rules (plugin/jenkins_broker/server/httpd.py), on raw sockets
against a small WSGI app that echoes what it was given."""

from __future__ import annotations

import json
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


def test_a_request_whose_headers_trickle_in_is_cut_at_the_deadline(monkeypatch):
    monkeypatch.setattr(httpd, "REQUEST_DEADLINE", 1.0)
    srv = HTTPServer(_echo).start()
    try:
        with socket.create_connection(address(SimpleNamespace(broker_url=srv.url)), timeout=10) as sock:
            sock.sendall(b"GET /v1/x HTTP/1.1\r\n")
            start = time.monotonic()
            with pytest.raises(OSError):     # a header line every 0.3 s: never finishes
                for n in range(40):
                    time.sleep(0.3)
                    sock.sendall(b"X-Slow-%d: 1\r\n" % n)
                    if time.monotonic() - start > 1.5 and sock.recv(1, socket.MSG_DONTWAIT) == b"":
                        raise ConnectionResetError("closed")
            assert time.monotonic() - start < 8     # cut near 1 s, well before the 12 s of lines
    finally:
        srv.stop()


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
