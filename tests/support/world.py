"""A lease manager over in-memory fakes, as the domain tests build it.

:func:`build_world` writes the ci-bot role (:func:`~tests.support.roles.ci_bot_role`) into
a :class:`~tests.fakes.MemoryStore` and builds the :class:`LeaseManager` over it, the
:class:`~tests.fakes.FakeGateway` and a :class:`~tests.fakes.Clock` that only moves when
told; with ``reaper=True`` the manager schedules into a ``LeaseSchedule`` and a
:class:`Reaper` (not started: tests call ``run_once``) works off it. A test module's
``world`` fixture builds one with the role and backoff it needs.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from jenkins_broker.domain.leases import Backoff, LeaseManager
from jenkins_broker.domain.reaper import LeaseSchedule, Reaper
from tests.fakes import Clock, FakeGateway, MemoryStore
from tests.support.roles import ci_bot_role


@dataclasses.dataclass
class World:
    """What :func:`build_world` built; ``reaper`` is None unless asked for."""

    manager: LeaseManager
    store: MemoryStore
    gateway: FakeGateway
    clock: Clock
    reaper: Reaper | None = None


def build_world(*, role: dict[str, Any], backoff_cap: float, reaper: bool = False,
                reaper_workers: int | None = None, store: MemoryStore | None = None,
                gateway: FakeGateway | None = None, clock: Clock | None = None) -> World:
    """The ci-bot role with ``role``'s fields, in ``store``, and a lease manager with
    ``Backoff(base=1, cap=backoff_cap)``; with ``reaper``, a reaper of ``reaper_workers``
    workers (the Reaper's default if None). ``store``, ``gateway`` and ``clock`` are new
    unless given: replicas share them."""
    store = MemoryStore() if store is None else store
    gateway = FakeGateway() if gateway is None else gateway
    clock = Clock() if clock is None else clock
    store.put_role(ci_bot_role(**role))
    backoff = Backoff(base=1, cap=backoff_cap)
    if not reaper:
        return World(LeaseManager(store, gateway, clock=clock, backoff=backoff), store, gateway, clock)
    manager = LeaseManager(store, gateway, clock=clock, backoff=backoff, scheduler=LeaseSchedule())
    workers = {} if reaper_workers is None else {"workers": reaper_workers}
    return World(manager, store, gateway, clock, Reaper(manager, store, clock=clock, **workers))
