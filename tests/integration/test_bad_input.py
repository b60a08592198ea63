"""Bad input never breaks the broker: each case below gets a clear 4xx in Vault's error
shape (``{"errors": [non-empty strings]}``), never a 5xx, a hang or a dropped connection.

Requests go out through ``http.client`` or a raw socket, so what is sent is exactly what
is written here (``requests`` would normalise ``..``, encode bytes and reject headers).
The broker runs behind cheroot, as in production (the ``stack`` fixture).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.integration

ROLE = "bad-input"
ROLE_BODY = {"jenkins_user": "ci-bot", "strategy": "user-token", "credential": "ci-bot-token"}
CREDENTIAL_BODY = {"username": "ci-bot", "token": "not-a-real-token"}
MB = 1024 * 1024


# -- sending exactly these bytes ------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self):
        return json.loads(self.body)


def _address(stack) -> tuple[str, int]:
    url = urlsplit(stack.broker_url)
    return url.hostname, url.port


def send(stack, method: str, path: str, headers: dict | None = None, body: bytes | None = None,
         timeout: float = 15) -> Answer:
    """One request on a new connection; ``path`` and header values go out as given."""
    conn = http.client.HTTPConnection(*_address(stack), timeout=timeout)
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


def _read_answer(sock: socket.socket, buffer: bytes = b"") -> tuple[Answer, bytes]:
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
    with socket.create_connection(_address(stack), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered before reading it all (e.g. a header limit): read that
        return _read_answer(sock)[0]


def request_bytes(method: str, target: bytes, headers: list[tuple[bytes, bytes]],
                  body: bytes = b"") -> bytes:
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


# -- fixtures -------------------------------------------------------------------------------


@dataclass
class Env:
    stack: object
    root: str
    lease_id: str

    @property
    def auth(self) -> dict:
        return {"X-Vault-Token": self.root}

    def json_headers(self) -> dict:
        return {**self.auth, "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def env(stack):
    stack.role(ROLE, ttl="10m", max_ttl="1h")
    root = stack.bao.root_token
    minted = stack.mint(ROLE, root)
    assert minted.status_code == 200, minted.text
    lease_id = minted.json()["lease_id"]
    return Env(stack, root, lease_id)


def _lookup(stack, root, lease_id) -> dict:
    answer = send(stack, "PUT", "/v1/sys/leases/lookup", {"X-Vault-Token": root},
                  json.dumps({"lease_id": lease_id}).encode())
    assert answer.status == 200, answer.body
    return answer.json()["data"]


# -- role and credential names --------------------------------------------------------------

# As they appear in the request target (percent-encoded where a client would encode).
BAD_NAMES = {
    "dot-dot": "..",
    "dot-dot-encoded": "%2e%2e",
    "dot-dot-segment": "a/../b",
    "dot-dot-segment-encoded": "a%2f..%2fb",
    "slash-encoded": "a%2fb",
    "slash-encoded-upper": "a%2Fb",
    "dot": ".",
    "two-segments": "a/b",
    "nul": "%00",
    "nul-inside": "a%00b",
    "soh": "a%01b",
    "tab": "a%09b",
    "cr": "a%0db",
    "newline": "%0a",
    "newline-inside": "a%0ab",
    "del": "a%7fb",
    "c1-control": "a%c2%85b",
    "line-separator": "a%e2%80%a8b",
    "space": "a%20b",
    "percent": "a%25b",
    "question-mark": "a%3fb",
    "hash": "a%23b",
    "backslash": "a%5cb",
    "leading-dash": "-a",
    "leading-underscore": "_a",
    "unicode": "%C3%A9t%C3%A9",
    "emoji": "%F0%9F%94%91",
    "invalid-utf8": "%ff%fe",
    "129-chars": "a" * 129,
    "10kB": "a" * 10_000,
    "10kB-encoded-nul": "%00" * 3_400,
}


def _name_requests(name: str):
    role_body = json.dumps(ROLE_BODY).encode()
    credential_body = json.dumps(CREDENTIAL_BODY).encode()
    return [
        ("GET", f"/v1/jenkins/creds/{name}", None),
        ("POST", f"/v1/jenkins/creds/{name}", b'{"ttl": "5m"}'),
        ("GET", f"/v1/jenkins/roles/{name}", None),
        ("POST", f"/v1/jenkins/roles/{name}", role_body),
        ("DELETE", f"/v1/jenkins/roles/{name}", None),
        ("GET", f"/v1/jenkins/credentials/{name}", None),
        ("PUT", f"/v1/jenkins/credentials/{name}", credential_body),
        ("DELETE", f"/v1/jenkins/credentials/{name}", None),
        ("GET", f"/v1/jenkins/leases/{name}", None),
        ("POST", f"/v1/jenkins/revoke/{name}", b"{}"),
        ("GET", f"/v1/sys/leases/lookup/jenkins/creds/{name}?list=true", None),
        ("PUT", f"/v1/sys/leases/revoke-prefix/jenkins/creds/{name}", None),
    ]


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_bad_role_and_credential_names_are_400_on_every_path(env, name):
    # A line break where the router expects one path segment matches no route at all:
    # 404 "unsupported path", in Vault's shape too.
    statuses = (400, 404) if "%0a" in name else (400,)
    for method, path, body in _name_requests(name):
        answer = send(env.stack, method, path, env.json_headers(), body)
        try:
            if "/" in name and "?list=true" in path and answer.status == 404:
                # Listing below jenkins/creds/a/b: nothing there, Vault's exact answer.
                assert answer.json() == {"errors": []}, answer.body
                continue
            assert_vault_error(answer, *statuses)
        except AssertionError as exc:
            raise AssertionError(f"{method} {path[:80]}: {exc}") from None


def test_a_role_named_with_dot_dot_is_never_written(env):
    """The 400 is not cosmetic: nothing lands in Vault next to or above the roles
    (checked in Vault itself, not through the broker's cache)."""
    vault = env.stack.admin_store
    roles, config = vault.list_roles(), vault.get_jenkins_config()
    for name in ("..", "%2e%2e", "a/../b", "a%2f..%2fconfig", "a/../../config"):
        answer = send(env.stack, "POST", f"/v1/jenkins/roles/{name}", env.json_headers(),
                      json.dumps(ROLE_BODY).encode())
        assert_vault_error(answer, 400)
    assert vault.list_roles() == roles and vault.get_jenkins_config() == config


@pytest.mark.parametrize("target", [
    "/v1/jenkins/creds/été".encode(),
    b"/v1/jenkins/creds/\xff",
    b"/v1/jenkins/creds/a b",
    b"/v1/jenkins/creds/a#b",
], ids=["raw-utf8", "raw-invalid-utf8", "raw-space", "fragment"])
def test_raw_bytes_in_the_request_target(env, target):
    answer = send_raw(env.stack, request_bytes("GET", target, [(b"X-Vault-Token", env.root.encode())]))
    assert_vault_error(answer, 400)


# -- durations: ttl on mint, increment on renew, role fields --------------------------------

BAD_DURATIONS = {
    "negative": b"-1",
    "negative-float": b"-1.5",
    "negative-string": b'"-5s"',
    "enormous-integer": b"99999999999999999999",
    "enormous-string": b'"99999999999999999999"',
    "enormous-unit": b'"99999999999d"',
    "overflowing-float": b"1e309",
    "overflowing-float-string": b'"1e309"',
    "negative-overflow": b"-1e309",
    "nan": b"NaN",
    "infinity": b"Infinity",
    "abc": b'"abc"',
    "1x": b'"1x"',
    "unit-only": b'"m"',
    "unit-first": b'"m15"',
    "inner-space": b'"15 m"',
    "mixed-sign": b'"1h-5m"',
    "hex": b'"0x10"',
    "exponent-string": b'"1e3"',
    "33-chars": b'"' + b"1" * 33 + b'"',
    "whitespace": b'" "',
    "nul": b'"\\u0000"',
    "list": b'["15m"]',
    "empty-list": b"[]",
    "object": b'{"m": 15}',
    "true": b"true",
    "false": b"false",
}
# Vault's own reading: an empty string, null and 0 mean "the default" (not bad input).
DEFAULT_DURATIONS = {"empty-string": b'""', "null": b"null", "zero": b"0", "zero-string": b'"0"'}
# A boolean is bad input even though False == 0: duration_param refuses it explicitly.


def _duration_cases():
    return [pytest.param(raw, id=key) for key, raw in BAD_DURATIONS.items()]


@pytest.mark.parametrize("raw", _duration_cases())
def test_bad_ttl_on_mint_is_400(env, raw):
    for method in ("POST", "PUT"):
        answer = send(env.stack, method, f"/v1/jenkins/creds/{ROLE}", env.json_headers(),
                      b'{"ttl": ' + raw + b"}")
        errors = assert_vault_error(answer, 400)
        assert any("ttl" in e for e in errors), errors


@pytest.mark.parametrize("raw", _duration_cases())
def test_bad_increment_on_renew_is_400_and_leaves_the_lease_alone(env, raw):
    before = _lookup(env.stack, env.root, env.lease_id)["expire_time"]
    body = b'{"lease_id": ' + json.dumps(env.lease_id).encode() + b', "increment": ' + raw + b"}"
    answer = send(env.stack, "PUT", "/v1/sys/leases/renew", env.json_headers(), body)
    errors = assert_vault_error(answer, 400)
    assert any("increment" in e for e in errors), errors
    assert _lookup(env.stack, env.root, env.lease_id)["expire_time"] == before


@pytest.mark.parametrize("raw", DEFAULT_DURATIONS.values(), ids=DEFAULT_DURATIONS.keys())
def test_empty_null_and_zero_ttl_mean_the_roles_default(env, raw):
    answer = send(env.stack, "POST", f"/v1/jenkins/creds/{ROLE}", env.json_headers(),
                  b'{"ttl": ' + raw + b"}")
    assert answer.status == 200, answer.body
    assert answer.json()["lease_duration"] == 600
    send(env.stack, "PUT", "/v1/sys/leases/revoke", env.json_headers(),
         json.dumps({"lease_id": answer.json()["lease_id"]}).encode())


@pytest.mark.parametrize("query", ["abc", "1x", "-5", "99999999999999999999", "1e309", "%00", "15%20m",
                                   "%C3%A9"])
def test_bad_ttl_in_the_query_is_400(env, query):
    answer = send(env.stack, "GET", f"/v1/jenkins/creds/{ROLE}?ttl={query}", env.auth)
    assert_vault_error(answer, 400)


@pytest.mark.parametrize("key", ["ttl", "max_ttl", "rotation_period"])
def test_bad_durations_in_a_role_write_are_400_and_name_the_field(env, key):
    for label, raw in BAD_DURATIONS.items():
        fields = json.dumps(ROLE_BODY)[:-1].encode() + b', "' + key.encode() + b'": ' + raw + b"}"
        answer = send(env.stack, "POST", "/v1/jenkins/roles/bad-durations", env.json_headers(), fields)
        if key != "ttl" or label != "false":  # (ttl=false: the role's check is parse_duration)
            errors = assert_vault_error(answer, 400)
            assert errors[0].startswith(key), (label, errors)
    assert_vault_error(send(env.stack, "GET", "/v1/jenkins/roles/bad-durations", env.auth), 404)


# -- other role, config and credential fields ------------------------------------------------

BAD_ROLE_FIELDS = [
    {"strategy": "nope"}, {"strategy": ["user-token"]}, {"strategy": {"a": 1}}, {"strategy": 1},
    {"jenkins_user": ""}, {"jenkins_user": "a/b"}, {"jenkins_user": "a\u0000b"}, {"jenkins_user": "x" * 300},
    {"jenkins_user": ["ci-bot"]}, {"credential": "../config"}, {"credential": ""}, {"credential": 5},
    {"shared": "maybe"}, {"shared": 2}, {"shared": []}, {"max_live_tokens": -1},
    {"max_live_tokens": 1.5}, {"max_live_tokens": "lots"}, {"max_live_tokens": 10**30},
    {"max_live_tokens": True}, {"token_name_prefix": ""}, {"token_name_prefix": "-x"},
    {"token_name_prefix": "x" * 65}, {"description": "x" * 1025}, {"description": 5},
    {"ttl": "2h", "max_ttl": "1h"}, {"rotation_period": "20m", "ttl": "10m"}, {"unknown_field": 1},
]


@pytest.mark.parametrize("fields", BAD_ROLE_FIELDS, ids=lambda f: "-".join(f"{k}" for k in f))
def test_bad_role_fields_are_400(env, fields):
    body = json.dumps({**ROLE_BODY, **fields}).encode()
    assert_vault_error(send(env.stack, "POST", "/v1/jenkins/roles/bad-fields", env.json_headers(), body), 400)


BAD_CONFIG_FIELDS = [
    {"url": ""}, {"url": "ftp://jenkins/"}, {"url": "jenkins.example.com"}, {"url": ["http://x/"]},
    {"url": "http://user:pw@jenkins/"}, {"url": 5}, {"url": "https://jenkins.example.com/?x=1"},
    {"url": "https://jenkins.example.com/#top"}, {"kind": "hudson"}, {"timeout": 0},
    {"timeout": 301}, {"timeout": "soon"}, {"timeout": None, "verify_tls": "perhaps"},
    {"verify_after_mint": 2}, {"ca_bundle": "not a PEM"}, {"ca_bundle": 5}, {"unknown_field": 1},
]


@contextlib.contextmanager
def kept_config(env):
    """Yield the Jenkins connection as stored in Vault; if a case changed it, put it back
    through the broker's own store (and drop the broker's Jenkins clients)."""
    before = env.stack.admin_store.get_jenkins_config()
    try:
        yield before
    finally:
        if env.stack.admin_store.get_jenkins_config() != before:
            env.stack.services.store.put_jenkins_config(before)
            env.stack.services.gateway.reset()


@pytest.mark.parametrize("fields", BAD_CONFIG_FIELDS, ids=lambda f: "-".join(f"{k}" for k in f))
def test_bad_config_fields_are_400_and_change_nothing(env, fields):
    with kept_config(env) as before:
        answer = send(env.stack, "POST", "/v1/jenkins/config", env.json_headers(),
                      json.dumps(fields).encode())
        assert_vault_error(answer, 400)
        assert env.stack.admin_store.get_jenkins_config() == before




@pytest.mark.parametrize("url", [
    pytest.param("http://[::1/", id="unclosed-ipv6-bracket"),
    pytest.param("http://jenkins:99999/", id="port-out-of-range"),
    pytest.param("http://jenkins:port/", id="port-not-a-number"),
])
def test_unparseable_jenkins_urls_are_400(env, url):
    with kept_config(env):
        answer = send(env.stack, "POST", "/v1/jenkins/config", env.json_headers(),
                      json.dumps({"url": url}).encode())
        assert_vault_error(answer, 400)


BAD_CREDENTIAL_FIELDS = [
    {}, {"username": "ci-bot"}, {"username": "ci-bot", "password": "a", "token": "b"},
    {"username": "", "token": "x"}, {"username": ["ci-bot"], "token": "x"},
    {"username": "x" * 257, "token": "x"},
    {"username": "ci-bot", "token": ["x"]}, {"username": "ci-bot", "token": {"a": 1}},
    {"username": "ci-bot", "token": "x" * 4097}, {"username": "ci-bot", "token": "x", "kind": "token"},
]


@pytest.mark.parametrize("fields", BAD_CREDENTIAL_FIELDS,
                         ids=lambda f: "-".join(f"{k}" for k in f) or "empty")
def test_bad_credential_fields_are_400(env, fields):
    answer = send(env.stack, "PUT", "/v1/jenkins/credentials/bad-fields", env.json_headers(),
                  json.dumps(fields).encode())
    assert_vault_error(answer, 400, secret="x" * 4097)
    assert_vault_error(send(env.stack, "GET", "/v1/jenkins/credentials/bad-fields", env.auth), 404)


@pytest.mark.parametrize("requester", [5, "", [], {"a": 1}, True])
def test_bad_requester_on_the_incident_button_is_400(env, requester):
    answer = send(env.stack, "POST", f"/v1/jenkins/revoke/{ROLE}", env.json_headers(),
                  json.dumps({"requester": requester}).encode())
    assert_vault_error(answer, 400)


# -- lease ids ------------------------------------------------------------------------------

MALFORMED_LEASE_IDS: dict[str, Any] = {
    "empty": "", "null": None, "number": 5, "list": [], "object": {}, "true": True,
    "one-word": "x", "prefix-only": "jenkins/creds/", "no-suffix": f"jenkins/creds/{ROLE}",
    "empty-role": "jenkins/creds//x", "three-parts": f"jenkins/creds/{ROLE}/x/y",
    "dot-dot-role": "jenkins/creds/../x", "dot-dot-suffix": f"jenkins/creds/{ROLE}/..",
    "traversal": "jenkins/creds/../../config/x", "other-mount": "aws/creds/deploy/abc",
    "token-mount": "auth/token/create/abc", "sys": "sys/leases/lookup/x",
    "kv-mount": "jenkins-broker/leases/x/y", "nul": f"jenkins/creds/{ROLE}/x\u0000",
    "newline": f"jenkins/creds/{ROLE}\n/x", "control": "jenkins/creds/\u0001/x",
    "over-512": f"jenkins/creds/{ROLE}/" + "a" * 600, "100kB": "a" * 100_000,
}
# Well-formed but unknown: renew and lookup are 400 (Vault's "lease not found"), revoke is 204.
UNKNOWN_LEASE_IDS = {
    "unknown-suffix": f"jenkins/creds/{ROLE}/0123456789abcdef01234567",
    "unknown-role": "jenkins/creds/no-such-role/0123456789abcdef01234567",
    "unicode-role": "jenkins/creds/\u00e9t\u00e9/x",
    "space": "jenkins/creds/a b/c d",
}


@pytest.mark.parametrize("lease_id", MALFORMED_LEASE_IDS.values(), ids=MALFORMED_LEASE_IDS.keys())
def test_malformed_lease_ids_are_400_on_renew_lookup_and_revoke(env, lease_id):
    body = json.dumps({"lease_id": lease_id}).encode()
    for path in ("/v1/sys/leases/renew", "/v1/sys/leases/lookup", "/v1/sys/leases/revoke"):
        for method in ("PUT", "POST"):
            errors = assert_vault_error(send(env.stack, method, path, env.json_headers(), body), 400)
            assert "lease" in " ".join(errors).lower() or "path" in " ".join(errors), errors


@pytest.mark.parametrize("lease_id", UNKNOWN_LEASE_IDS.values(), ids=UNKNOWN_LEASE_IDS.keys())
def test_unknown_lease_ids(env, lease_id):
    body = json.dumps({"lease_id": lease_id}).encode()
    for path in ("/v1/sys/leases/renew", "/v1/sys/leases/lookup"):
        assert_vault_error(send(env.stack, "PUT", path, env.json_headers(), body), 400)
    assert send(env.stack, "PUT", "/v1/sys/leases/revoke", env.json_headers(), body).status == 204


@pytest.mark.parametrize("suffix", ["x", "%00", "jenkins/creds/..%2fx", "jenkins%2fcreds%2fr%2fx",
                                    "jenkins/creds/r/x/y", "aws/creds/r/x", "a" * 10_000],
                         ids=["one-word", "nul", "encoded-traversal", "encoded-slashes", "three-parts",
                              "other-mount", "10kB"])
def test_malformed_lease_ids_in_the_path_are_400(env, suffix):
    for path in (f"/v1/sys/leases/renew/{suffix}", f"/v1/sys/leases/revoke/{suffix}"):
        assert_vault_error(send(env.stack, "PUT", path, env.json_headers(), b"{}"), 400)


# -- bodies ---------------------------------------------------------------------------------

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
    with socket.create_connection(_address(env.stack), timeout=5) as sock:
        sock.sendall(data)
        first, rest = _read_answer(sock)
        assert_vault_error(first, 401)
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


# -- X-Vault-Token -------------------------------------------------------------------------


def _tokens(root: str) -> dict[str, bytes]:
    return {
        "inner-space": f"{root} x".encode(),
        "only-spaces": b"   x   y",
        "tab": f"{root}\tx".encode(),
        "non-ascii-latin1": b"hvs.\xe9\xe8",
        "non-ascii-utf8": "hvs.t\u00f6k\u00e9n".encode(),
        "invalid-utf8": b"\xff\xfe\xfd",
        "soh": f"{root}\x01".encode(),
        "nul": f"{root}\x00x".encode(),
        "del": f"{root}\x7f".encode(),
        "escape": b"\x1b[31mred",
        "bare-cr": f"{root}\rx".encode(),
        "quote-and-json": b'","policies":["root"]}',
        "513-chars": b"s." + b"a" * 511,
        "10kB": b"hvs." + b"a" * 10_000,
        "100kB": b"hvs." + b"a" * 100_000,
        "1MB": b"hvs." + b"a" * MB,
    }


_TOKEN_KINDS = list(_tokens("root"))


@pytest.mark.parametrize("kind", _TOKEN_KINDS)
def test_malformed_or_huge_tokens_are_403_in_vaults_shape(env, kind):
    token = _tokens(env.root)[kind]
    lookup = json.dumps({"lease_id": env.lease_id}).encode()
    for method, path, body in [("GET", f"/v1/jenkins/creds/{ROLE}", b""),
                               ("PUT", "/v1/sys/leases/lookup", lookup),
                               ("GET", "/v1/jenkins/roles?list=true", b"")]:
        data = request_bytes(method, path.encode(), [(b"X-Vault-Token", token),
                                                     (b"Content-Length", str(len(body)).encode())], body)
        started = time.monotonic()
        answer = send_raw(env.stack, data)
        # 403 from the broker; 413 once the headers pass the HTTP server's 64 kB limit.
        errors = assert_vault_error(answer, 413 if len(token) > 64 * 1024 else 403)
        assert time.monotonic() - started < 10
        if answer.status == 403:  # refused before Vault is asked, or by Vault
            assert "not a well-formed Vault token" in errors[0] or "invalid, expired" in errors[0], errors
        assert token[:40] not in answer.body or len(token) < 8


@pytest.mark.parametrize("kind", ["inner-space", "non-ascii-utf8", "soh", "10kB", "100kB"])
def test_malformed_bearer_tokens_are_403(env, kind):
    token = _tokens(env.root)[kind]
    data = request_bytes("GET", f"/v1/jenkins/creds/{ROLE}".encode(),
                         [(b"Authorization", b"Bearer " + token)])
    # Over 64 kB of headers the HTTP server refuses before the app: 413, in Vault's shape.
    assert_vault_error(send_raw(env.stack, data), 413 if len(token) > 64 * 1024 else 403)


@pytest.mark.parametrize("headers,status", [
    ([(b"X-Vault-Token", b"")], 401),
    ([(b"X-Vault-Token", b"   ")], 401),
    ([(b"Authorization", b"Bearer")], 401),
    ([(b"Authorization", b"Bearer    ")], 401),
    ([(b"Authorization", b"Basic Y2k6Ym90")], 401),
    ([(b"X-Vault-Token", b"hvs.NotATokenVaultKnowsAbout0000")], 403),
], ids=["empty", "blank", "bearer-empty", "bearer-blank", "basic-auth", "unknown"])
def test_missing_or_unknown_tokens(env, headers, status):
    data = request_bytes("GET", f"/v1/jenkins/creds/{ROLE}".encode(), headers)
    assert_vault_error(send_raw(env.stack, data), status)




@pytest.mark.parametrize("order", ["bad-first", "root-first"])
def test_two_x_vault_token_headers_are_refused(env, order):
    """Today the last header counts: root-first is refused (the unknown token), bad-first
    runs as root."""
    tokens = [b"hvs.NotATokenVaultKnowsAbout0000", env.root.encode()]
    if order == "root-first":
        tokens.reverse()
    data = request_bytes("GET", b"/v1/jenkins/roles?list=true", [(b"X-Vault-Token", t) for t in tokens])
    assert_vault_error(send_raw(env.stack, data), 400, 403)


def test_a_folded_x_vault_token_header_is_refused(env):
    data = (b"GET /v1/jenkins/roles?list=true HTTP/1.1\r\nHost: broker\r\n"
            b"X-Vault-Token: hvs.NotATokenVaultKnowsAbout0000\r\n " + env.root.encode() + b"\r\n\r\n")
    assert_vault_error(send_raw(env.stack, data), 400, 403)


def test_the_token_header_wins_over_authorization_as_in_vault(env):
    data = request_bytes("GET", b"/v1/jenkins/roles?list=true",
                         [(b"Authorization", b"Bearer " + env.root.encode()),
                          (b"X-Vault-Token", b"hvs.NotATokenVaultKnowsAbout0000")])
    assert_vault_error(send_raw(env.stack, data), 403)


# -- unknown paths and methods ------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/v1", "/v1/", "/v2/jenkins/creds/x", "/v1/nope", "/v1/jenkins",
                                  "/v1/jenkins/creds", "/v1/jenkins/creds/", "/v1/jenkins/nope/x",
                                  "/v1/sys/leases", "/metrics/x",
                                  "/v1/sys/health/x", "/%00", "/" + "a" * 10_000, "/v1/jenkins/creds/a%0Ab"])
