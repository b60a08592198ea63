"""The lease lifecycle against in-memory fakes: ordering, caps, renew limits, failures."""

import pytest

from jenkins_broker.domain.leases import Backoff, LeaseManager
from jenkins_broker.domain.records import Requester
from jenkins_broker.domain.roles import build_role
from jenkins_broker.errors import (
    InvalidRequest,
    JenkinsConnectionError,
    LeaseNotFound,
    LeaseRevoking,
    QuotaExceeded,
    UnknownRole,
    VaultUnavailable,
)
from jenkins_broker.values import parse_token_name, split_lease_id
from tests.support.world import build_world


@pytest.fixture
def world():
    built = build_world(role={"ttl": "10m", "max_ttl": "1h"}, backoff_cap=60)
    return built.manager, built.store, built.gateway, built.clock


def test_mint_records_lease_without_token_value(world):
    manager, store, gateway, clock = world
    record, value = manager.mint("ci-bot", requester=Requester("acc", "ent", "token-ci"))
    assert value.startswith("11") and len(value) == 34
    stored, version = store.get_lease("ci-bot", record.suffix)
    assert stored == record and version == 1
    assert value not in repr(store.leases)
    assert record.expires_at - clock.now == 600
    assert record.requester.display_name == "token-ci"
    assert parse_token_name(record.token_name, "jenkins-broker-") == ("ci-bot", record.suffix)
    assert split_lease_id(record.lease_id) == ("ci-bot", record.suffix)


def test_requested_ttl_is_capped_at_max_ttl(world):
    manager, _, _, clock = world
    record, _ = manager.mint("ci-bot", ttl=7200)
    assert record.expires_at - clock.now == 3600


def test_unknown_role(world):
    with pytest.raises(UnknownRole):
        world[0].mint("nope")


def test_record_write_failure_revokes_the_token(world):
    manager, store, gateway, _ = world
    store.fail_writes = True
    with pytest.raises(VaultUnavailable):
        manager.mint("ci-bot")
    assert gateway.live == {} and len(gateway.revoked) == 1


def test_jenkins_failure_leaves_nothing(world):
    manager, store, gateway, _ = world
    gateway.fail_mint = True
    with pytest.raises(JenkinsConnectionError):
        manager.mint("ci-bot")
    assert store.leases == {}


def test_max_live_tokens(world):
    manager, store, _, _ = world
    store.put_role(build_role("capped", {"jenkins_user": "ci-bot", "strategy": "user-token",
                                         "credential": "ci-bot", "max_live_tokens": 2}))
    manager.mint("capped")
    record, _ = manager.mint("capped")
    with pytest.raises(QuotaExceeded, match="max_live_tokens"):
        manager.mint("capped")
    manager.revoke(record.lease_id)
    manager.mint("capped")


def test_renew_never_passes_max_ttl(world):
    manager, _, _, clock = world
    record, _ = manager.mint("ci-bot")
    clock.advance(300)
    renewed, warnings = manager.renew(record.lease_id, 600)
    assert renewed.expires_at == clock.now + 600 and not warnings
    clock.advance(500)
    renewed, warnings = manager.renew(record.lease_id, 3600)
    assert renewed.expires_at == record.max_expires_at
    assert warnings and "capped" in warnings[0]


def test_renew_of_unknown_or_malformed_lease(world):
    manager = world[0]
    with pytest.raises(LeaseNotFound):
        manager.renew("jenkins/creds/ci-bot/000000000000000000000000")
    with pytest.raises(InvalidRequest):
        manager.renew("aws/creds/x")


@pytest.mark.parametrize("lease_id", ["jenkins/creds/a b/c d", "jenkins/creds/\u00e9t\u00e9/x",
                                      "jenkins/creds/ci-bot/0123456789ABCDEF01234567",
                                      "jenkins/creds/a..b/0123456789abcdef01234567"])
def test_a_lease_id_the_broker_never_makes_is_not_found_without_asking_the_store(world, lease_id):
    """split_lease_id used to hand any role and suffix to the store: a lease id no role name
    and no lease suffix can make is Vault's "not found" (renew 400, revoke a no-op) at once."""
    manager, store, _, _ = world
    asked = []
    store.get_lease = lambda role, suffix: asked.append((role, suffix))
    with pytest.raises(LeaseNotFound):
        manager.renew(lease_id)
    assert manager.revoke(lease_id) is False
    assert asked == []


