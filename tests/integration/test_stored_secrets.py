"""Stored secrets are written, never read back: an administrator holding the shipped
jenkins-admin policy writes credentials (through the broker's API and with the CLI, which
talks to Vault directly) and can read back nothing that holds a secret, in any version;
the broker, alone, reads them and mints with them. Secrets that an older broker stored
inline are moved out by a broker that starts, and the versions that held them destroyed."""

import json

import pytest
import requests

from jenkins_broker.commands.cli import main
from jenkins_broker.domain.jenkins_config import StoredCredential
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def every_version_as(stack, token, path):
    """The bodies of every version of ``jenkins-broker/data/<path>`` that ``token`` can get,
    with the status of each attempt (the number of versions is read with the root token)."""
    meta = requests.get(f"{stack.bao.addr}/v1/jenkins-broker/metadata/{path}",
                        headers={"X-Vault-Token": stack.bao.root_token}, timeout=5)
    latest = meta.json()["data"]["current_version"] if meta.status_code == 200 else 1
    answers = []
    for version in range(1, latest + 1):
        resp = requests.get(f"{stack.bao.addr}/v1/jenkins-broker/data/{path}",
                            params={"version": version},
                            headers={"X-Vault-Token": token}, timeout=5)
        answers.append((resp.status_code, resp.text))
    return answers


def assert_unreadable(stack, token, name, secret):
    """Nothing ``token`` can read of credential ``name`` holds ``secret``; its secret path
    is refused outright."""
    for status, text in every_version_as(stack, token, f"credentials/{name}"):
        assert secret not in text, f"credentials/{name} gave the secret back ({status})"
    for status, text in every_version_as(stack, token, f"secrets/{name}"):
        assert status == 403 and secret not in text
    api = requests.get(f"{stack.broker_url}/v1/jenkins/credentials/{name}",
                       headers={"X-Vault-Token": token}, timeout=5)
    assert api.status_code == 200 and secret not in api.text


@pytest.fixture
def admin(stack, monkeypatch, capsys):
    """The CLI as an administrator holding only jenkins-admin (and Vault's default policy)."""
    token = stack.token("jenkins-admin")
    monkeypatch.setenv("VAULT_ADDR", stack.bao.addr)
    monkeypatch.setenv("VAULT_TOKEN", token)

    def run(*argv, expect=0):
        code = main(list(argv))
        out, err = capsys.readouterr()
        assert code == expect, err
        return out, err
    run.token = token
    return run


def whoami(stack, user, secret):
    return requests.get(f"{stack.jenkins.url}whoAmI/api/json", auth=(user, secret),
                        timeout=5).status_code


def test_an_administrator_writes_secrets_and_reads_none_back(stack, admin, monkeypatch):
    # With the CLI (straight to Vault): a token credential, rotated as it is written.
    _, given = stack.jenkins.add_token("ci-bot", name="handed to the admin")
    monkeypatch.setenv("GIVEN_TOKEN", given)
    admin("credentials", "write", "admin-cli", "--username", "ci-bot", "--token-env", "GIVEN_TOKEN")
    shown = json.loads(admin("credentials", "read", "admin-cli", "--json")[0])
    assert shown["username"] == "ci-bot" and shown["token_name"].endswith("credential-admin-cli")
    stored = stack.admin_store.get_credential("admin-cli")  # the root token reads it
    assert whoami(stack, "ci-bot", stored.secret) == 200 and whoami(stack, "ci-bot", given) == 401
    assert_unreadable(stack, admin.token, "admin-cli", stored.secret)

    # Through the broker's API: a password credential.
    resp = requests.post(f"{stack.broker_url}/v1/jenkins/credentials/admin-api",
                         json={"username": "deployer", "password": "deploypw"},
                         headers={"X-Vault-Token": admin.token}, timeout=15)
    assert resp.status_code == 200, resp.text
    assert_unreadable(stack, admin.token, "admin-api", "deploypw")

    # Written again, it stays unreadable in every version (the old secrets too).
    monkeypatch.setenv("DEPLOYER_PASSWORD", "deploypw")
    admin("credentials", "write", "admin-api", "--username", "deployer",
          "--password-env", "DEPLOYER_PASSWORD")
    assert_unreadable(stack, admin.token, "admin-api", "deploypw")

    # The broker reads them: a mint with each works.
    stack.role("secret-cli", credential="admin-cli")
    stack.role("secret-api", credential="admin-api", jenkins_user="deployer",
               strategy="user-password")
    for role in ("secret-cli", "secret-api"):
        minted = stack.mint(role, stack.bao.root_token)
        assert minted.status_code == 200, minted.text


def test_what_needs_the_secret_says_so_to_an_administrator(stack, admin, monkeypatch):
    stack.role("secret-check", credential="ci-bot-token")
    _, err = admin("credentials", "rotate", "ci-bot-token", expect=1)
    assert "may not read the secret" in err and "JENKINS_BROKER_ADDR" in err
    out, _ = admin("check", "--json", expect=1)
    rows = json.loads(out)
    row = next((r for r in rows if r["check"] == "role secret-check"), None)
    assert row is not None, rows
    assert row["ok"] == "FAIL" and "may not read the secret" in row["detail"]
    # Through the broker, which reads it, the administrator rotates it.
    before = stack.admin_store.get_credential("ci-bot-token")
    monkeypatch.setenv("JENKINS_BROKER_ADDR", stack.broker_url)
    rotated = json.loads(admin("credentials", "rotate", "ci-bot-token", "--json")[0])
    assert rotated["previous_token_uuid"] == before.token_uuid and rotated["previous_revoked"]
    after = stack.admin_store.get_credential("ci-bot-token")
    assert after.token_uuid == rotated["token_uuid"] and whoami(stack, "ci-bot", after.secret) == 200


def test_a_starting_broker_moves_inline_secrets_out_and_destroys_them(stack):
    # As a broker before the split stored it: the secret inline, in two versions.
    _, old = stack.jenkins.add_token("ci-bot", name="legacy one")
    _, current = stack.jenkins.add_token("ci-bot", name="legacy two")
    for secret in (old, current):
        stack.admin_store.kv.write("credentials/legacy-inline",
                                   StoredCredential("legacy-inline", "ci-bot", "token",
                                                    secret).to_record())
    auditor_or_admin = stack.token("jenkins-admin")
    assert any(current in text for _, text in
               every_version_as(stack, auditor_or_admin, "credentials/legacy-inline"))
    with stack.replica():  # a broker of this version starts
        def moved():
            texts = [t for _, t in every_version_as(stack, auditor_or_admin,
                                                     "credentials/legacy-inline")]
            return not any(old in t or current in t for t in texts)
        wait_for(moved, timeout=15, interval=0.2, what="the inline secrets to be moved out")
    assert_unreadable(stack, auditor_or_admin, "legacy-inline", current)
    assert_unreadable(stack, auditor_or_admin, "legacy-inline", old)
    stack.role("secret-legacy", credential="legacy-inline")
    minted = stack.mint("secret-legacy", stack.bao.root_token)
    assert minted.status_code == 200, minted.text
    assert stack.admin_store.get_credential("legacy-inline").secret == current
