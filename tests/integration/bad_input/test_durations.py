"""Bad durations: ttl on mint (body and query), increment on renew (the lease left alone),
role fields naming the field; empty, null and zero mean the role's default."""

from __future__ import annotations

import json

import pytest

from tests.support.bad_input import ROLE, ROLE_BODY, lookup
from tests.support.wire import assert_vault_error, send

pytestmark = pytest.mark.integration


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
    before = lookup(env.stack, env.root, env.lease_id)["expire_time"]
    body = b'{"lease_id": ' + json.dumps(env.lease_id).encode() + b', "increment": ' + raw + b"}"
    answer = send(env.stack, "PUT", "/v1/sys/leases/renew", env.json_headers(), body)
    errors = assert_vault_error(answer, 400)
    assert any("increment" in e for e in errors), errors
    assert lookup(env.stack, env.root, env.lease_id)["expire_time"] == before


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
