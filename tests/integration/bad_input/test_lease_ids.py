"""Malformed lease ids of the broker's (under ``jenkins/creds/``) are a 400 on renew, lookup
and revoke, in the body or the path; well-formed unknown ones get Vault's answers; a lease id
that is not the broker's goes to Vault, which answers it (broker mode is a Vault front)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.bad_input import ROLE
from tests.support.wire import assert_answered_by_vault, assert_vault_error, send

pytestmark = pytest.mark.integration


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
            if not (isinstance(lease_id, str) and lease_id.startswith("jenkins/creds/")):
                if isinstance(lease_id, str) and lease_id:  # another engine's lease: Vault's
                    assert_answered_by_vault(env.stack, method, path, env.json_headers(), body)
                    continue
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
        # Not the broker's lease as the path reads (an encoded "/" stays encoded): Vault's.
        if not suffix.startswith("jenkins/creds/"):
            assert_answered_by_vault(env.stack, "PUT", path, env.json_headers(), b"{}")
            continue
        assert_vault_error(send(env.stack, "PUT", path, env.json_headers(), b"{}"), 400)
