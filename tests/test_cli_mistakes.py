"""Mistakes a new user made on the command line that succeeded silently, showed a traceback or gave
wrong advice; each is now refused with a non-zero exit and one line that says what is wrong and
what to do. These need no Vault (tests/integration/test_cli_mistakes.py has those that do)."""

from __future__ import annotations

import importlib.util

import pytest

from jenkins_broker.commands import admin, cli
from tests.fakes import MemoryStore


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def one_line_error(err: str) -> str:
    assert err.startswith("Error: ") and err.endswith("\n") and err.count("\n") == 1, err
    return err[len("Error: "):-1]


@pytest.fixture
def store(monkeypatch):
    store = MemoryStore()
    monkeypatch.setattr(admin, "open_store", lambda: store)
    return store


@pytest.fixture
def no_vault(monkeypatch):
    """The command must fail before it would ask Vault for anything."""
    def asked():
        raise AssertionError("Vault was asked")
    monkeypatch.setattr(admin, "open_store", asked)
    monkeypatch.setattr(admin, "open_manager", asked)


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
