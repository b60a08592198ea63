"""The token watch against fakes: a gone token revokes its leases; Vault trouble revokes nothing."""

import pytest

from jenkins_broker.domain.records import Requester
from jenkins_broker.domain.tokenwatch import TokenWatch
from jenkins_broker.errors import CallerTokenGone, JenkinsConnectionError, VaultUnavailable
from tests.support.world import build_world


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
    built = build_world(role={"ttl": "10m"}, backoff_cap=4, reaper=True)
    tokens = Tokens()
    watch = TokenWatch(built.manager, built.reaper, tokens, rate=1e6)
    yield built.manager, built.store, built.gateway, tokens, watch
    watch.stop()
    built.reaper.stop()


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
