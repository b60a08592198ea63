"""Fixtures shared by every test module.

The fixtures themselves live in ``tests/fixtures/``, one module per external
system: ``jenkins.py`` (the fake Jenkins, in-process on a free port) and
``vault.py`` (a real ``bao server -dev`` on a free port).
"""

import os

import pytest

pytest_plugins = ["tests.fixtures.jenkins", "tests.fixtures.vault"]

# Settings a developer's shell may carry; a test must never pick them up by accident.
_LEAKY_PREFIXES = ("VAULT_", "BAO_", "JENKINS_", "CI_VAULT_")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith(_LEAKY_PREFIXES):
            monkeypatch.delenv(name)
