"""Facts from the code the deployment files must agree with: the environment variables
the broker reads, and whether the CLI accepts a command line."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import shlex
from unittest import mock

from tests.support.deploy.files import READ_ELSEWHERE


def broker_env_names() -> set[str]:
    """Every environment variable the broker reads."""
    from jenkins_broker.server.settings import PREFIX, BrokerSettings
    from jenkins_broker.vault.settings import ENV_NAMES
    return ({PREFIX + f.name.upper() for f in dataclasses.fields(BrokerSettings)}
            | set(ENV_NAMES.values()) | set(READ_ELSEWHERE))


def cli_rejects(argv: list[str]) -> str | None:
    """Why ``jenkins-broker ARGV`` would be refused before doing anything, or None.

    Runs the real ``cli.main`` (so its own checks apply too) with every command
    replaced by a no-op.
    """
    from jenkins_broker.commands import cli
    err = io.StringIO()
    with contextlib.ExitStack() as stack:
        for name in dir(cli):
            if name.startswith("cmd_"):
                stack.enter_context(mock.patch.object(cli, name, lambda args: 0))
        stack.enter_context(mock.patch.object(cli, "setup_logging", lambda *a, **k: None))
        stack.enter_context(contextlib.redirect_stderr(err))
        stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        try:
            cli.main(argv)
        except SystemExit:
            lines = err.getvalue().strip().splitlines() or ["refused"]
            return f"`jenkins-broker {shlex.join(argv)}`: {lines[-1]}"
    return None