def test_revoke_is_idempotent(world):
    manager, store, gateway, _ = world
    record, _ = manager.mint("ci-bot")
    assert manager.revoke(record.lease_id) is True
    assert gateway.live == {} and store.leases == {}
    assert manager.revoke(record.lease_id) is False


def test_failed_revoke_keeps_record_and_backs_off(world):
    manager, store, gateway, clock = world
    record, _ = manager.mint("ci-bot")
    gateway.fail_revoke = True
    with pytest.raises(JenkinsConnectionError):
        manager.revoke(record.lease_id)
    kept, _ = store.get_lease("ci-bot", record.suffix)
    assert kept.revoke_attempts == 1 and kept.last_error
    first_delay = kept.next_attempt_at - clock.now
    with pytest.raises(JenkinsConnectionError):
        manager.revoke(record.lease_id)
    kept, _ = store.get_lease("ci-bot", record.suffix)
    assert kept.revoke_attempts == 2
    assert kept.next_attempt_at - clock.now > first_delay
    gateway.fail_revoke = False
    assert manager.revoke(record.lease_id)
    assert store.leases == {}


def test_backoff_is_capped():
    backoff = Backoff(base=1, cap=60)
    assert backoff.delay(1) <= 1
    assert 48 <= backoff.delay(40) <= 60


def test_incident_button_by_requester(world):
    manager, store, gateway, _ = world
    manager.mint("ci-bot", requester=Requester("acc-a", "ent-a", "alice"))
    manager.mint("ci-bot", requester=Requester("acc-b", "ent-b", "bob"))
    counts = manager.revoke_many("ci-bot", requester="ent-a")
    assert counts == {"revoked": 1, "failed": 0, "skipped": 1}
    assert [r.requester.display_name for r in (manager.lookup(f"jenkins/creds/ci-bot/{s}")
                                                 for s in manager.list("ci-bot"))] == ["bob"]
    assert manager.revoke_many("ci-bot")["revoked"] == 1
    assert gateway.live == {}


# -- asked-for revocation (issue 11) ----------------------------------------------------

def test_a_failed_asked_for_revocation_makes_the_lease_revoking_and_due_after_the_backoff(world):
    manager, store, gateway, clock = world
    record, _ = manager.mint("ci-bot")
    gateway.fail_revoke = True
    with pytest.raises(JenkinsConnectionError):
        manager.revoke(record.lease_id, cause="request")
    stored, _ = store.get_lease("ci-bot", record.suffix)
    assert stored.revoking and stored.revoke_reason == "request"
    assert stored.revoke_requested_at == clock.now
    # Due after the first backoff (base 1 s), not at the lease's expiry ten minutes away.
    assert clock.now < stored.due_at <= clock.now + 1
    assert stored.state(clock.now) == "revoking"
    with pytest.raises(LeaseRevoking):
        manager.renew(record.lease_id, 600)


def test_a_claim_in_progress_makes_other_revocations_stand_back(world):
    manager, store, gateway, clock = world
    record, _ = manager.mint("ci-bot")
    found, version = store.get_lease("ci-bot", record.suffix)
    store.put_lease(found.claimed(clock.now, clock.now + 30, "request"), cas=version)
    assert manager.revoke(record.lease_id) is False
    assert gateway.revoked == []
    clock.advance(31)  # the claimer died: its claim lapses and the next request acts
    assert manager.revoke(record.lease_id) is True
    assert len(gateway.revoked) == 1


def test_an_asked_for_revocation_is_not_given_up_when_a_renewal_races_it(world):
    manager, store, gateway, clock = world
    record, _ = manager.mint("ci-bot")
    stale, version = store.get_lease("ci-bot", record.suffix)
    manager.renew(record.lease_id, 300)  # lands between the load and the claim
    assert manager.revoke_record(stale, version, cause="request") is True
    assert store.leases == {} and len(gateway.revoked) == 1


