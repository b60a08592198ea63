"""Bodies: over 1 MB (plain or chunked) a 413; not a JSON object, deeply nested, any
Content-Type a 400 unless the JSON is good; a Content-Length that is not a length a 400
at once; an unread chunked body never taken for a second request."""

from __future__ import annotations

import json
import socket

import pytest

from tests.support.bad_input import MB, ROLE
from tests.support.wire import address, assert_vault_error, read_answer, request_bytes, send, send_raw

pytestmark = pytest.mark.integration


BODY_PATHS = [
    ("POST", f"/v1/jenkins/creds/{ROLE}"), ("PUT", "/v1/sys/leases/renew"),
    ("PUT", "/v1/sys/leases/revoke"), ("PUT", "/v1/sys/leases/lookup"),
    ("POST", "/v1/jenkins/config"), ("PUT", "/v1/jenkins/credentials/body-test"),
    ("POST", "/v1/jenkins/roles/body-test"), ("POST", f"/v1/jenkins/revoke/{ROLE}"),
]


@pytest.mark.parametrize("method,path", BODY_PATHS, ids=[p for _, p in BODY_PATHS])
def test_bodies_over_1_MB_are_413(env, method, path):
    big = b'{"ttl": "5m", "padding": "' + b"x" * MB + b'"}'
    answer = send(env.stack, method, path, env.json_headers(), big)
    errors = assert_vault_error(answer, 413)
    assert "1 MB" in errors[0]


def test_chunked_bodies_over_1_MB_are_413(env):
    payload = b'{"ttl": "5m", "padding": "' + b"x" * (2 * MB) + b'"}'
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(payload[i:i + 65536]), payload[i:i + 65536])
                      for i in range(0, len(payload), 65536)) + b"0\r\n\r\n"
    data = request_bytes("POST", f"/v1/jenkins/creds/{ROLE}".encode(),
                         [(b"X-Vault-Token", env.root.encode()), (b"Content-Type", b"application/json"),
                          (b"Transfer-Encoding", b"chunked")], chunks)
    assert_vault_error(send_raw(env.stack, data), 413)


def test_a_chunked_body_under_1_MB_is_read(env):
    payload = b'{"ttl": "5m"}'
    data = request_bytes("POST", f"/v1/jenkins/creds/{ROLE}".encode(),
                         [(b"X-Vault-Token", env.root.encode()), (b"Transfer-Encoding", b"chunked")],
                         b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload))
    answer = send_raw(env.stack, data)
    assert answer.status == 200 and json.loads(answer.body)["lease_duration"] == 300, answer.body


NOT_JSON = {
    "truncated": b'{"ttl": "5m"', "no-value": b'{"ttl": }', "single-quotes": b"{'ttl': '5m'}",
    "trailing-garbage": b"{} x", "two-documents": b"{}{}", "bare-word": b"ttl",
    "invalid-utf8": b"\xff\xfe\xfd",
"latin1-bytes": b'{"ttl": "\xe9"}', "nul-byte": b"\x00",
    "huge-number": b'{"ttl": 1' + b"0" * 5000 + b"}", "form": b"ttl=5m",
}
NOT_AN_OBJECT = {"array": b"[]", "array-of-object": b'[{"ttl": "5m"}]', "string": b'"5m"',
                 "number": b"5", "true": b"true", "null": b"null"}
DEEPLY_NESTED = {"arrays": b"[" * 100_000 + b"]" * 100_000,
                 "objects": b'{"a":' * 100_000 + b"1" + b"}" * 100_000}


@pytest.mark.parametrize("body", [*NOT_JSON.values(), *NOT_AN_OBJECT.values()],
                         ids=[*NOT_JSON.keys(), *NOT_AN_OBJECT.keys()])
def test_bodies_that_are_not_a_json_object_are_400(env, body):
    for method, path in BODY_PATHS:
        answer = send(env.stack, method, path, env.json_headers(), body)
        try:
            errors = assert_vault_error(answer, 400)
        except AssertionError as exc:
            raise AssertionError(f"{method} {path}: {exc}") from None
        assert "body" in errors[0], errors


@pytest.mark.parametrize("body", DEEPLY_NESTED.values(), ids=DEEPLY_NESTED.keys())
def test_deeply_nested_json_is_400(env, body):
    assert_vault_error(send(env.stack, "POST", f"/v1/jenkins/creds/{ROLE}", env.json_headers(), body), 400)


@pytest.mark.parametrize("content_type", [
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
    "application/xml", "application/json; charset=latin-1", "application/octet-stream", "",
    "\u00e9/\u00e9",
])
def test_content_type_does_not_matter_only_the_json_does(env, content_type):
    """Vault reads every body as JSON whatever its Content-Type; so does the broker."""
    headers = {**env.auth, "Content-Type": content_type.encode("utf-8")}
    bad = send(env.stack, "POST", f"/v1/jenkins/creds/{ROLE}", headers, b'{"ttl": "never"}')
    assert_vault_error(bad, 400)
    form = send(env.stack, "POST", f"/v1/jenkins/creds/{ROLE}", headers, b"ttl=5m")
    assert_vault_error(form, 400)


# -- Content-Length that is not a length ---------------------------------------------------


@pytest.mark.parametrize("length", [b"-1", b"1_0", b"abc", b"2, 5"],
                         ids=["negative", "underscore", "letters", "two-values"])
def test_a_content_length_that_is_not_a_number_is_400_at_once(env, length):
    data = request_bytes("POST", f"/v1/jenkins/creds/{ROLE}".encode(),
                         [(b"X-Vault-Token", env.root.encode()), (b"Content-Length", length)], b"{}")
    assert_vault_error(send_raw(env.stack, data, timeout=2), 400)


def test_two_different_content_lengths_are_400_at_once(env):
    data = request_bytes("POST", f"/v1/jenkins/creds/{ROLE}".encode(),
                         [(b"X-Vault-Token", env.root.encode()), (b"Content-Length", b"2"),
                          (b"Content-Length", b"5")], b"{}")
    assert_vault_error(send_raw(env.stack, data, timeout=2), 400)


def test_an_unread_chunked_body_is_not_taken_for_a_second_request(env):
    inner = b"GET /v1/sys/health HTTP/1.1\r\nHost: broker\r\n\r\n"
    data = request_bytes("POST", f"/v1/jenkins/creds/{ROLE}".encode(), [(b"Transfer-Encoding", b"chunked")],
                         b"%x\r\n%s\r\n0\r\n\r\n" % (len(inner), inner))
    with socket.create_connection(address(env.stack), timeout=5) as sock:
        sock.sendall(data)
        first, rest = read_answer(sock)
        assert_vault_error(first, 403)
        sock.settimeout(1)
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
        except TimeoutError:
            pass
    assert rest == b"", f"a second answer on the connection: {rest[:200]!r}"
