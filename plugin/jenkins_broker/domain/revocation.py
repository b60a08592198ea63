"""The revocation half of the lease lifecycle: :class:`Revocations`, mixed into
:class:`~jenkins_broker.domain.leases.LeaseManager`.

Ending a lease: claim the record (check-and-set, so two replicas never both act),
revoke in Jenkins, then delete the record. A failed Jenkins call keeps the record
and schedules a retry with capped exponential backoff, for ever. Also here: the
role-wide endings (suspend, the incident button) and the ports they need.

Domain code, like the rest of the lifecycle: it imports neither Flask, nor an HTTP
or Vault library.
"""

from __future__ import annotations

import enum
import logging
import random
from dataclasses import replace
from typing import Any, Callable, Iterable, Protocol, runtime_checkable

from ..errors import BrokerError, LeaseNotFound, VaultConflict, VaultError, redact
from ..faults import crash_point
from ..observability import Metrics, audit, audit_lease
from .records import LeaseRecord, Requester
from .roles import Role

# One logger for the whole lifecycle, as before the split.
log = logging.getLogger("jenkins_broker.domain.leases")


@runtime_checkable
class RevocationStore(Protocol):
    """The part of the Vault store ending leases needs."""

    def get_role(self, name: str) -> Role | None: ...
    def list_roles(self) -> list[str]: ...
    def put_role(self, role: Role) -> None: ...
    def delete_shared(self, role: str) -> None: ...
    def get_lease(self, role: str, suffix: str) -> tuple[LeaseRecord, int] | None: ...
    def put_lease(self, record: LeaseRecord, cas: int | None = None) -> int: ...
    def delete_lease(self, role: str, suffix: str) -> None: ...
    def list_leases(self, role: str) -> list[str]: ...
    def get_leases(self, keys: Iterable[tuple[str, str]]) -> Iterable[tuple[LeaseRecord, int]]: ...
    def mark_revoking(self, role: str, suffix: str) -> None: ...
    def unmark_revoking(self, role: str, suffix: str) -> None: ...


@runtime_checkable
class RevocationGateway(Protocol):
    """The part of the Jenkins side ending leases needs."""

    @property
    def call_timeout(self) -> float:
        """The longest one revocation can take (a claim is held at least that long)."""
        ...

    def revoke(self, record: LeaseRecord) -> None: ...


@runtime_checkable
class Scheduler(Protocol):
    """Told about every lease whose expiry must be acted on (the reaper's index,
    :class:`jenkins_broker.domain.reaper.LeaseSchedule`)."""

    def schedule(self, record: LeaseRecord, version: int) -> None: ...
    def forget(self, role: str, suffix: str) -> None: ...


class Revocation(enum.Enum):
    """How :meth:`LeaseManager.reap` ended."""

    REVOKED = "revoked"    # the token is revoked in Jenkins and its record deleted
    SKIPPED = "skipped"    # renewed, gone, or being revoked elsewhere: read the record again
    RETRYING = "retrying"  # Jenkins failed: the failure is recorded and the retry scheduled