def test_a_vault_error_after_the_claim_still_schedules_the_retry_and_the_incident_goes_on(world):
    manager, store, gateway, clock = world
    first, _ = manager.mint("ci-bot")
    second, _ = manager.mint("ci-bot")
    calls = []

    def revoke(record):
        calls.append(record.suffix)
        if len(calls) == 1:
            raise VaultUnavailable("the credential could not be read (test)")
        gateway._revoke(record.token_uuid)
    gateway.revoke = revoke
    counts = manager.revoke_many("ci-bot")
    assert counts == {"revoked": 1, "failed": 1, "skipped": 0}
    failed, _ = store.get_lease("ci-bot", calls[0])
    assert failed.revoking and failed.due_at <= clock.now + 1  # retried soon, not at expiry
    assert store.revoking == {("ci-bot", calls[0])}  # and every replica's resync sees it


def test_a_lease_of_a_suspended_role_cannot_be_renewed_and_the_sweep_revokes_late_ones(world):
    from dataclasses import replace

    from jenkins_broker.errors import RoleDisabled
    manager, store, gateway, clock = world
    early, _ = manager.mint("ci-bot")
    late, _ = manager.mint("ci-bot")  # minted by a replica whose role cache was stale
    store.put_role(replace(store.get_role("ci-bot"), disabled=True))
    with pytest.raises(RoleDisabled):
        manager.renew(early.lease_id, 600)
    assert store.get_lease("ci-bot", early.suffix) is None
    # The sweep hands the late lease to the reaper, revoking and due now; it never waits on Jenkins.
    assert manager.sweep_suspended() == 1
    swept, _ = store.get_lease("ci-bot", late.suffix)
    assert swept.revoking and swept.due_at == clock.now and ("ci-bot", late.suffix) in store.revoking
    assert manager.sweep_suspended() == 0  # already revoking: not handed over again


# -- how a revocation at expiry ends: a declared outcome, not a mark on an exception ------

class _Scheduled:
    """A scheduler that remembers what it was told."""

    def __init__(self):
        self.told: list[tuple[str, object]] = []

    def schedule(self, record, version):
        self.told.append(("schedule", record))

    def forget(self, role, suffix):
        self.told.append(("forget", suffix))


def test_reap_says_how_the_revocation_at_expiry_ended(world):
    from jenkins_broker.domain.revocation import Revocation
    _, store, gateway, clock = world
    scheduler = _Scheduled()
    manager = LeaseManager(store, gateway, clock=clock, backoff=Backoff(base=1, cap=60),
                           scheduler=scheduler)
    record, _ = manager.mint("ci-bot", ttl=10)
    stale = store.get_lease("ci-bot", record.suffix)
    manager.renew(record.lease_id, 20)
    clock.advance(11)
    assert manager.reap(*stale) is Revocation.SKIPPED  # renewed meanwhile: read it again
    gateway.fail_revoke = True
    clock.advance(10)
    # Jenkins failing is no exception to the reaper: recorded, and its retry scheduled.
    assert manager.reap(*store.get_lease("ci-bot", record.suffix)) is Revocation.RETRYING
    failed, _ = store.get_lease("ci-bot", record.suffix)
    assert failed.revoke_attempts == 1 and failed.last_error
    assert scheduler.told[-1] == ("schedule", failed)
    gateway.fail_revoke = False
    clock.advance(2)
    assert manager.reap(*store.get_lease("ci-bot", record.suffix)) is Revocation.REVOKED
    assert scheduler.told[-1] == ("forget", record.suffix) and store.leases == {}
    # Only a record that cannot even be claimed raises, and then nothing was scheduled.
    other, _ = manager.mint("ci-bot", ttl=1)
    clock.advance(2)
    told = len(scheduler.told)
    store.fail_writes = True
    with pytest.raises(VaultUnavailable):
        manager.reap(*store.get_lease("ci-bot", other.suffix))
    assert len(scheduler.told) == told


def test_a_claim_is_held_as_long_as_the_gateway_says_a_revocation_can_take(world):
    _, store, gateway, clock = world
    manager = LeaseManager(store, gateway, clock=clock, claim_timeout=5)
    record, _ = manager.mint("ci-bot")
    held = []
    gateway.revoke = lambda r: held.append(store.get_lease(r.role, r.suffix)[0].claimed_until)
    gateway.call_timeout = 80.0  # a slow Jenkins: another replica must not take over meanwhile
    assert manager.revoke(record.lease_id)
    assert held == [clock.now + 80.0]
