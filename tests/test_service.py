"""The composition root over in-memory fakes: each part gets its ports in its constructor,
each broker owns its state, and ``stop`` ends every thread and pool it started."""

from __future__ import annotations

import threading

import pytest

from jenkins_broker.domain.leases import LeaseManager
from jenkins_broker.domain.records import Requester
from jenkins_broker.domain.roles import build_role
from jenkins_broker.errors import JenkinsConnectionError, LeaseRevoking
from jenkins_broker.server import services as service
from jenkins_broker.server.settings import BrokerSettings
from jenkins_broker.web import create_app
from tests.fakes import FakeGateway, MemoryStore
from tests.support import wait_for
from tests.support.roles import ci_bot_role
from tests.support.web import PolicyAuthorizer, as_

POLICIES = {"ci": {"jenkins/creds/*": ["read"], "sys/leases/renew": ["update"]}}


def build(authorizer=None):
    """A ``Services`` over fakes; returns it and the list its closer appends to."""
    store = MemoryStore()
    store.put_role(ci_bot_role(ttl="10m"))
    store.put_role(build_role("shared", {"jenkins_user": "shared-bot", "strategy": "user-token",
                                         "credential": "ci-bot", "ttl": 100, "shared": True}))
    closed: list[str] = []
    services = service.Services(store, FakeGateway(), authorizer or PolicyAuthorizer(POLICIES),
                                settings=BrokerSettings(claim_timeout=7.0),
                                closers=(lambda: closed.append("authorizer"),))
    return services, closed


class _Sealed(LeaseManager):
    """A lease manager that refuses any attribute written after its constructor."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sealed = True

    def __setattr__(self, name, value):
        if getattr(self, "_sealed", False):
            raise AssertionError(f"LeaseManager.{name} was set after the manager was built")
        super().__setattr__(name, value)


def test_the_lease_manager_gets_every_port_in_its_constructor(monkeypatch):
    monkeypatch.setattr(service, "LeaseManager", _Sealed)
    services, _ = build()
    manager = services.manager
    assert isinstance(manager, _Sealed)
    try:
        # The scheduler: the index the reaper, the reconciler and the token watch read.
        assert manager.scheduler is services.index is services.reaper.index
        assert services.reconciler.index is services.index is services.tokenwatch.index
        record, _ = manager.mint("ci-bot", requester=Requester(accessor="acc-ci"))
        assert services.reaper.known_record("ci-bot", record.suffix) == record
        assert manager.claim_timeout == 7.0
        # The callers' tokens: a lease never outlives the Vault token that asked for it.
        assert manager.caller_tokens is services.authorizer is services.tokenwatch.tokens
        gone, _ = manager.mint("ci-bot", requester=Requester(accessor="acc-revoked"))
        with pytest.raises(LeaseRevoking, match="Vault token that created it"):
            manager.renew(gone.lease_id)
        # A mint that may have reached Jenkins is the reconciler's to look for.
        services.gateway.fail_mint = True
        with pytest.raises(JenkinsConnectionError):
            manager.mint("ci-bot")
        services.gateway.fail_mint = False
        assert services.reconciler.has_suspects
        # A revoked shared token is replaced at once by the rotator...
        services.rotator.tick()
        published = services.store.shared["shared"]["lease_id"]
        manager.revoke(published)
        assert services.store.shared["shared"]["lease_id"] != published
        # ...and a token Jenkins no longer lists ends its lease through the manager.
        services.reconciler.on_gone(record)
        assert services.store.get_lease("ci-bot", record.suffix) is None
    finally:
        services.stop()


def test_stop_ends_every_thread_and_pool_the_broker_started():
    before = set(threading.enumerate())
    services, closed = build()
    services.start()
    services.fast_path.submit(lambda: None).result()  # the mint fast path's pool has a worker
    wait_for(services.reaper.loaded.is_set, timeout=10, what="the lease index to load")
    assert [t for t in threading.enumerate() if t not in before]
    services.stop()
    assert [t.name for t in threading.enumerate() if t not in before] == []
    with pytest.raises(RuntimeError):
        services.fast_path.submit(lambda: None)
    assert services.gateway.closed and closed == ["authorizer"]


def test_two_brokers_in_one_process_do_not_share_what_was_recently_allowed():
    """The two-replica tests run two brokers in one process: a token one of them allowed
    a minute ago must not take the other's fast path (its capability check overlapping
    the mint) before the other has allowed it once itself."""
    authorizer = PolicyAuthorizer(POLICIES)  # one Vault answers both
    overlapped: list[bool] = []
    check = authorizer.capabilities

    def capabilities(caller_token, path):
        overlapped.append(threading.current_thread().name.startswith("authz"))
        return check(caller_token, path)
    authorizer.capabilities = capabilities
    (a, _), (b, _) = build(authorizer), build(authorizer)
    try:
        first, second = create_app(a).test_client(), create_app(b).test_client()
        for client in (first, first, second, second):
            assert client.get("/v1/jenkins/creds/ci-bot", headers=as_("ci")).status_code == 200
        assert overlapped == [False, True, False, True]
        assert a.fast_path is not b.fast_path
    finally:
        a.stop()
        b.stop()
