"""``jenkins-broker plugin build``: the sub-parser and what it prints."""

from __future__ import annotations

import argparse

from jenkins_broker.vaultplugin.command import add_arguments, run


def parse(*argv):
    parser = argparse.ArgumentParser(prog="jenkins-broker plugin")
    add_arguments(parser)
    return parser.parse_args(argv)


def test_build_prints_the_registration_commands(tmp_path, capsys):
    assert run(parse("build", "--output", str(tmp_path / "plugins"))) == 0
    out = capsys.readouterr().out
    built = tmp_path / "plugins" / "jenkins-broker-plugin"
    assert built.is_file()
    sha = next(line.split()[1] for line in out.splitlines() if line.startswith("SHA-256:"))
    assert f"bao plugin register -sha256={sha} -command=jenkins-broker-plugin secret jenkins" in out
    assert f"vault plugin register -sha256={sha} -command=jenkins-broker-plugin secret jenkins" in out
    assert "bao secrets enable -path=jenkins jenkins" in out


def test_serve_refuses_to_run_by_hand(monkeypatch, capsys):
    monkeypatch.delenv("VAULT_BACKEND_PLUGIN", raising=False)
    assert run(parse("serve")) == 1
    assert "not meant to be run by hand" in capsys.readouterr().err
