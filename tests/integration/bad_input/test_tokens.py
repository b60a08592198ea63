"""X-Vault-Token and Authorization: malformed, huge, missing, unknown, doubled or folded
tokens get a 403, as Vault answers (or 413 past the header limit) in Vault's shape, never echoed."""

from __future__ import annotations

import json
import time

import pytest

from tests.support.bad_input import MB, ROLE
from tests.support.wire import assert_vault_error, request_bytes, send_raw

pytestmark = pytest.mark.integration


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
    ([(b"X-Vault-Token", b"")], 403),
    ([(b"X-Vault-Token", b"   ")], 403),
    ([(b"Authorization", b"Bearer")], 403),
    ([(b"Authorization", b"Bearer    ")], 403),
    ([(b"Authorization", b"Basic Y2k6Ym90")], 403),
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
