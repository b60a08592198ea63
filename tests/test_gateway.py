"""The Jenkins gateway's declared ports, without a Jenkins: which strategy and credential
each call uses, and what a refused credential does."""

from __future__ import annotations

import pytest

from jenkins_broker.domain.jenkins_config import JenkinsConfig
from jenkins_broker.domain.roles import build_role
from jenkins_broker.errors import ConfigError, JenkinsAuthError, JenkinsUnavailable
from jenkins_broker.jenkins.gateway import JenkinsGateway
from tests.fakes import MemoryStore


def test_revoke_token_uses_the_roles_strategy_and_credential_and_a_refusal_is_retried_once():
    """Reconciliation revokes through ``revoke_token`` (not a strategy it fetched itself), so
    a credential rotated by another replica is read again and the health hears of it."""
    store = MemoryStore()
    store.config = JenkinsConfig(url="http://jenkins.test/")
    gateway = JenkinsGateway(store)
    asked, revoked, reports = [], [], []

    class Strategy:
        def revoke(self, *, user, uuid):
            revoked.append((user, uuid))
            if len(revoked) == 1:
                raise JenkinsAuthError("401 (test): rotated by another replica")

    gateway.strategy = lambda kind, credential: asked.append((kind, credential)) or Strategy()
    gateway.on_credential = lambda name, accepted: reports.append((name, accepted))
    role = build_role("deploy", {"jenkins_user": "deployer", "strategy": "admin-rest",
                                 "credential": "admin"})
    gateway.revoke_token(role, "0" * 32)
    assert asked == [("admin-rest", "admin")] * 2
    assert revoked == [("deployer", "0" * 32)] * 2
    assert reports == [("admin", True)]
    gateway.close()


def test_reset_drops_the_cache_and_close_shuts_the_gateway():
    class Store:
        def get_jenkins_config(self):
            return JenkinsConfig(url="http://jenkins.example/")

        def get_credential(self, name):
            return None

        def forget_jenkins_config(self):
            pass  # nothing is cached here

        def forget_credential(self, name):
            pass

        def bind_credential_origin(self, name, origin):
            return None

    gateway = JenkinsGateway(Store())
    assert gateway.jenkins_url == "http://jenkins.example/"
    gateway.reset()                       # a config write: rebuilt on the next call
    assert gateway.jenkins_url == "http://jenkins.example/"
    gateway.close()                       # shutting down: no new connections
    with pytest.raises(JenkinsUnavailable, match="shutting down"):
        gateway.jenkins_url  # noqa: B018  (the read builds the connection)


def test_a_connection_written_behind_the_gateways_back_replaces_its_client_and_strategies():
    """Written by the CLI or another replica (no ``reset`` here): the next call that reads a
    different stored connection builds a new client, and no strategy of the old one is used."""
    from jenkins_broker.domain.jenkins_config import StoredCredential
    store = MemoryStore()
    store.config = JenkinsConfig(url="http://jenkins.test/")
    store.put_credential(StoredCredential("ci", "ci-bot", "password", "pw"))
    gateway = JenkinsGateway(store)
    first = gateway.strategy("user-password", "ci")
    assert gateway.strategy("user-password", "ci") is first      # unchanged: kept
    store.config = JenkinsConfig(url="http://jenkins.test/", timeout=3.0)
    second = gateway.strategy("user-password", "ci")
    assert second is not first
    assert gateway.call_timeout == 24.0
    gateway.close()


def test_a_credential_stored_without_an_origin_is_bound_at_first_use():
    # Written before origins were recorded: bound (in the store) to the Jenkins configured
    # when it is first used, and refused once the URL moves to another origin.
    from jenkins_broker.domain.jenkins_config import StoredCredential

    store = MemoryStore()
    store.put_jenkins_config(JenkinsConfig(url="https://jenkins.example/"))
    store.put_credential(StoredCredential("old", "ci-bot", "token", "11" + "a" * 32))
    gateway = JenkinsGateway(store)
    gateway.strategy("user-token", "old")
    assert store.get_credential("old").origin == "https://jenkins.example:443"
    store.put_jenkins_config(JenkinsConfig(url="https://listener.example/"))
    with pytest.raises(ConfigError, match="moved from"):
        gateway.strategy("user-token", "old")
