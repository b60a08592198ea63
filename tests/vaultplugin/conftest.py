"""Fixtures for the secrets-engine plugin's tests.

* ``engine``: a :class:`JenkinsBackend` with in-memory storage, and ``call``, a
  small action that sends it one request the way OpenBao would.
* ``configured``: ``engine`` with ``config`` written for the fake Jenkins
  (user ci-bot with a token) and a user-token role ``ci-bot``.
"""

from __future__ import annotations

import pytest

from jenkins_broker.vaultplugin.backend import JenkinsBackend
from jenkins_broker.vaultplugin.storage import MemoryStorage
from tests.support.engine import Engine


@pytest.fixture
def engine():
    backend = JenkinsBackend()
    yield Engine(backend, MemoryStorage())
    backend.cleanup()


@pytest.fixture
def bot_token(fake_jenkins):
    """A hand-made API token of ci-bot (the bootstrap credential)."""
    return fake_jenkins.add_token("ci-bot", "bootstrap")[1]


@pytest.fixture
def configured(engine, fake_jenkins, bot_token):
    engine.call("update", "config", {"url": fake_jenkins.url, "username": "ci-bot", "token": bot_token})
    engine.call("create", "roles/ci-bot", {"jenkins_user": "ci-bot", "strategy": "user-token", "ttl": "10m",
                                            "max_ttl": "1h"})
    return engine