class Backoff:
    """Capped exponential backoff with jitter for failed revocations."""

    def __init__(self, base: float = 1.0, cap: float = 300.0):
        self.base = base
        self.cap = cap

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failure (1-based)."""
        raw = min(self.cap, self.base * (2 ** min(attempts - 1, 30)))
        return raw * random.uniform(0.8, 1.0)


class Revocations:
    """Ending leases: one now, at its expiry, or all of a role's. Mixed into
    :class:`~jenkins_broker.domain.leases.LeaseManager`, which sets these attributes
    and provides :meth:`role` and :meth:`_load`."""

    store: RevocationStore
    gateway: RevocationGateway
    metrics: Metrics
    scheduler: Scheduler | None
    backoff: Backoff
    clock: Callable[[], float]
    claim_timeout: float
    on_revoked: Callable[[LeaseRecord], None] | None

    def role(self, name: str) -> Role:
        raise NotImplementedError

    def _load(self, lease_id: str) -> tuple[LeaseRecord, int]:
        raise NotImplementedError

    def revoke(self, lease_id: str, *, cause: str = "request", actor: Requester | None = None) -> bool:
        """Revoke a lease now: the token in Jenkins, then its record.

        Unknown leases are a success (as in Vault). Returns True if this call
        revoked it. If Jenkins fails, the record is kept and a retry is
        scheduled; the Jenkins error is raised so the caller learns it.
        """
        try:
            record, version = self._load(lease_id)
        except LeaseNotFound:
            return False
        return self.revoke_record(record, version, cause=cause, actor=actor)

    def revoke_record(self, record: LeaseRecord, version: int, *, cause: str,
                      actor: Requester | None = None, force: bool = False) -> bool:
        """Claim, revoke in Jenkins and delete one record. Returns False if it is gone or
        another replica (or thread) is revoking it right now. Raises the Jenkins error
        after scheduling a retry. ``cause`` is ``expiry`` for the lease's natural end
        (the reaper), anything else for a revocation asked for: that one marks the lease
        revoking at once (no renewal from then on, retries counted from now) and is not
        given up when a renewal races it. ``actor`` is who asked (for the audit trail).
        ``force`` (Vault's ``revoke-force``): if Jenkins refuses, the record goes anyway and
        the token is left to reconciliation, which revokes it as an orphan (by its name).
        """
        outcome, failure = self._end(record, version, cause=cause, actor=actor, force=force)
        if failure is not None:
            raise failure
        return outcome is Revocation.REVOKED

    def reap(self, record: LeaseRecord, version: int) -> Revocation:
        """End a lease at its expiry (the reaper's call): claim, revoke in Jenkins, delete
        the record. A Jenkins failure is not raised: it is recorded, logged and its retry
        scheduled (``RETRYING``). Raises ``VaultError`` only when the record could not be
        claimed, and then nothing was scheduled."""
        return self._end(record, version, cause="expiry")[0]


    def _end(self, record: LeaseRecord, version: int, *, cause: str,
             actor: Requester | None = None,
             force: bool = False) -> tuple[Revocation, BrokerError | None]:
        """:meth:`revoke_record`'s work: the outcome, and the Jenkins error of a failed
        attempt (its retry scheduled)."""
        asked = None if cause == "expiry" else cause
        claimed = self._claim(record, version, asked)
        if claimed is None:
            return Revocation.SKIPPED, None
        record, claim, claimed_version = claimed
        if asked is not None and record.revoke_requested_at is None:
            self._mark_revoking(claim)
        crash_point("revoke:after-claim")
        try:
            self.gateway.revoke(record)
        except BrokerError as exc:  # Jenkins down, its credential deleted, Vault unreadable...
            if force:
                log.warning("forced revocation of %s: Jenkins did not revoke its token (%s); the "
                            "record goes, reconciliation revokes the token as an orphan",
                            record.lease_id, redact(str(exc)))
                self._revoked(record, claim, reason="forced-unconfirmed", actor=actor)
                return Revocation.REVOKED, None
            self._revocation_failed(claim, claimed_version, exc)
            return Revocation.RETRYING, exc
        crash_point("revoke:after-jenkins")
        self._revoked(record, claim, reason=claim.revoke_reason or cause, actor=actor)
        return Revocation.REVOKED, None

    def _claim(self, record: LeaseRecord, version: int,
               asked: str | None) -> tuple[LeaseRecord, LeaseRecord, int] | None:
        """Claim the lease for this revocation: the record as claimed from, the claim and
        its version. None when another replica (or thread) holds a claim, or, for an
        expiry, when the record changed (renewed, claimed elsewhere); a revocation asked
        for reads the record again and tries again. Raises ``VaultConflict`` if it keeps
        changing."""
        for _ in range(5):
            now = self.clock()
            if record.claimed_until is not None and record.claimed_until > now:
                return None  # being revoked elsewhere; its claim ends the race
            # If this replica dies mid-revocation, another one takes over after the claim times out.
            # Held at least as long as the Jenkins calls may take, so a slow revocation is not
            # taken over (and done twice) by another replica.
            hold = max(self.claim_timeout, self.gateway.call_timeout)
            claim = record.claimed(now, now + hold, asked)
            try:
                # The check-and-set write is the claim: if it loses, the record changed meanwhile.
                return record, claim, self.store.put_lease(claim, cas=version)
            except VaultConflict:
                if asked is None:
                    return None  # renewed or claimed elsewhere: look again
                found = self.store.get_lease(record.role, record.suffix)
                if found is None:
                    return None
                record, version = found
        raise VaultConflict("the lease changed repeatedly while revoking it; try again",
                            path=record.lease_id)

    def _revoked(self, record: LeaseRecord, claim: LeaseRecord, *, reason: str,
                 actor: Requester | None) -> None:
        """After Jenkins revoked the token: delete the record, stop scheduling it, count,
        audit and tell :attr:`on_revoked`."""
        try:
            self.store.delete_lease(record.role, record.suffix)
        except VaultError as exc:
            # The token is dead; the record will be found again and its revoke is idempotent.
            log.warning("revoked %s in Jenkins but could not delete its record: %s",
                        record.lease_id, redact(str(exc)))
        if claim.revoke_requested_at is not None:
            self._unmark_revoking(claim)
        if self.scheduler is not None:
            self.scheduler.forget(record.role, record.suffix)
        revoked_at = self.clock()
        lag = revoked_at - record.expires_at
        if reason == "expiry":
            self.metrics.lag.observe(max(0.0, lag))
        self.metrics.revokes.labels(record.role, reason).inc()
        audit_lease("revoke", record, reason=reason, actor=actor.__dict__ if actor else None,
                    attempts=record.revoke_attempts + 1,
                    lag_seconds=round(lag, 3) if reason == "expiry" else None)
        if self.on_revoked is not None:
            self.on_revoked(claim)

    def _mark_revoking(self, record: LeaseRecord) -> None:
        # Every replica's resync reads these, so a revocation asked for on one replica is
        # retried by another if the first dies (its index would otherwise keep the old expiry).
        try:
            self.store.mark_revoking(record.role, record.suffix)
        except VaultError as exc:
            log.warning("could not mark %s as revoking for the other replicas: %s", record.lease_id,
                        redact(str(exc)))

    def _unmark_revoking(self, record: LeaseRecord) -> None:
        try:
            self.store.unmark_revoking(record.role, record.suffix)
        except VaultError as exc:
            log.info("could not clear the revoking mark of %s (the next resync does): %s",
                     record.lease_id, redact(str(exc)))

    def token_gone(self, record: LeaseRecord) -> None:
        """End a lease whose token Jenkins no longer lists (revoked outside the broker: by a
        holder of another token of the user, an administrator, Jenkins-side expiry). It is
        revoked like any other (Jenkins answers success for a uuid it does not know), so a
        token a listing merely missed dies anyway instead of outliving its record;
        :attr:`on_revoked` then replaces a shared role's published value."""
        found = self.store.get_lease(record.role, record.suffix)
        if found is not None:
            self.revoke_record(*found, cause="revoked-outside")

    def drop(self, role: str, suffix: str) -> None:
        """Delete the record of a lease whose token died without a revocation (a legacy
        token that ``changeToken`` replaced), and stop scheduling it."""
        self.store.delete_lease(role, suffix)
        if self.scheduler is not None:
            self.scheduler.forget(role, suffix)

    def request_revocation(self, record: LeaseRecord, version: int, *, cause: str) -> bool:
        """Mark a lease revoking now and leave the Jenkins call to the reaper (due at once,
        then retried with backoff), so the caller never waits on Jenkins. False if the record
        changed meanwhile (the next sweep looks again)."""
        now = self.clock()
        marked = replace(record, revoke_requested_at=now, revoke_reason=cause)
        try:
            version = self.store.put_lease(marked, cas=version)
        except VaultConflict:
            return False
        self._mark_revoking(marked)
        if self.scheduler is not None:
            self.scheduler.schedule(marked, version)
        return True

    def _revocation_failed(self, claim: LeaseRecord, version: int, exc: BrokerError) -> None:
        now = self.clock()
        delay, reason = self.backoff.delay(claim.revoke_attempts + 1), redact(str(exc))
        failed = claim.failed(now, delay, reason)
        self.metrics.revoke_failures.labels(claim.role, type(exc).__name__).inc()
        audit_lease("revoke-failed", claim, attempts=failed.revoke_attempts, error=failed.last_error)
        log.warning("revocation of %s failed (attempt %d), retrying in %.0fs: %s", claim.lease_id,
                    failed.revoke_attempts, delay, failed.last_error)
        try:
            version = self.store.put_lease(failed, cas=version)
        except VaultError as store_exc:
            log.warning("could not record the failed attempt for %s: %s", claim.lease_id,
                        redact(str(store_exc)))
            failed = claim.failed(now, self.backoff.delay(claim.revoke_attempts + 1), reason)
        if self.scheduler is not None:
            self.scheduler.schedule(failed, version)

    def suspend(self, role_name: str, *, actor: Requester | None = None) -> dict[str, Any]:
        """Suspend a role and revoke all its tokens: ``disabled=true`` (mints refused on every
        replica within the cache time), its shared value removed, then the incident button.
        Returns the counts of :meth:`revoke_many` with ``suspended``."""
        role = self.role(role_name)
        if not role.disabled:
            self.store.put_role(replace(role, disabled=True))
        self.store.delete_shared(role.name)
        audit("role-suspended", role=role.name, actor=actor.__dict__ if actor else None)
        return {**self.revoke_many(role.name, actor=actor), "suspended": True}

    def sweep_suspended(self) -> int:
        """Hand the reaper the leases left on suspended roles (minted by a replica whose role
        cache was a few seconds old when the suspension came): each not yet revoking is marked
        revoking and due now. Returns how many were handed over; never waits on Jenkins."""
        handed = 0
        for name in self.store.list_roles():
            role = self.store.get_role(name)
            if role is None or not role.disabled:
                continue
            for record, version in self.store.get_leases((name, s) for s in self.store.list_leases(name)):
                if not record.revoking:
                    handed += self.request_revocation(record, version, cause="suspended")
        return handed

    def revoke_many(self, role: str, *, requester: str | None = None,
                    actor: Requester | None = None, cause: str = "incident",
                    force: bool = False) -> dict[str, Any]:
        """The incident button: revoke every lease of ``role`` now, or only those asked
        for by ``requester`` (an accessor, entity id or display name).

        Returns counts of ``revoked``, ``failed`` (retries scheduled) and ``skipped``.
        """
        counts = {"revoked": 0, "failed": 0, "skipped": 0}
        for record, version in self.store.get_leases((role, s) for s in self.store.list_leases(role)):
            who = record.requester
            if requester and requester not in (who.accessor, who.entity_id, who.display_name):
                counts["skipped"] += 1
                continue
            try:
                done = self.revoke_record(record, version, cause=cause, actor=actor, force=force)
                counts["revoked" if done else "skipped"] += 1
            except BrokerError as exc:  # its retry is scheduled; the other leases still go
                log.warning("could not revoke %s now: %s", record.lease_id, redact(str(exc)))
                counts["failed"] += 1
        audit("revoke-all", role=role, requester=requester, count=counts["revoked"],
              actor=actor.__dict__ if actor else None, reason=cause)
        return counts
