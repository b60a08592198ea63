"""Bad role, config and credential fields, and a bad requester on the incident button: a
400, and the stored config unchanged."""

from __future__ import annotations

import contextlib
import json

import pytest

from tests.support.bad_input import ROLE, ROLE_BODY
from tests.support.wire import assert_vault_error, send

pytestmark = pytest.mark.integration


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
