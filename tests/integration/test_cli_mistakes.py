"""Mistakes a new user made against a real stack that succeeded silently: a Jenkins URL that is not
Jenkins, a role whose credential cannot mint for its user, a credential Jenkins refuses, a lease id
that does not exist. Each is now refused with a non-zero exit and one line saying what to fix."""

from __future__ import annotations

import contextlib
import json

import pytest

from jenkins_broker.commands.cli import main
from tests.support import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def cli(stack, monkeypatch, capsys):
    """``jenkins-broker <argv>`` as an administrator (root token) straight to Vault; returns
    (exit status, stdout, stderr), and checks that no traceback was printed."""
    monkeypatch.setenv("VAULT_ADDR", stack.bao.addr)
    monkeypatch.setenv("VAULT_TOKEN", stack.bao.root_token)

    def run(*argv):
        code = main(list(argv))
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return code, out, err
    return run


def error_line(err: str) -> str:
    assert err.startswith("Error: ") and err.count("\n") == 1, err
    return err[len("Error: "):-1]


@contextlib.contextmanager
def config_kept(stack):
    """Whatever a test writes to jenkins/config, the module's connection is back afterwards."""
    before = stack.admin_store.get_jenkins_config()
    try:
        yield
    finally:
        stack.admin_store.put_jenkins_config(before)


@contextlib.contextmanager
def roles(stack, **written):
    """Roles written for the block (name -> fields), deleted afterwards."""
    try:
        for name, fields in written.items():
            stack.role(name, **fields)
        yield
    finally:
        for name in written:
            stack.admin_store.delete_role(name)


def check_rows(cli) -> tuple[int, dict[str, dict]]:
    code, out, err = cli("check", "--json")
    return code, {row["check"]: row for row in json.loads(out)}


# -- config write --url: is it Jenkins? ------------------------------------------------

def test_config_write_refuses_a_url_where_nothing_answers(cli, stack):
    port = free_port()
    with config_kept(stack):
        code, out, err = cli("config", "write", "--url", f"http://127.0.0.1:{port}/")
        assert code == 1 and out == ""
        message = error_line(err)
        assert message.startswith(f"--url: nothing answers as Jenkins at http://127.0.0.1:{port}/")
        assert "connection refused" in message.lower() and "--no-check" in message
        assert stack.admin_store.get_jenkins_config().url == stack.jenkins.url


def test_config_write_refuses_vault_s_address_for_jenkins(cli, stack):
    with config_kept(stack):
        code, _, err = cli("config", "write", "--url", stack.bao.addr)
        assert code == 1
        message = error_line(err)
        assert message.startswith(f"--url: {stack.bao.addr}/ does not answer as Jenkins")
        assert "it is a Vault/OpenBao server" in message and "--no-check" in message
        assert stack.admin_store.get_jenkins_config().url == stack.jenkins.url


def test_config_write_no_check_stores_a_url_jenkins_does_not_answer_yet(cli, stack):
    with config_kept(stack):
        url = f"http://127.0.0.1:{free_port()}/"
        code, out, err = cli("config", "write", "--url", url, "--no-check")
        assert code == 0, err
        assert stack.admin_store.get_jenkins_config().url == url
        code, out, err = cli("config", "write", "--url", stack.jenkins.url)
        assert code == 0 and "Jenkins 2.555.1" in out, err


def test_check_fails_when_the_jenkins_url_answers_but_not_as_jenkins(cli, stack):
    """`check` reported Vault's own address as a working Jenkins ("version not advertised")."""
    with config_kept(stack):
        assert cli("config", "write", "--url", stack.bao.addr, "--no-check")[0] == 0
        code, rows = check_rows(cli)
        assert code == 1 and rows["jenkins"]["ok"] == "FAIL", rows
        assert "does not answer as Jenkins" in rows["jenkins"]["detail"]
        assert "Vault/OpenBao" in rows["jenkins"]["detail"]
    code, rows = check_rows(cli)
    assert rows["jenkins"]["ok"] == "ok" and "2.555.1" in rows["jenkins"]["detail"]


# -- check: can the role's credential mint for the role's user? --------------------------

