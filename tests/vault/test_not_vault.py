"""Answers that are not Vault's: they say to fix VAULT_ADDR, never the token or the CA
(vault/translate.py: not_vault, transport_error, and bootstrap's "admin" kind)."""

from __future__ import annotations

import requests

from jenkins_broker import transport
from jenkins_broker.vault.translate import error_for_status, not_vault, translate, transport_error

WHERE = dict(addr="http://127.0.0.1:8080", path="auth/token/lookup-self", action="check the token")


def test_an_answer_with_x_jenkins_is_jenkins_whatever_its_status():
    for status in (200, 403, 404):
        err = not_vault(status, {"X-Jenkins": "2.555.1"}, "<html>login</html>", **WHERE)
        assert err is not None and "VAULT_ADDR points at Jenkins, not Vault" in str(err)
        assert "Jenkins 2.555.1" in str(err) and "token" not in str(err).split("Vault:", 1)[1]


def test_plain_http_to_an_https_server_says_use_https():
    err = not_vault(400, {}, "Client sent an HTTP request to an HTTPS server.\n", **WHERE)
    assert err is not None and "set VAULT_ADDR to https://127.0.0.1:8080" in str(err)


def test_vault_s_own_answers_are_left_to_the_status_table():
    assert not_vault(403, {"Content-Type": "application/json"}, '{"errors":["permission denied"]}', **WHERE) is None
    assert not_vault(400, {}, '{"errors":["missing client token"]}', **WHERE) is None


def test_tls_to_a_plain_http_server_says_use_http():
    where = dict(WHERE, addr="https://127.0.0.1:8200")
    for reason in ("TLS handshake failed: wrong version number", "[SSL] record layer failure"):
        err = transport_error(transport.TLSFailure("GET", "https://127.0.0.1:8200/v1/x", reason), **where)
        assert "the server answered plain HTTP, not TLS" in str(err)
        assert "set VAULT_ADDR to http://127.0.0.1:8200" in str(err) and "VAULT_CACERT" not in str(err)
    err = translate(requests.exceptions.SSLError("[SSL: WRONG_VERSION_NUMBER] wrong version number"), **where)
    assert "set VAULT_ADDR to http://127.0.0.1:8200" in str(err)
    # A certificate problem is still one.
    err = transport_error(transport.TLSFailure("GET", "https://x/v1/x", "certificate verify failed"), **where)
    assert "VAULT_CACERT" in str(err)


def test_a_refusal_of_bootstrap_blames_the_token_given_to_bootstrap():
    err = error_for_status(403, ["permission denied"], addr="http://v", path="sys/mounts",
                           action="list secrets engines", kind="admin", hint="it needs read on sys/mounts")
    text = str(err)
    assert "The Vault token given to `jenkins-broker bootstrap` (VAULT_TOKEN) lacks this capability: " \
           "it needs read on sys/mounts. Run bootstrap with an administrator's token" in text
    assert "broker's Vault token" not in text
