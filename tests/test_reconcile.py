"""Reconciliation's backstop for plugin mode: engine-named tokens past their lease deadline."""

import json
import logging

import pytest

from jenkins_broker.domain.reconcile import Reconciler
from jenkins_broker.domain.roles import build_role
from jenkins_broker.observability import AUDIT_LOGGER, Metrics
from jenkins_broker.values import parse_engine_token_name
from tests.fakes import Clock, FakeGateway, MemoryStore
from tests.support.roles import ci_bot_role

NOW = 2_000_000_000.0


@pytest.fixture
def setup(caplog):
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    store, gateway, clock = MemoryStore(), FakeGateway(), Clock(NOW)
    store.put_role(ci_bot_role())
    metrics = Metrics()
    reconciler = Reconciler(store, gateway, metrics=metrics, grace=60, clock=clock)

    def trail():
        return [json.loads(r.getMessage()) for r in caplog.records if r.name == AUDIT_LOGGER]
    return gateway, reconciler, metrics, trail


def test_engine_token_names_parse_and_others_do_not():
    assert parse_engine_token_name("vault-jenkins-ci-bot-1796090507-819d88ee") == ("ci-bot", 1796090507)
    assert parse_engine_token_name("vault-jenkins-a.b_c-1-00000000") == ("a.b_c", 1)
    for name in ("vault-jenkins-root-1796086908-6bb4bf35",       # the engine's rotate-root credential
                 "jenkins-broker-ci-bot-0123456789abcdef01234567",  # the broker's own
                 "vault-jenkins-ci-bot-0123456789abcdef01234567",
                 "vault-jenkins-ci-bot-17960x0507-819d88ee",
                 "vault-jenkins-ci-bot-1796090507-819D88EE",
                 "vault-jenkins-1796090507-819d88ee",
                 "vault-jenkins--1796090507-819d88ee",
                 "vault-jenkins-ci-bot--819d88ee",
                 "somebody's own token"):
        assert parse_engine_token_name(name) is None, name


def test_engine_tokens_past_their_deadline_and_grace_are_revoked(setup):
    """With an engine declared on the same users, its tokens with a deadline ahead are the
    engine's to account for; past the deadline no Vault lease can cover them."""
    gateway, reconciler, metrics, trail = setup
    reconciler.engine_shares_users = True
    past = gateway.add_token("ci-bot", f"vault-jenkins-ci-bot-{int(NOW) - 61}-0123abcd")
    in_grace = gateway.add_token("ci-bot", f"vault-jenkins-ci-bot-{int(NOW) - 59}-0123abce")
    future = gateway.add_token("ci-bot", f"vault-jenkins-deploy-{int(NOW) + 3600}-0123abcf")
    other_user = gateway.add_token("deployer", f"vault-jenkins-ci-bot-{int(NOW) - 86400}-0123abd2")

    counts = reconciler.run()

    assert gateway.revoked == [past]
    assert counts == {"checked": 3, "orphans": 1, "foreign": 0, "revoked": 1, "gone": 0, "errors": 0}
    assert {in_grace, future, other_user} <= set(gateway.live)
    assert metrics.registry.get_sample_value("jenkins_broker_orphans_revoked_total",
                                             {"role": "ci-bot"}) == 1
    line, = [x for x in trail() if x["event"] == "revoke"]
    assert line["reason"] == "engine token past its lease deadline"
    assert line["token_uuid"] == past and line["jenkins_user"] == "ci-bot"


def test_without_a_declared_engine_an_engine_name_hides_nothing(setup):
    gateway, reconciler, metrics, trail = setup
    forged = gateway.add_token("ci-bot", f"vault-jenkins-ci-bot-{int(NOW) + 3600}-0123abcf")
    root = gateway.add_token("ci-bot", f"vault-jenkins-root-{int(NOW) - 86400}-0123abd0")
    laptop = gateway.add_token("ci-bot", "my laptop")
    counts = reconciler.run()
    assert set(gateway.revoked) == {forged, root, laptop}
    assert counts == {"checked": 3, "orphans": 0, "foreign": 3, "revoked": 3, "gone": 0, "errors": 0}
    assert metrics.registry.get_sample_value("jenkins_broker_foreign_tokens_total",
                                             {"role": "ci-bot", "action": "revoked"}) == 3
    assert {x["event"] for x in trail()} == {"foreign-token-revoked"}


def test_an_engine_deadline_beyond_any_lease_is_foreign_even_with_an_engine(setup):
    gateway, reconciler, _, _ = setup
    reconciler.engine_shares_users = True
    forged = gateway.add_token("ci-bot", f"vault-jenkins-ci-bot-{int(NOW) + 40 * 86400}-0123abcf")
    reconciler.run()
    assert gateway.revoked == [forged]


def test_the_brokers_own_credential_and_live_leases_are_accounted_for_by_uuid(setup):
    from jenkins_broker.domain.jenkins_config import StoredCredential
    from jenkins_broker.domain.leases import LeaseManager
    gateway, reconciler, _, _ = setup
    store = reconciler.store
    own = gateway.add_token("ci-bot", "jenkins-broker-credential-ci-bot")
    store.put_credential(StoredCredential("ci-bot", "ci-bot", "token", "x" * 34, token_uuid=own))
    record, _ = LeaseManager(store, gateway, clock=reconciler.clock).mint("ci-bot")
    twin = gateway.add_token("ci-bot", record.token_name)  # a holder copying its lease's name
    assert reconciler.run()["foreign"] == 1
    assert gateway.revoked == [twin] and {own, record.token_uuid} <= set(gateway.live)


