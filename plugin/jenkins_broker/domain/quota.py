"""``max_live_tokens`` across replicas: a place in Vault for every live token of a role.

A place is a live lease record, or a reservation (``jenkins-broker/quota/<role>``,
written with check-and-set before the mint) younger than ``QUOTA_WINDOW``: a mint in
flight whose record is not written yet. Two replicas can never both take the last
place, because only one check-and-set write of the reservation record wins.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Protocol, runtime_checkable

from ..errors import QuotaExceeded, VaultConflict, VaultError, redact
from ..observability import Metrics
from .roles import Role

log = logging.getLogger(__name__)

# How long a max_live_tokens place stays taken by a mint whose record is not written yet.
QUOTA_WINDOW = 120.0


@runtime_checkable
class QuotaStore(Protocol):
    def list_leases(self, role: str) -> list[str]: ...
    def get_quota(self, role: str) -> tuple[dict[str, Any], int] | None: ...
    def put_quota(self, role: str, data: dict[str, Any], cas: int) -> int: ...


class LivePlaces:
    """Takes and gives back the places of capped roles."""

    def __init__(self, store: QuotaStore, metrics: Metrics, clock: Callable[[], float] = time.time):
        self.store = store
        self.metrics = metrics
        self.clock = clock

    def reserve(self, role: Role, suffix: str) -> None:
        """Take one of the role's ``max_live_tokens`` places for a mint about to happen, in
        Vault, with check-and-set: two replicas never both take the last place. A place is
        a live lease record, or a reservation younger than ``QUOTA_WINDOW`` (a mint in
        flight, whose record is not written yet). Raises ``QuotaExceeded``."""
        for _ in range(20):
            found = self.store.get_quota(role.name)
            data, version = found if found else ({}, 0)
            now = self.clock()
            pending = {s: at for s, at in (data.get("pending") or {}).items() if now - at < QUOTA_WINDOW}
            live = set(self.store.list_leases(role.name)) | set(pending)
            if len(live) >= role.max_live_tokens:
                self.metrics.mint_failures.labels(role.name, "quota").inc()
                raise QuotaExceeded(
                    f"role {role.name!r} already has {len(live)} live tokens, its max_live_tokens; "
                    "revoke one (`bao lease revoke`) or wait for one to expire")
            try:
                self.store.put_quota(role.name, {"pending": {**pending, suffix: now}}, cas=version)
                return
            except VaultConflict:
                continue  # another mint took a place meanwhile: count again
        raise VaultConflict(f"too many concurrent mints of role {role.name!r}; try again",
                            path=f"quota/{role.name}")

    def release(self, role: str, suffix: str) -> None:
        """Drop a reservation once its record is written (or its mint failed). Best effort:
        one left behind lapses after ``QUOTA_WINDOW``."""
        for _ in range(20):
            try:
                found = self.store.get_quota(role)
                if not found or suffix not in (found[0].get("pending") or {}):
                    return
                pending = {s: at for s, at in found[0]["pending"].items() if s != suffix}
                self.store.put_quota(role, {"pending": pending}, cas=found[1])
                return
            except VaultConflict:
                continue
            except VaultError as exc:
                log.info("could not release a quota reservation of role %s: %s", role, redact(str(exc)))
                return
