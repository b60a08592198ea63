"""Shared mode: keep ``jenkins/creds/<role>`` (KV v1) fresh by rotation.

Every ``rotation_period`` (half the ttl by default) a new token is minted under
a lease of the role's ttl and written to the shared path, so whoever reads it
gets at least ``ttl - rotation_period`` of life. The old token is not revoked at
rotation: its own lease ends at its own expiry and the reaper revokes it then.
(The legacy strategy is the exception: Jenkins keeps one legacy token per user,
so minting the new one already killed the old, whose record is dropped.)

When the current shared token is revoked before its time (a lease revoke, the
incident button, its caller's token revoked, or its lease running out because
rotation kept failing), :meth:`SharedRotator.replace_revoked` publishes a fresh
one at once, so readers never get a dead token; if none can be minted, or the
role is suspended (``disabled``), the value is removed instead.

Replicas coordinate through a state record per role
(``jenkins-broker/shared/<role>``) written with check-and-set: the replica
whose claim lands rotates, the others see a conflict and stand back, so each
credential is rotated once per period.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Protocol, runtime_checkable

from ..durations import format_duration
from ..errors import BrokerError, VaultConflict, redact
from ..observability import audit, audit_lease
from .leases import LeaseManager
from .records import LeaseRecord, Requester, rfc3339
from .roles import Role

log = logging.getLogger(__name__)

ROTATION_REQUESTER = Requester(display_name="jenkins-broker shared rotation")
RETRY_AFTER_FAILURE = 5.0


@runtime_checkable
class SharedStore(Protocol):
    """The part of the Vault store shared mode needs."""

    def list_roles(self) -> list[str]: ...
    def get_role(self, name: str) -> Role | None: ...
    def get_rotation_state(self, role: str) -> tuple[dict[str, Any], int] | None: ...
    def put_rotation_state(self, role: str, state: dict[str, Any], cas: int) -> int: ...
    def write_shared(self, role: str, data: dict[str, Any]) -> None: ...
    def delete_shared(self, role: str) -> None: ...


class SharedRotator:
    """Rotates shared credentials when due. ``tick`` is called by the broker's maintenance
    thread (:class:`jenkins_broker.server.services.Services`), not by the reaper; a revoked
    published token is replaced through the lease manager's ``on_revoked``."""

    def __init__(self, manager: LeaseManager, store: SharedStore, *,
                 clock: Callable[[], float] = time.time, jenkins_url: str = ""):
        self.manager = manager
        self.store = store
        self.clock = clock
        self.jenkins_url = jenkins_url
        self._next_due: dict[str, float] = {}
        self._removed: set[str] = set()  # suspended roles whose value this replica removed

    def tick(self) -> float:
        """Rotate every shared role that is due; return seconds until the next one."""
        now = self.clock()
        soonest = now + 5.0  # look at the role list again at least this often
        for name in self.store.list_roles():
            if self._next_due.get(name, 0.0) > now:
                soonest = min(soonest, self._next_due[name])
                continue
            role = self.store.get_role(name)
            if role is None or not role.shared or role.disabled:
                if role is not None and role.shared and name not in self._removed:
                    self._remove(role.name, "role suspended")
                self._next_due[name] = now + 5.0
                continue
            self._removed.discard(name)
            try:
                self._next_due[name] = self.rotate(role)
            except BrokerError as exc:
                log.warning("shared rotation of role %s failed, retrying in %.0fs: %s", name,
                            RETRY_AFTER_FAILURE, redact(str(exc)))
                self._next_due[name] = now + RETRY_AFTER_FAILURE
            soonest = min(soonest, self._next_due[name])
        return max(0.05, soonest - self.clock())

    def rotate(self, role: Role, *, force: bool = False) -> float:
        """Rotate ``role``'s shared credential if it is due (or ``force``); return when
        it is next due. Raises ``BrokerError`` if minting or writing failed.
        """
        now = self.clock()
        found = self.store.get_rotation_state(role.name)
        state, version = found if found else ({}, 0)
        if not force and state.get("next_rotation_at", 0.0) > now:
            return state["next_rotation_at"]
        period = role.effective_rotation_period
        claim = {**state, "next_rotation_at": now + period, "claimed_at": now}
        try:
            version = self.store.put_rotation_state(role.name, claim, cas=version)
        except VaultConflict:
            # Another replica is rotating it; look again when its period would end.
            again = self.store.get_rotation_state(role.name)
            return again[0].get("next_rotation_at", now + period) if again else now + 1.0
        try:
            record, value = self.manager.mint(role.name, ttl=role.ttl, requester=ROTATION_REQUESTER,
                                              shared=True)
        except BrokerError:
            # Let the next attempt come soon rather than a whole period later.
            retry = {**claim, "next_rotation_at": now + RETRY_AFTER_FAILURE}
            try:
                self.store.put_rotation_state(role.name, retry, cas=version)
            except BrokerError:
                pass
            raise
        self.store.write_shared(role.name, {
            "username": record.jenkins_user,
            "token": value,
            "token_name": record.token_name,
            "jenkins_url": self.jenkins_url or self.manager.gateway.jenkins_url,
            "expires_at": rfc3339(record.expires_at),
            "lease_id": record.lease_id,
            # KV v1 reports this as refresh_interval on `vault read`.
            "ttl": format_duration(period),
        })
        previous = state.get("suffix")
        done = {**claim, "suffix": record.suffix, "rotated_at": now}
        self.store.put_rotation_state(role.name, done, cas=version)
        if role.strategy == "legacy" and previous:
            # changeToken already replaced the one legacy token; the old lease has nothing left to revoke.
            self.manager.drop(role.name, previous)
        self.manager.metrics.rotations.labels(role.name).inc()
        audit_lease("rotate", record)
        return now + period

    def replace_revoked(self, record: LeaseRecord) -> None:
        """Called once a shared lease's token is revoked: if it was the published one,
        publish a fresh token now (or remove the value: role suspended, deleted, no longer
        shared, or Jenkins not minting). Never raises; a failure is retried by :meth:`tick`."""
        if not record.shared:
            return
        try:
            found = self.store.get_rotation_state(record.role)
            if not found or found[0].get("suffix") != record.suffix:
                return  # an older token, already replaced by rotation
            role = self.store.get_role(record.role)
            if role is None or not role.shared or role.disabled:
                self._remove(record.role, "role suspended or no longer shared")
                return
            try:
                self._next_due[role.name] = self.rotate(role, force=True)
            except BrokerError as exc:
                self._remove(role.name, f"its token was revoked and no new one could be minted "
                                        f"({redact(str(exc))})")
                self._next_due[role.name] = self.clock() + RETRY_AFTER_FAILURE
        except BrokerError as exc:
            log.warning("could not replace the revoked shared credential of role %s: %s",
                        record.role, redact(str(exc)))
            self._next_due[record.role] = 0.0

    def _remove(self, role: str, why: str) -> None:
        self.store.delete_shared(role)
        self._removed.add(role)
        self._next_due[role] = self.clock() + 5.0  # look again soon: a lifted suspension republishes
        audit("shared-removed", role=role, reason=why)
        # Nothing is published now: the next rotation (by any replica) is due at once.
        found = self.store.get_rotation_state(role)
        if found and found[0].get("suffix"):
            try:
                self.store.put_rotation_state(role, {**found[0], "suffix": None, "next_rotation_at": 0.0},
                                              cas=found[1])
            except VaultConflict:
                pass  # another replica rotated or removed it meanwhile
