"""The command line's front door, without Vault: every failure is one line and an exit status
(cli.EXIT_STATUS), and it reads values with the one vocabulary (values.py)."""

import pytest

from jenkins_broker.commands import admin, cli
from jenkins_broker.domain.jenkins_config import StoredCredential
from jenkins_broker.errors import BrokerError
from tests.fakes import MemoryStore
from tests.support.cli import run


class ConfigStore(MemoryStore):
    def __init__(self):
        super().__init__()
        self.config = None

    def get_jenkins_config(self):
        return self.config

    def put_jenkins_config(self, config):
        self.config = config


@pytest.fixture
def store(monkeypatch):
    store = ConfigStore()
    monkeypatch.setattr(admin, "open_store", lambda: store)
    return store


def one_line_error(err: str) -> str:
    assert err.startswith("Error: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err[len("Error: "):-1]


@pytest.mark.parametrize("ttl", ["abc", "-5", "99999999999d", "1h30"])
def test_mint_with_a_bad_ttl_is_one_line_and_exit_1(capsys, no_vault, ttl):
    code, out, err = run(capsys, "mint", "ci-bot", "--ttl", ttl)
    assert code == 1 and out == ""
    assert one_line_error(err).startswith("--ttl: ")


@pytest.mark.parametrize("bundle", ["/missing/ca.pem", "{tmp}", "{tmp}/binary.pem"])
def test_config_write_with_a_ca_bundle_it_cannot_read_is_one_line_and_exit_1(capsys, no_vault, tmp_path, bundle):
    """It used to ask Vault first (without VAULT_ADDR: "VAULT_ADDR is not set"), and to say only
    "[Errno 2] No such file or directory" once it could."""
    (tmp_path / "binary.pem").write_bytes(b"\xff\xfe not ascii")
    path = bundle.format(tmp=tmp_path)
    code, out, err = run(capsys, "config", "write", "--url", "https://jenkins.example.com/", "--ca-bundle", path)
    assert code == 1 and out == ""
    assert one_line_error(err).startswith(f"--ca-bundle: cannot read {path!r}: ")


def test_config_write_of_a_url_with_a_query_is_refused_and_nothing_stored(capsys, store):
    code, _, err = run(capsys, "config", "write", "--url", "https://jenkins.example.com/?x=1")
    assert code == 1 and one_line_error(err) == "url: must not have a query or fragment"
    assert store.config is None
    # (--no-check: nothing answers at jenkins.example.com; tests/integration/test_cli_mistakes.py
    # has the check itself.)
    assert run(capsys, "config", "write", "--url", "https://jenkins.example.com/jenkins", "--no-check")[0] == 0
    assert store.config.url == "https://jenkins.example.com/jenkins/"


@pytest.mark.parametrize("word,meaning", [("on", True), ("T", True), ("yes", True), ("1", True),
                                          ("off", False), ("f", False), ("no", False), ("0", False)])
def test_roles_write_reads_booleans_as_every_front_door_does(capsys, store, word, meaning):
    store.put_credential(StoredCredential("c", "u", "token", "s"))  # a role names a stored one
    code, _, err = run(capsys, "roles", "write", "r", "jenkins_user=u", "strategy=user-token", "credential=c",
                       f"shared={word}", f"disabled={word}")
    assert code == 0, err
    assert store.get_role("r").shared is meaning and store.get_role("r").disabled is meaning
    code, _, err = run(capsys, "roles", "write", "r", "shared=perhaps")
    assert code == 1 and one_line_error(err).startswith("shared: expected true or false")


def test_an_unexpected_failure_is_one_line_too(capsys, monkeypatch):
    def broken():
        raise KeyError("a bug\nover two lines")
    monkeypatch.setattr(admin, "open_store", broken)
    code, _, err = run(capsys, "roles", "list")
    assert code == cli.UNEXPECTED == 1
    assert one_line_error(err).startswith("unexpected KeyError: ")


def test_an_interrupt_is_130_and_quiet(capsys, monkeypatch):
    def interrupted():
        raise KeyboardInterrupt
    monkeypatch.setattr(admin, "open_store", interrupted)
    assert run(capsys, "roles", "list") == (130, "", "")


def test_the_exit_status_table():
    statuses = dict(cli.EXIT_STATUS)
    assert statuses[KeyboardInterrupt] == 130
    assert {statuses[c] for c in (BrokerError, ValueError, OSError)} == {1}


def test_through_the_broker_an_answer_without_a_body_is_one_line(capsys, monkeypatch):
    """`leases` and `revoke --role` read the broker's JSON answer: one without a body (a 204)
    is a BrokerError, not a TypeError on None."""
    from jenkins_broker.commands.api import BrokerAPI

    monkeypatch.setenv("JENKINS_BROKER_ADDR", "http://127.0.0.1:1")
    monkeypatch.setenv("VAULT_TOKEN", "t")
    monkeypatch.setattr(BrokerAPI, "call", lambda self, method, path, body=None: None)
    code, _, err = run(capsys, "revoke", "--role", "r")
    assert code == 1
    assert one_line_error(err).endswith("the broker answered POST /v1/jenkins/revoke/r with no body")