def test_check_fails_a_user_credential_used_for_another_user(cli, stack):
    """A user-token credential of ci-bot used by a role for deployer: `check` said ok, every
    mint failed."""
    with roles(stack, **{"other-user": dict(jenkins_user="deployer", credential="ci-bot-token"),
                         "other-user-pw": dict(jenkins_user="deployer", strategy="user-password",
                                               credential="ci-bot-password"),
                         "own-user": dict(jenkins_user="ci-bot", credential="ci-bot-token")}):
        code, rows = check_rows(cli)
    assert code == 1
    assert rows["role own-user"]["ok"] == "ok", rows
    for name, strategy, credential in (("other-user", "user-token", "ci-bot-token"),
                                       ("other-user-pw", "user-password", "ci-bot-password")):
        row = rows[f"role {name}"]
        assert row["ok"] == "FAIL", row
        assert row["detail"].startswith(
            f"{strategy} mints only for the credential's own user, and credential {credential!r} "
            f"logs in as 'ci-bot', not the role's jenkins_user 'deployer'")
        assert "credentials write" in row["detail"] and "admin-script or admin-rest" in row["detail"]


def test_check_fails_admin_strategies_with_a_credential_that_is_not_an_administrator(cli, stack):
    with roles(stack, **{"script-by-bot": dict(jenkins_user="deployer", strategy="admin-script",
                                               credential="ci-bot-password"),
                         "rest-by-bot": dict(jenkins_user="deployer", strategy="admin-rest",
                                             credential="ci-bot-password"),
                         "legacy-by-bot": dict(jenkins_user="deployer", strategy="legacy",
                                               credential="ci-bot-password"),
                         "script-by-admin": dict(jenkins_user="deployer", strategy="admin-script",
                                                 credential="admin"),
                         "rest-by-admin": dict(jenkins_user="deployer", strategy="admin-rest",
                                               credential="admin"),
                         "legacy-by-admin": dict(jenkins_user="deployer", strategy="legacy",
                                                 credential="admin")}):
        code, rows = check_rows(cli)
    assert code == 1
    for name in ("script-by-admin", "rest-by-admin", "legacy-by-admin"):
        assert rows[f"role {name}"]["ok"] == "ok", rows[f"role {name}"]
    for name, strategy in (("script-by-bot", "admin-script"), ("rest-by-bot", "admin-rest"),
                           ("legacy-by-bot", "legacy")):
        row = rows[f"role {name}"]
        assert row["ok"] == "FAIL", row
        assert "credential 'ci-bot-password' logs in as 'ci-bot', which is not a Jenkins administrator" \
            in row["detail"], row
        needs = strategy if strategy.startswith("admin") else f"{strategy} for another user"
        assert f"Administer): {needs} needs one" in row["detail"], row


def test_check_fails_a_credential_of_the_wrong_kind_for_its_strategy(cli, stack):
    with roles(stack, **{"pw-with-token": dict(strategy="user-password", credential="ci-bot-token")}):
        code, rows = check_rows(cli)
    assert code == 1
    row = rows["role pw-with-token"]
    assert row["ok"] == "FAIL" and "needs the user's password as its credential" in row["detail"], row


# -- credentials write: a secret Jenkins refuses -----------------------------------------

WRONG_TOKEN = "11" + "0123456789abcdef" * 2


@pytest.mark.parametrize("option,rotate", [("--token-env", True), ("--token-env", False),
                                           ("--password-env", True)])  # passwords are never rotated
def test_credentials_write_refuses_a_secret_jenkins_refuses(cli, stack, monkeypatch, option, rotate):
    """With rotation (the default) a wrong token was already refused (rotating needs it); with
    --no-rotate, and for any password, it was stored and failed at the first mint."""
    monkeypatch.setenv("GIVEN", WRONG_TOKEN if option == "--token-env" else "not-the-password")
    argv = ["credentials", "write", "refused", "--username", "ci-bot", option, "GIVEN"]
    code, out, err = cli(*argv, *([] if rotate else ["--no-rotate"]))
    assert code == 1 and out == ""
    message = error_line(err)
    what = "token" if option == "--token-env" else "password"
    assert message.startswith(f"{what}: Jenkins refuses it for user 'ci-bot' (401)"), message
    assert WRONG_TOKEN not in message
    assert stack.admin_store.get_credential_info("refused") is None


