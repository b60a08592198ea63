"""Bad role and credential names, in every path that takes one, and raw bytes in the request
target: a 400 in Vault's error shape, and nothing written."""

from __future__ import annotations

import json

import pytest

from tests.support.bad_input import CREDENTIAL_BODY, ROLE_BODY
from tests.support.wire import assert_answered_by_vault, assert_vault_error, request_bytes, send, send_raw

pytestmark = pytest.mark.integration


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
    # A line break in a name matches none of the broker's routes where the router reads it
    # inside a segment (the request is Vault's, which answers it); where it matches, the
    # broker's 400.
    for method, path, body in _name_requests(name):
        if "%0a" in name:
            answer = send(env.stack, method, path, env.json_headers(), body)
            if answer.headers.get("content-type", "").startswith("application/json"):
                assert_vault_error(answer, 400)  # the broker's route matched: its 400
            else:
                assert_answered_by_vault(env.stack, method, path, env.json_headers(), body)
            continue
        answer = send(env.stack, method, path, env.json_headers(), body)
        try:
            if "/" in name and "?list=true" in path and answer.status == 404:
                # Listing below jenkins/creds/a/b: nothing there, Vault's exact answer.
                assert answer.json() == {"errors": []}, answer.body
                continue
            assert_vault_error(answer, 400)
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
