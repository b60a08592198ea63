"""Mistakes a new user made on the command line that succeeded silently, showed a traceback or gave
wrong advice; each is now refused with a non-zero exit and one line that says what is wrong and
what to do. These need no Vault (tests/integration/test_cli_mistakes.py has those that do)."""

from __future__ import annotations

import importlib.util

import pytest

from jenkins_broker.commands import admin
from tests.fakes import MemoryStore
from tests.support.cli import run


def one_line_error(err: str) -> str:
    assert err.startswith("Error: ") and err.endswith("\n") and err.count("\n") == 1, err
    return err[len("Error: "):-1]


@pytest.fixture
def store(monkeypatch):
    store = MemoryStore()
    monkeypatch.setattr(admin, "open_store", lambda: store)
    return store


# -- plugin build without the plugin extra --------------------------------------------

def test_plugin_build_without_the_plugin_extra_names_the_extra(capsys, monkeypatch, tmp_path):
    """It said "unexpected RuntimeError ... (a bug in jenkins-broker; please report it)", or
    raised ModuleNotFoundError for google.protobuf; nothing was a bug but a missing install."""
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name.split(".")[0] in ("grpclib", "h2", "hpack", "hyperframe", "multidict", "ecdsa"):
            return None
        if name == "google.protobuf":  # as when no google.* package is installed at all
            raise ModuleNotFoundError("No module named 'google'", name="google")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    code, out, err = run(capsys, "plugin", "build", "--output", str(tmp_path))
    assert code == 1 and out == ""
    message = one_line_error(err)
    assert "pip install 'jenkins-broker[plugin]'" in message
    assert "grpclib" in message and "protobuf" in message
    assert "unexpected" not in message and "bug" not in message
    assert list(tmp_path.iterdir()) == []


# -- placeholders instead of secrets ----------------------------------------------------

@pytest.mark.parametrize("value", ["...", "…", "<token>", "<your API token>", "changeme", "CHANGE_ME",
                                   "TOKEN", "token", "password", "xxx", "XXXXXXXX", "***", "$JENKINS_TOKEN",
                                   "${JENKINS_TOKEN}", "{{ token }}", "JENKINS_TOKEN", "your-token",
                                   "replace-me", "TODO"])
def test_credentials_write_refuses_a_placeholder(capsys, monkeypatch, no_vault, value):
    """`JENKINS_TOKEN=... jenkins-broker credentials write ci-bot --token-env JENKINS_TOKEN`
    stored "..." (with --no-rotate nothing ever looked at it)."""
    monkeypatch.setenv("JENKINS_TOKEN", value)
    code, out, err = run(capsys, "credentials", "write", "ci-bot", "--username", "ci-bot",
                         "--token-env", "JENKINS_TOKEN", "--no-rotate")
    assert code == 1 and out == ""
    message = one_line_error(err)
    assert message.startswith("--token-env: JENKINS_TOKEN holds a placeholder")
    assert "not an API token" in message and "User > Security > API Token" in message


def test_a_password_placeholder_from_stdin_is_refused_too(capsys, monkeypatch, no_vault):
    import io
    monkeypatch.setattr("sys.stdin", io.StringIO("<password>\n"))
    code, _, err = run(capsys, "credentials", "write", "ci-bot", "--username", "ci-bot", "--password-stdin")
    assert code == 1 and one_line_error(err).startswith("--password-stdin: standard input holds a placeholder")


@pytest.mark.parametrize("value", ["11" + "a" * 32, "a" * 32, "botpw", "correct horse battery staple",
                                   "tokenizer-9", "x", "$uperman1", "p4$$word", "secret-sauce-42"])
def test_real_looking_secrets_pass_the_placeholder_check(monkeypatch, value):
    import argparse
    monkeypatch.setenv("SOME_VAR", value)
    args = argparse.Namespace(token_env="SOME_VAR", token_stdin=False)
    assert admin.read_secret(args, "token") == value


# -- a role naming a credential that is not stored ---------------------------------------

def test_roles_write_refuses_a_credential_that_is_not_stored(capsys, store):
    """It stored the role; every mint then failed with "no Jenkins credential named ..."."""
    from jenkins_broker.domain.jenkins_config import StoredCredential
    store.put_credential(StoredCredential("ci-bot-token", "ci-bot", "token", "s"))
    code, out, err = run(capsys, "roles", "write", "r", "jenkins_user=ci-bot", "strategy=user-token",
                         "credential=ci-bot-tokn")
    assert code == 1 and out == ""
    assert one_line_error(err) == (
        "credential: no credential named 'ci-bot-tokn' is stored (stored: ci-bot-token); write it "
        "first with `jenkins-broker credentials write ci-bot-tokn --username JENKINS_USER "
        "--token-env VAR` (or --password-env VAR), or name a stored one")
    assert store.get_role("r") is None
    code, _, err = run(capsys, "roles", "write", "r", "jenkins_user=ci-bot", "strategy=user-token",
                       "credential=ci-bot-token")
    assert code == 0, err
    # Changing another field of the role does not ask again.
    store.delete_credential("ci-bot-token")
    assert run(capsys, "roles", "write", "r", "ttl=5m")[0] == 0