def test_credentials_write_no_rotate_stores_a_token_jenkins_accepts(cli, stack, monkeypatch):
    _, token = stack.jenkins.add_token("deployer", name="given, kept as is")
    monkeypatch.setenv("GIVEN", token)
    try:
        code, out, err = cli("credentials", "write", "kept", "--username", "deployer",
                             "--token-env", "GIVEN", "--no-rotate")
        assert code == 0 and token not in out + err, err
        assert stack.admin_store.get_credential("kept").secret == token
    finally:
        stack.admin_store.delete_credential("kept")


def test_credentials_write_while_jenkins_is_down_says_retry_or_no_check(cli, stack, monkeypatch):
    """A password (or a token kept as given) is asked of Jenkins before it is stored; with
    Jenkins down there was no way to store it ahead of time. --no-check stores it unasked,
    and a token to be rotated says that rotating needs Jenkins."""
    monkeypatch.setenv("GIVEN", "botpw")
    stack.jenkins.set_fault("refuse")
    try:
        code, out, err = cli("credentials", "write", "ahead", "--username", "ci-bot", "--password-env", "GIVEN")
        assert code == 1 and out == ""
        said = error_line(err)
        assert said.startswith("password: cannot ask Jenkins whether it accepts it: ")
        assert said.endswith("Retry once Jenkins answers, or add --no-check to store it without asking.")
        assert stack.admin_store.get_credential_info("ahead") is None
        code, out, err = cli("credentials", "write", "ahead", "--username", "ci-bot", "--password-env",
                             "GIVEN", "--no-check")
        assert code == 0, err
        assert "botpw" not in out + err and "not checked" in out
        assert stack.admin_store.get_credential("ahead").secret == "botpw"
        code, out, err = cli("credentials", "write", "rotated", "--username", "ci-bot", "--token-env",
                             "GIVEN", "--no-check")
        assert code == 1 and error_line(err) == (
            "--no-check: a token is rotated when written (the broker mints its own with it), "
            "which needs Jenkins: add --no-rotate to store it as given")
    finally:
        stack.jenkins.set_fault(None)
        stack.admin_store.delete_credential("ahead")


def test_credentials_write_refuses_a_secret_that_logs_in_as_another_user(cli, stack, monkeypatch):
    _, token = stack.jenkins.add_token("deployer", name="deployer's, written as ci-bot's")
    monkeypatch.setenv("GIVEN", token)
    code, _, err = cli("credentials", "write", "mixed-up", "--username", "ci-bot", "--token-env",
                       "GIVEN", "--no-rotate")
    assert code == 1
    assert error_line(err).startswith("token: Jenkins refuses it for user 'ci-bot' (401)")
    assert stack.admin_store.get_credential_info("mixed-up") is None


# -- revoke: a lease that does not exist ---------------------------------------------------

UNKNOWN = "jenkins/creds/ci-bot/000000000000000000000000"


def test_revoke_of_an_unknown_lease_says_so_and_exits_3(cli, stack):
    """It printed "revoked False" (or, through the broker, "revoked True") and exited 0."""
    for lease_id in (UNKNOWN, "jenkins/creds/no-such-role/abc", "not-even-a-lease-id"):
        code, out, err = cli("revoke", lease_id)
        assert code == 3 and out == "", err
        assert error_line(err) == (
            f"no such lease {lease_id!r}: already revoked or expired, or a typo; nothing was "
            "revoked (`jenkins-broker leases` lists the live ones)")


def test_revoke_of_an_unknown_lease_through_the_broker_says_so_and_exits_3(stack, monkeypatch, capsys):
    role = stack.role("revoke-through")
    monkeypatch.setenv("JENKINS_BROKER_ADDR", stack.broker_url)
    monkeypatch.setenv("VAULT_TOKEN", stack.token("jenkins-auditor"))
    for lease_id in (f"jenkins/creds/{role}/000000000000000000000000", "jenkins/creds/nope/abc"):
        code = main(["revoke", lease_id])
        out, err = capsys.readouterr()
        assert code == 3 and out == "" and "Traceback" not in err, err
        assert error_line(err).startswith(f"no such lease {lease_id!r}: already revoked or expired")
    # A live one is revoked as before; then it is gone.
    lease_id = stack.mint(role, stack.consumer(role)).json()["lease_id"]
    assert main(["revoke", lease_id]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["revoke", lease_id]) == 3
    assert "no such lease" in capsys.readouterr().err