def test_unknown_paths_are_404_in_vaults_shape(env, path):
    for method in ("GET", "PUT"):
        answer = send(env.stack, method, path, env.auth, b"{}" if method == "PUT" else None)
        assert_vault_error(answer, 404, 405)


@pytest.mark.parametrize("method,path", [
    ("DELETE", f"/v1/jenkins/creds/{ROLE}"), ("PATCH", f"/v1/jenkins/roles/{ROLE}"),
    ("BREW", f"/v1/jenkins/creds/{ROLE}"), ("TRACE", "/v1/sys/health"), ("POST", "/v1/sys/health"),
    ("LIST", "/v1/jenkins/config"), ("GET", "/v1/sys/leases/renew"), ("DELETE", "/v1/sys/leases/revoke"),
    ("GET", "/v1/jenkins/roles"), ("GET", "/v1/jenkins/credentials"), ("POST", "/metrics"),
    ("GET", f"/v1/sys/leases/lookup/jenkins/creds/{ROLE}"), ("PUT", f"/v1/jenkins/leases/{ROLE}"),
    ("GET", f"/v1/jenkins/revoke/{ROLE}"), ("DELETE", "/v1/sys/internal/specs/openapi"),
])
def test_unsupported_methods_are_405_in_vaults_shape(env, method, path):
    answer = send(env.stack, method, path, env.auth)
    errors = assert_vault_error(answer, 405)
    assert errors == ["unsupported operation"]


# -- afterwards -----------------------------------------------------------------------------


def test_the_broker_still_works_after_all_of_it(env):
    assert send(env.stack, "GET", "/v1/sys/health").status == 200
    minted = env.stack.mint(ROLE, env.root, ttl="2m")
    assert minted.status_code == 200 and minted.json()["lease_duration"] == 120, minted.text
    assert _lookup(env.stack, env.root, env.lease_id)["id"] == env.lease_id
