"""The command line's usage: what a new user sees when they get the command wrong or ask for
help. No Vault: everything here fails (or prints) before Vault would be asked."""

from __future__ import annotations

import argparse
import re

import pytest

from jenkins_broker.commands import cli
from jenkins_broker.server.settings import BrokerSettings
from jenkins_broker.vault.settings import ENV_NAMES


def usage_exit(capsys, *argv) -> tuple[object, str, str]:
    """Run the CLI with ``argv`` expecting a usage exit (SystemExit); return (code, out, err)."""
    with pytest.raises(SystemExit) as exc:
        cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return exc.value.code, out, err


def help_text(capsys, *argv) -> str:
    code, out, err = usage_exit(capsys, *argv, "--help")
    assert code == 0 and err == ""
    return out


def commands() -> list[str]:
    sub = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


def test_no_arguments_prints_the_commands_and_exits_2(capsys):
    """It used to print only "the following arguments are required: COMMAND"."""
    code, out, err = usage_exit(capsys)
    assert code == 2 and out == ""
    assert err.startswith("usage: jenkins-broker")
    for name in commands():
        assert re.search(rf"^\s+{re.escape(name)}\s", err, re.M), f"{name} not listed:\n{err}"


@pytest.mark.parametrize("argv,prog", [
    (["config", "write", "--url", "http://jenkins.example/", "--bogus"], "jenkins-broker config"),
    (["roles", "list", "--bogus"], "jenkins-broker roles"),
    (["revoke", "--bogus", "x"], "jenkins-broker revoke"),
    (["plugin", "build", "--bogus"], "jenkins-broker plugin build"),
])
def test_an_unknown_flag_shows_the_usage_of_the_command_given(capsys, argv, prog):
    """It used to print the top-level usage ("jenkins-broker [-h] [--version] COMMAND ...")."""
    code, out, err = usage_exit(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith(f"usage: {prog} ")
    assert f"{prog}: error: unrecognized arguments: --bogus" in err


def test_a_missing_value_the_command_checks_itself_shows_the_commands_usage(capsys):
    code, _, err = usage_exit(capsys, "config", "write")
    assert code == 2 and err.startswith("usage: jenkins-broker config ")
    assert "jenkins-broker config: error: config write needs --url" in err


def test_serve_help_lists_every_environment_variable_it_reads(capsys):
    """Generated from BrokerSettings' ``# [JENKINS_BROKER_X]`` comments and VaultSettings'
    ENV_NAMES, so a new setting cannot be left out."""
    text = help_text(capsys, "serve")
    broker = [f"JENKINS_BROKER_{f.upper()}" for f in BrokerSettings.__dataclass_fields__]
    vault = [*ENV_NAMES.values(), "JENKINS_BROKER_VAULT_SECRET_ID_FILE"]
    assert len(broker) > 20 and len(vault) > 15
    missing = [name for name in broker + vault if not re.search(rf"^\s+{name}\b", text, re.M)]
    assert missing == [], f"serve --help does not list {missing}:\n{text}"
    # With its default and what it does, as the settings' comment says.
    assert re.search(r"^\s+JENKINS_BROKER_LISTEN\s+host:port \(default 127\.0\.0\.1:8400\)", text, re.M), text
    assert re.search(r"^\s+VAULT_ADDR\s+Vault URL, required", text, re.M), text


def test_every_option_of_every_command_says_what_it_is_for(capsys):
    """`config --kind` and `plugin serve` had no help text."""
    def parsers(parser, prefix):
        yield prefix, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    yield from parsers(child, f"{prefix} {name}")

    silent = [f"{where}: {action.option_strings or action.dest}"
              for where, parser in parsers(cli.build_parser(), "jenkins-broker")
              for action in parser._actions
              if not isinstance(action, argparse._SubParsersAction) and not action.help]
    assert silent == []
    kind = help_text(capsys, "config")
    assert re.search(r"--kind \{[^}]*\}\s+\S", kind), kind
    assert "cloudbees-controller" in kind.split("--kind", 2)[2]
    serve = help_text(capsys, "plugin", "serve")
    assert "OpenBao" in serve and "plugin build" in serve


def test_the_exit_status_table_has_one_for_a_lease_that_does_not_exist(capsys):
    from jenkins_broker.errors import LeaseNotFound
    statuses = dict(cli.EXIT_STATUS)
    assert statuses[LeaseNotFound] == 3
    # Listed before BrokerError, its base: the first match wins.
    order = [cls for cls, _ in cli.EXIT_STATUS]
    assert order.index(LeaseNotFound) < order.index(cli.BrokerError)
    # And --help says so, with the others.
    text = " ".join(help_text(capsys).split())
    assert "exit status" in text.lower()
    for code in ("0", "1", "2", "3", "130"):
        assert re.search(rf"\b{code}\b", text.lower().split("exit status", 1)[1]), text
