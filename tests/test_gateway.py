"""The Jenkins gateway's declared ports, without a Jenkins: which strategy and credential
each call uses, and what a refused credential does."""

from __future__ import annotations

from jenkins_broker.connection import JenkinsConfig
from jenkins_broker.errors import JenkinsAuthError
from jenkins_broker.gateway import JenkinsGateway
from jenkins_broker.roles import build_role
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
