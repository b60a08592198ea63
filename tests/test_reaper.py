"""The reaper against in-memory fakes: on-time revocation, retries, replicas, cost."""

import pytest

from jenkins_broker.domain.leases import LeaseManager
from jenkins_broker.domain.reaper import LeaseSchedule, Reaper
from tests.fakes import Clock, FakeGateway, MemoryStore
from tests.support.roles import ci_bot_role
from tests.support.world import build_world


def make(store=None, gateway=None, clock=None):
    built = build_world(role={"ttl": 60}, backoff_cap=8, reaper=True, reaper_workers=4,
                        store=store, gateway=gateway, clock=clock)
    return built.manager, built.reaper, built.store, built.gateway, built.clock


@pytest.fixture
def world():
    manager, reaper, store, gateway, clock = make()
    yield manager, reaper, store, gateway, clock
    reaper.stop()


def test_expired_leases_are_revoked_and_deleted(world):
    manager, reaper, store, gateway, clock = world
    early, _ = manager.mint("ci-bot", ttl=10)
    late, _ = manager.mint("ci-bot", ttl=50)
    assert reaper.run_once() == 0
    clock.advance(11)
    assert reaper.run_once() == 1
    assert early.token_uuid in gateway.revoked and late.token_uuid not in gateway.revoked
    assert store.get_lease("ci-bot", early.suffix) is None
    assert reaper.live_count("ci-bot") == 1
    samples = {s.name: s.value for m in manager.metrics.registry.collect() for s in m.samples}
    assert samples["jenkins_broker_revocation_lag_seconds_count"] == 1


def test_renewed_lease_is_not_revoked_at_old_expiry(world):
    manager, reaper, store, gateway, clock = world
    record, _ = manager.mint("ci-bot", ttl=10)
    clock.advance(5)
    manager.renew(record.lease_id, 30)
    clock.advance(10)
    assert reaper.run_once() == 0
    assert gateway.revoked == []


def test_failed_revocation_is_retried_until_it_works(world):
    manager, reaper, store, gateway, clock = world
    record, _ = manager.mint("ci-bot", ttl=1)
    gateway.fail_revoke = True
    attempts = 0
    for _ in range(6):
        clock.advance(10)
        reaper.run_once()
        attempts = store.get_lease("ci-bot", record.suffix)[0].revoke_attempts
    assert attempts == 6
    gateway.fail_revoke = False
    clock.advance(10)
    reaper.run_once()
    assert store.get_lease("ci-bot", record.suffix) is None
    assert gateway.live == {}


def test_a_second_replica_finds_leases_of_a_dead_one():
    store, gateway, clock = MemoryStore(), FakeGateway(), Clock()
    first_manager, first, *_ = make(store, gateway, clock)
    record, _ = first_manager.mint("ci-bot", ttl=5)
    first.stop()  # the replica dies with the lease only in Vault
    _, second, *_ = make(store, gateway, clock)
    assert second.load() == 1
    clock.advance(6)
    assert second.run_once() == 1
    assert gateway.live == {} and store.leases == {}
    second.stop()


def test_two_replicas_revoke_each_lease_once():
    store, gateway, clock = MemoryStore(), FakeGateway(), Clock()
    manager_a, a, *_ = make(store, gateway, clock)
    _, b, *_ = make(store, gateway, clock)
    for _ in range(20):
        manager_a.mint("ci-bot", ttl=5)
    b.load()
    clock.advance(6)
    a.run_once()
    b.run_once()
    assert sorted(gateway.revoked) == sorted(set(gateway.revoked)) and len(gateway.revoked) == 20
    assert store.leases == {}
    a.stop()
    b.stop()


def test_pass_cost_does_not_grow_with_live_leases(world):
    """A pass looks only at due entries: count the records it touches."""
    manager, reaper, store, gateway, clock = world
    for _ in range(500):
        manager.mint("ci-bot", ttl=3600)
    manager.mint("ci-bot", ttl=1)
    touched = []
    original = store.put_lease
    store.put_lease = lambda record, cas=None: touched.append(record.suffix) or original(record, cas)
    clock.advance(2)
    assert reaper.run_once() == 1
    assert len(touched) == 1


def test_background_loop_reaps_without_being_asked():
    import threading
    import time

    from jenkins_broker.domain.leases import LeaseManager as LM

    store, gateway = MemoryStore(), FakeGateway()
    store.put_role(ci_bot_role(ttl=1))
    manager = LM(store, gateway, scheduler=LeaseSchedule())
    reaper = Reaper(manager, store).start()
    try:
        record, _ = manager.mint("ci-bot", ttl=1)
        deadline = time.monotonic() + 5
        while store.get_lease("ci-bot", record.suffix) and time.monotonic() < deadline:
            threading.Event().wait(0.05)
        assert store.get_lease("ci-bot", record.suffix) is None
        assert record.token_uuid in gateway.revoked
    finally:
        reaper.stop()


def test_the_reaper_works_off_the_index_its_manager_was_built_with_and_changes_nothing_of_it():
    store, gateway = MemoryStore(), FakeGateway()
    with pytest.raises(TypeError, match="scheduler=LeaseSchedule"):
        Reaper(LeaseManager(store, gateway), store)
    index = LeaseSchedule()
    manager = LeaseManager(store, gateway, scheduler=index)
    before = dict(vars(manager))
    reaper = Reaper(manager, store)
    assert vars(manager) == before and reaper.index is index
    reaper.stop()
