"""Running ``jenkins-broker`` commands in the test's own process (``no_vault``, the fixture
that keeps Vault away from them, is in tests/fixtures/vault.py)."""

from __future__ import annotations

from jenkins_broker.commands import cli


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """``jenkins-broker <argv>`` in this process: (exit status, stdout, stderr). A command
    never prints a traceback, whatever fails."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err