def test_an_unrotated_token_credential_on_the_user_turns_revocation_into_reports(setup):
    from jenkins_broker.domain.jenkins_config import StoredCredential
    gateway, reconciler, metrics, trail = setup
    reconciler.store.put_credential(StoredCredential("ci-bot", "ci-bot", "token", "x" * 34))
    bootstrap = gateway.add_token("ci-bot", "bootstrap")
    for _ in range(2):
        assert reconciler.run()["foreign"] == 1
    assert gateway.revoked == [] and bootstrap in gateway.live
    reports = [x for x in trail() if x["event"] == "foreign-token-found"]
    assert len(reports) == 1 and "rotate" in reports[0]["error"]  # once, not every pass


def test_a_failed_revocation_is_counted_and_retried_next_pass(setup):
    gateway, reconciler, _, _ = setup
    past = gateway.add_token("ci-bot", f"vault-jenkins-ci-bot-{int(NOW) - 3600}-0123abcd")
    gateway.fail_revoke = True
    assert reconciler.run() == {"checked": 1, "orphans": 1, "foreign": 0, "revoked": 0, "gone": 0,
                               "errors": 1}
    gateway.fail_revoke = False
    assert reconciler.run()["revoked"] == 1
    assert past not in gateway.live


def test_the_leases_of_a_deleted_role_with_its_own_prefix_are_still_accounted_for(setup):
    from jenkins_broker.domain.leases import LeaseManager
    gateway, reconciler, _, _ = setup
    store = reconciler.store
    store.put_role(build_role("gone", {"jenkins_user": "ci-bot", "strategy": "user-token",
                                       "credential": "ci-bot", "token_name_prefix": "own-"}))
    record, _ = LeaseManager(store, gateway, clock=reconciler.clock).mint("gone")
    store.delete_role("gone")  # its live leases stay and end as recorded
    reconciler.run()
    assert record.token_uuid in gateway.live and gateway.revoked == []


def test_a_rotated_credential_named_with_the_default_prefix_gets_the_grace(setup):
    gateway, reconciler, _, _ = setup
    store = reconciler.store
    store.put_role(ci_bot_role(token_name_prefix="ci-"))
    rotating = gateway.add_token("ci-bot", "jenkins-broker-credential-ci-bot")
    reconciler.run()
    assert rotating in gateway.live  # another replica may be storing it right now
    reconciler.clock.advance(61)
    reconciler.run()
    assert rotating not in gateway.live  # never stored: foreign after the grace


def test_a_lease_whose_token_was_revoked_outside_the_broker_is_settled(setup):
    from jenkins_broker.domain.leases import LeaseManager
    gateway, reconciler, _, _ = setup
    store = reconciler.store
    settled = []
    manager = LeaseManager(store, gateway, clock=reconciler.clock, on_revoked=settled.append)
    reconciler.on_gone = manager.token_gone
    record, _ = manager.mint("ci-bot", shared=True)
    other, _ = manager.mint("ci-bot")
    gateway.live.pop(record.token_uuid)  # a holder revoked it in Jenkins
    assert reconciler.run()["gone"] == 0  # too young: it may have been minted after the listing
    reconciler.clock.advance(61)
    assert reconciler.run()["gone"] == 0  # one listing may have missed it
    assert reconciler.run()["gone"] == 1  # two in a row did not: revoked for good
    assert set(store.list_leases("ci-bot")) == {other.suffix}
    assert [r.suffix for r in settled] == [record.suffix]
    assert record.token_uuid in gateway.revoked  # revoking an unknown uuid is harmless


def test_an_empty_listing_ends_no_lease(setup):
    from jenkins_broker.domain.leases import LeaseManager
    gateway, reconciler, _, _ = setup
    manager = LeaseManager(reconciler.store, gateway, clock=reconciler.clock)
    reconciler.on_gone = manager.token_gone
    record, _ = manager.mint("ci-bot")
    reconciler.clock.advance(61)
    gateway.list_tokens = lambda role: []  # a page whose list came back empty
    for _ in range(3):
        assert reconciler.run()["gone"] == 0
    assert reconciler.store.list_leases("ci-bot") == [record.suffix]


def test_user_ids_that_differ_in_case_are_one_user(setup):
    from jenkins_broker.domain.leases import LeaseManager
    gateway, reconciler, _, _ = setup
    store = reconciler.store
    store.put_role(build_role("shouting", {"jenkins_user": "CI-Bot", "strategy": "user-token",
                                           "credential": "ci-bot"}))
    manager = LeaseManager(store, gateway, clock=reconciler.clock)
    loud, _ = manager.mint("shouting")
    gateway.live[loud.token_uuid].user = "ci-bot"  # Jenkins keeps one user, whatever the case
    quiet, _ = manager.mint("ci-bot")
    reconciler.clock.advance(61)
    counts = reconciler.run()
    assert counts["foreign"] == counts["orphans"] == 0 and gateway.revoked == []


def test_the_token_of_a_malformed_lease_record_is_revoked_and_the_record_deleted(setup):
    """The store reports the records it could not read (``malformed_leases``, a declared
    port); reconciliation revokes their tokens by name, then deletes them."""
    gateway, reconciler, _, trail = setup
    store = reconciler.store
    suffix = "0123456789abcdef01234567"
    store.leases[("ci-bot", suffix)] = ({"role": "ci-bot", "written": "by hand"}, 1)
    token = gateway.add_token("ci-bot", f"jenkins-broker-ci-bot-{suffix}")
    reconciler.run()
    assert store.malformed_leases() == {("ci-bot", suffix)} and token in gateway.live
    reconciler.clock.advance(61)
    assert reconciler.run()["orphans"] == 1
    assert gateway.revoked == [token]
    assert ("ci-bot", suffix) not in store.leases and store.malformed_leases() == set()
    assert [x["reason"] for x in trail() if x["event"] == "revoke"] == ["orphan: malformed lease record"]
