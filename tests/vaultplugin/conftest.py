"""Fixtures for the secrets-engine plugin's tests.

* ``engine``: a :class:`JenkinsBackend` with in-memory storage, and ``call``, a
  small action that sends it one request the way OpenBao would.
* ``configured``: ``engine`` with ``config`` written for the fake Jenkins
  (user ci-bot with a token) and a user-token role ``ci-bot``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from jenkins_broker.vaultplugin.backend import JenkinsBackend
from jenkins_broker.vaultplugin.logical import LeaseOptions, Request, Secret
from jenkins_broker.vaultplugin.storage import MemoryStorage


@dataclass
class Engine:
    backend: JenkinsBackend
    storage: MemoryStorage

    def call(self, operation: str, path: str = "", data: dict | None = None, secret: Secret | None = None):
        """Send one request; returns the Response (or None), raises LogicalError."""
        return self.backend.handle(Request(operation=operation, path=path, storage=self.storage,
                                           data=dict(data or {}), secret=secret))

    def revoke(self, response, **lease):
        secret = response.secret
        return self.call("revoke", "creds/x", secret=Secret(lease=LeaseOptions(**lease) if lease else secret.lease,
                                                               internal_data=secret.internal_data))

    def renew(self, response, increment: int = 0, issue_time: float | None = None):
        secret = response.secret
        options = LeaseOptions(ttl=secret.lease.ttl, max_ttl=secret.lease.max_ttl, increment=increment,
                               issue_time=issue_time if issue_time is not None else secret.lease.issue_time)
        return self.call("renew", "creds/x", secret=Secret(lease=options, internal_data=secret.internal_data))


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
