"""The token watch against fakes: a gone token revokes its leases; Vault trouble revokes nothing."""

import pytest

from jenkins_broker.domain.leases import Backoff, LeaseManager
from jenkins_broker.domain.reaper import LeaseSchedule, Reaper
from jenkins_broker.domain.records import Requester
from jenkins_broker.domain.roles import build_role
from jenkins_broker.domain.tokenwatch import TokenWatch
from jenkins_broker.errors import CallerTokenGone, JenkinsConnectionError, VaultUnavailable
from tests.fakes import Clock, FakeGateway, MemoryStore


class Tokens:
    """Vault's answers about accessors: live, gone, or Vault failing."""

    def __init__(self):
        self.gone: set[str] = set()
        self.down = False
        self.asked: list[str] = []

    def token_expiry(self, accessor):
        self.asked.append(accessor)
        if self.down:
            raise VaultUnavailable("Vault is sealed (test)")
        if accessor in self.gone:
            raise CallerTokenGone(f"accessor {accessor} is invalid")
        return None


@pytest.fixture
def world():
    store, gateway, clock = MemoryStore(), FakeGateway(), Clock()
    store.put_role(build_role("ci-bot", {"jenkins_user": "ci-bot", "strategy": "user-token",
                                         "credential": "ci-bot", "ttl": "10m"}))
    manager = LeaseManager(store, gateway, clock=clock, backoff=Backoff(base=1, cap=4),
                           scheduler=LeaseSchedule())
    reaper = Reaper(manager, store, clock=clock)
    tokens = Tokens()
    watch = TokenWatch(manager, reaper, tokens, rate=1e6)
    yield manager, store, gateway, tokens, watch
    watch.stop()
    reaper.stop()


def test_the_leases_of_a_gone_token_are_revoked_and_one_lookup_serves_all_its_leases(world):
    manager, store, gateway, tokens, watch = world
    alice = [manager.mint("ci-bot", requester=Requester(accessor="acc-a"))[0] for _ in range(3)]
    bob, _ = manager.mint("ci-bot", requester=Requester(accessor="acc-b"))
    tokens.gone.add("acc-a")
    counts = watch.run_once()
    assert counts == {"checked": 2, "gone": 1, "revoked": 3, "errors": 0}
    assert sorted(tokens.asked) == ["acc-a", "acc-b"]
    assert set(gateway.revoked) == {r.token_uuid for r in alice}
    assert store.list_leases("ci-bot") == [bob.suffix]
    assert manager.metrics.registry.get_sample_value("jenkins_broker_revocations_total",
                                                     {"role": "ci-bot", "cause": "token-revoked"}) == 3


def test_vault_failing_concludes_nothing(world):
    manager, store, gateway, tokens, watch = world
    manager.mint("ci-bot", requester=Requester(accessor="acc-a"))
    tokens.down = True
    assert watch.run_once() == {"checked": 1, "gone": 0, "revoked": 0, "errors": 1}
    assert gateway.revoked == [] and len(store.list_leases("ci-bot")) == 1


def test_leases_without_an_accessor_shared_or_revoking_are_not_looked_up(world):
    manager, store, gateway, tokens, watch = world
    manager.mint("ci-bot", requester=Requester(display_name="a batch token"))
    manager.mint("ci-bot", requester=Requester(accessor="acc-s"), shared=True)
    record, _ = manager.mint("ci-bot", requester=Requester(accessor="acc-r"))
    gateway.fail_revoke = True
    with pytest.raises(JenkinsConnectionError):
        manager.revoke(record.lease_id)  # now revoking: the reaper retries it, not the watch
    watch.run_once()
    assert tokens.asked == []
