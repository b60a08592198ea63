"""Requests whose bytes are exactly these: through ``http.client`` or a raw socket, so what
is sent is what the test wrote (``requests`` would normalise ``..``, encode bytes and
reject headers); and the check that an answer is an error in Vault's shape.

Every function takes the ``stack`` of :mod:`tests.support.stack`, whose broker it talks to.
"""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class Answer:
    """An HTTP answer: status, headers (names in lower case), body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self):
        return json.loads(self.body)


def address(stack, *, vault: bool = False) -> tuple[str, int]:
    """The (host, port) the stack's broker (or, with ``vault``, its OpenBao) listens on."""
    url = urlsplit(stack.bao.addr if vault else stack.broker_url)
    return url.hostname, url.port


def send(stack, method: str, path: str, headers: dict | None = None, body: bytes | None = None,
         timeout: float = 15, *, vault: bool = False) -> Answer:
    """One request on a new connection; ``path`` and header values go out as given (to
    the broker, or with ``vault`` to OpenBao itself)."""
    conn = http.client.HTTPConnection(*address(stack, vault=vault), timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def read_answer(sock: socket.socket, buffer: bytes = b"") -> tuple[Answer, bytes]:
    """Read one HTTP response (with a Content-Length) from ``sock``; return it and what follows."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before a complete answer: {buffer[:200]!r}")
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed in the middle of an answer")
        rest += chunk
    return Answer(status, headers, rest[:length]), rest[length:]


def send_raw(stack, data: bytes, timeout: float = 15) -> Answer:
    """Send raw bytes (a whole request) and read the first answer."""
    with socket.create_connection(address(stack), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered before reading it all (e.g. a header limit): read that
        return read_answer(sock)[0]


def request_bytes(method: str, target: bytes, headers: list[tuple[bytes, bytes]],
                  body: bytes = b"") -> bytes:
    """A whole HTTP/1.1 request, byte for byte: request line, ``Host``, ``headers``, body."""
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: broker"]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def assert_vault_error(answer: Answer, *statuses: int, secret: str | None = None) -> list[str]:
    """``answer`` is one of ``statuses`` (all 4xx) with a JSON body of exactly
    ``{"errors": [non-empty strings]}``, and does not echo ``secret``."""
    assert all(400 <= s < 500 for s in statuses)
    assert answer.status in statuses, f"{answer.status} {answer.body[:300]!r}"
    assert answer.headers.get("content-type", "").startswith("application/json"), answer.headers
    body = json.loads(answer.body)
    assert isinstance(body, dict) and list(body) == ["errors"], body
    errors = body["errors"]
    assert isinstance(errors, list) and errors, body
    assert all(isinstance(e, str) and e.strip() for e in errors), body
    if secret:
        assert secret.encode() not in answer.body, "the error message echoes the token"
    return errors


def comparable(status: int, body: bytes):
    """An answer as two answers to the same request compare: the JSON body without its
    ``request_id`` (one per request), or the raw bytes of a body that is not JSON."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return status, body
    if isinstance(parsed, dict):
        parsed.pop("request_id", None)
    return status, parsed


def assert_answered_by_vault(stack, method: str, path: str, headers: dict | None = None,
                             body: bytes | None = None) -> Answer:
    """The broker passes the request to Vault: its answer is the one OpenBao itself gives
    to the same request (status and body; a JSON body compared without ``request_id``)."""
    through = send(stack, method, path, headers, body)
    direct = send(stack, method, path, headers, body, vault=True)
    assert comparable(through.status, through.body) == comparable(direct.status, direct.body), (
        f"{method} {path[:80]}: through the broker {through.status} {through.body[:200]!r}, "
        f"from Vault {direct.status} {direct.body[:200]!r}")
    return through
