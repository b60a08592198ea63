"""Reconciliation of failed mints: the tokens Jenkins may have made for a mint that failed."""

import json
import logging

import pytest

from jenkins_broker.domain.reconcile import Reconciler
from jenkins_broker.domain.roles import build_role
from jenkins_broker.errors import JenkinsConnectionError
from jenkins_broker.observability import AUDIT_LOGGER, Metrics
from tests.fakes import Clock, FakeGateway, MemoryStore

NOW = 2_000_000_000.0
NAME = "jenkins-broker-ci-bot-0123456789abcdef01234567"


class ListingFails(FakeGateway):
    fail_list = False

    def list_tokens(self, role):
        if self.fail_list:
            raise JenkinsConnectionError("connection refused (test)", url=self.jenkins_url)
        return super().list_tokens(role)


@pytest.fixture
def setup(caplog):
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    store, gateway, clock = MemoryStore(), ListingFails(), Clock(NOW)
    role = build_role("ci-bot", {"jenkins_user": "ci-bot", "strategy": "user-token",
                                 "credential": "ci-bot"})
    store.put_role(role)
    metrics = Metrics()
    reconciler = Reconciler(store, gateway, metrics=metrics, grace=60, clock=clock)

    def trail():
        return [json.loads(r.getMessage()) for r in caplog.records if r.name == AUDIT_LOGGER]
    return store, gateway, reconciler, role, metrics, trail


def test_a_token_jenkins_made_for_a_failed_mint_is_revoked_and_forgotten(setup):
    _, gateway, reconciler, role, metrics, trail = setup
    made = gateway.add_token("ci-bot", NAME)
    kept = gateway.add_token("ci-bot", "somebody's own token")
    reconciler.suspect(role, NAME)
    reconciler.suspect(role, "jenkins-broker-ci-bot-ffffffffffffffffffffffff")  # never made

    assert reconciler.run_suspects() == 1

    assert gateway.revoked == [made] and kept in gateway.live
    assert not reconciler.has_suspects and reconciler.next_suspect_check == NOW
    assert metrics.registry.get_sample_value("jenkins_broker_orphans_revoked_total",
                                             {"role": "ci-bot"}) == 1
    line, = trail()
    assert line["event"] == "revoke" and line["token_uuid"] == made and line["token_name"] == NAME
    assert line["reason"] == "orphan: its mint failed after Jenkins may have made it"
    assert line["jenkins_user"] == "ci-bot"


def test_a_suspect_jenkins_would_not_revoke_stays_and_is_checked_again_later(setup):
    _, gateway, reconciler, role, _, trail = setup
    made = gateway.add_token("ci-bot", NAME)
    reconciler.suspect(role, NAME)
    gateway.fail_revoke = True

    assert reconciler.run_suspects() == 0
    assert reconciler.has_suspects and reconciler.next_suspect_check == NOW + 2.0
    assert trail() == []

    gateway.fail_revoke = False
    assert reconciler.run_suspects() == 1
    assert gateway.revoked == [made]
    assert not reconciler.has_suspects and reconciler.next_suspect_check == NOW


def test_while_jenkins_cannot_be_listed_checks_back_off_up_to_a_minute(setup):
    _, gateway, reconciler, role, _, _ = setup
    gateway.add_token("ci-bot", NAME)
    reconciler.suspect(role, NAME)
    gateway.fail_list = True

    waits = []
    for _ in range(8):
        assert reconciler.run_suspects() == 0
        waits.append(reconciler.next_suspect_check - NOW)
    assert waits == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    assert reconciler.has_suspects

    gateway.fail_list = False
    assert reconciler.run_suspects() == 1
    assert not reconciler.has_suspects and reconciler.next_suspect_check == NOW


def test_suspects_of_a_deleted_or_legacy_role_are_forgotten_without_asking_jenkins(setup):
    store, gateway, reconciler, role, _, _ = setup
    legacy = build_role("old-bot", {"jenkins_user": "old-bot", "strategy": "legacy",
                                    "credential": "old-bot"})
    store.put_role(legacy)
    gateway.add_token("ci-bot", NAME)
    gateway.fail_list = True  # would fail the pass if Jenkins were asked
    reconciler.suspect(role, NAME)
    reconciler.suspect(legacy, "jenkins-broker-old-bot-0123456789abcdef01234567")
    store.delete_role("ci-bot")

    assert reconciler.run_suspects() == 0
    assert not reconciler.has_suspects and reconciler.next_suspect_check == NOW
    assert gateway.revoked == []
