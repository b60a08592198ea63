"""Shared mode rotation against in-memory fakes."""

from jenkins_broker.domain.leases import LeaseManager
from jenkins_broker.domain.reaper import LeaseSchedule, Reaper
from jenkins_broker.domain.shared_mode import SharedRotator
from tests.fakes import Clock, FakeGateway, MemoryStore
from tests.support.roles import ci_bot_role


def make(store, gateway, clock):
    manager = LeaseManager(store, gateway, clock=clock, scheduler=LeaseSchedule())
    reaper = Reaper(manager, store, clock=clock)
    return manager, reaper, SharedRotator(manager, store, clock=clock)


def setup():
    store, gateway, clock = MemoryStore(), FakeGateway(), Clock()
    store.put_role(ci_bot_role(ttl=100, shared=True))
    return store, gateway, clock


def test_rotation_keeps_at_least_half_a_ttl_and_revokes_old_at_expiry():
    store, gateway, clock = setup()
    manager, reaper, rotator = make(store, gateway, clock)
    rotator.tick()
    first = dict(store.shared["ci-bot"])
    assert first["username"] == "ci-bot" and first["token"].startswith("11") and first["ttl"] == "50s"
    clock.advance(49)
    rotator.tick()
    assert store.shared["ci-bot"]["token"] == first["token"]
    clock.advance(2)
    rotator.tick()
    assert store.shared["ci-bot"]["token"] != first["token"]
    assert len(gateway.live) == 2  # the old one lives on until its own expiry
    clock.advance(50)
    reaper.run_once()
    assert len(gateway.live) == 1
    reaper.stop()


def test_two_replicas_rotate_once_per_period():
    store, gateway, clock = setup()
    _, ra, a = make(store, gateway, clock)
    _, rb, b = make(store, gateway, clock)
    for _ in range(4):
        a.tick()
        b.tick()
        clock.advance(51)
    assert sum(m.value for m in _rotations(a) + _rotations(b)) == 4
    ra.stop()
    rb.stop()


def _rotations(rotator):
    return [s for m in rotator.manager.metrics.registry.collect() for s in m.samples
            if s.name == "jenkins_broker_rotations_total"]


def test_failed_rotation_is_retried_soon():
    store, gateway, clock = setup()
    _, reaper, rotator = make(store, gateway, clock)
    gateway.fail_mint = True
    wait = rotator.tick()
    assert "ci-bot" not in store.shared and wait <= 5.0
    gateway.fail_mint = False
    clock.advance(6)
    rotator.tick()
    assert store.shared["ci-bot"]["token"]
    reaper.stop()
