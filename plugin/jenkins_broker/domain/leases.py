"""The lease lifecycle: mint, renew, revoke, look up and list per-request leases.

This is domain code: it imports neither Flask, nor an HTTP or Vault library. It receives
every port in its constructor: a store (Vault), a Jenkins gateway, a scheduler
(the reaper's index), the callers' tokens (Vault, by accessor) and who to tell
about a revoked token or an uncertain mint; tests hand in fakes, and the
composition root (:mod:`jenkins_broker.server.services`) wires the real ones.

The ordering that the guarantees rest on:

* mint: Jenkins token first, then the lease record in Vault, then the answer.
  If the record cannot be written the token is revoked at once; if even that
  fails, the token carries the role's name prefix and the reconciler finds it.
* revoke: claim the record (check-and-set, so two replicas never both act),
  revoke in Jenkins, then delete the record. A failed Jenkins call keeps the
  record and schedules a retry with capped exponential backoff, for ever.
"""

from __future__ import annotations

import enum
import logging
import random
import time
from dataclasses import replace
from typing import Any, Callable, Iterable, Protocol, runtime_checkable

from ..errors import (
    BrokerError,
    CallerTokenGone,
    InvalidRequest,
    JenkinsProtocolError,
    JenkinsUnavailable,
    LeaseNotFound,
    LeaseRevoking,
    RoleDisabled,
    UnknownRole,
    VaultConflict,
    VaultError,
    redact,
)
from ..faults import crash_point
from ..observability import Metrics, audit, audit_lease
from ..values import issued_lease, new_lease_suffix, split_lease_id, token_name
from .quota import LivePlaces
from .records import LeaseRecord, Requester, token_fingerprint
from .roles import Role

log = logging.getLogger(__name__)


@runtime_checkable
class Minted(Protocol):
    """What the Jenkins gateway returns for a new token (read, never changed)."""

    @property
    def user(self) -> str: ...
    @property
    def uuid(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> str: ...


@runtime_checkable
class Store(Protocol):
    """The part of the Vault store the lease lifecycle needs."""

    def get_role(self, name: str) -> Role | None: ...
    def list_roles(self) -> list[str]: ...
    def put_role(self, role: Role) -> None: ...
    def delete_shared(self, role: str) -> None: ...
    def get_lease(self, role: str, suffix: str) -> tuple[LeaseRecord, int] | None: ...
    def put_lease(self, record: LeaseRecord, cas: int | None = None) -> int: ...
    def delete_lease(self, role: str, suffix: str) -> None: ...
    def list_leases(self, role: str) -> list[str]: ...
    def get_leases(self, keys: Iterable[tuple[str, str]]) -> Iterable[tuple[LeaseRecord, int]]: ...
    def get_quota(self, role: str) -> tuple[dict[str, Any], int] | None: ...
    def mark_revoking(self, role: str, suffix: str) -> None: ...
    def unmark_revoking(self, role: str, suffix: str) -> None: ...
    def put_quota(self, role: str, data: dict[str, Any], cas: int) -> int: ...


@runtime_checkable
class Gateway(Protocol):
    """The part of the Jenkins side the lease lifecycle needs."""

    @property
    def jenkins_url(self) -> str: ...
    @property
    def call_timeout(self) -> float:
        """The longest one revocation can take (a claim is held at least that long)."""
        ...

    def mint(self, role: Role, name: str) -> Minted: ...
    def revoke(self, record: LeaseRecord) -> None: ...


@runtime_checkable
class CallerTokens(Protocol):
    """Vault's view of the callers' tokens, asked with the broker's own token."""

    def token_expiry(self, accessor: str) -> float | None:
        """When the token behind ``accessor`` expires (None: never); raises
        ``CallerTokenGone`` if it was revoked or expired."""


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


class LeaseManager:
    """Mints and ends leases. Thread-safe; one per process."""

    def __init__(self, store: Store, gateway: Gateway, *, metrics: Metrics | None = None,
                 scheduler: Scheduler | None = None, backoff: Backoff | None = None,
                 clock: Callable[[], float] = time.time, claim_timeout: float = 30.0,
                 caller_tokens: CallerTokens | None = None,
                 on_revoked: Callable[[LeaseRecord], None] | None = None,
                 on_uncertain_mint: Callable[[Role, str], None] | None = None):
        """``scheduler``: told of every lease to act on at its end (None: nobody reaps).
        ``claim_timeout``: seconds a revocation's claim holds off the other replicas.
        ``caller_tokens``: asked at renewal when the caller's token expires (leases never
        outlive it; None: as recorded at mint). ``on_revoked`` is called with the claimed
        record once its token is revoked in Jenkins; ``on_uncertain_mint`` with (role,
        token name) when a mint failed after maybe reaching Jenkins."""
        self.store = store
        self.gateway = gateway
        self.metrics = metrics or Metrics()
        self.scheduler = scheduler
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.claim_timeout = claim_timeout
        self.caller_tokens = caller_tokens
        self.on_revoked = on_revoked
        self.on_uncertain_mint = on_uncertain_mint
        self.places = LivePlaces(store, self.metrics, clock)

    # -- helpers -------------------------------------------------------------

    def role(self, name: str) -> Role:
        """The role ``name``; raises ``UnknownRole``."""
        role = self.store.get_role(name)
        if role is None:
            raise UnknownRole(f"no role named {name!r}; list roles with `jenkins-broker roles list`")
        return role

    def _load(self, lease_id: str) -> tuple[LeaseRecord, int]:
        parts = split_lease_id(lease_id)
        if parts is None:
            raise InvalidRequest(f"lease_id: {str(lease_id)[:80]!r} is not a jenkins-broker lease id "
                                 "(expected jenkins/creds/<role>/<id>)")
        # A lease id the broker never makes (a role name it refuses, a suffix of another
        # shape) is no lease: Vault's answer for it, without asking the store.
        found = self.store.get_lease(*parts) if issued_lease(*parts) else None
        if found is None:
            raise LeaseNotFound("lease not found or lease is not renewable")
        return found

    # -- mint ----------------------------------------------------------------

    def mint(self, role_name: str, *, ttl: int | None = None, requester: Requester = Requester(),
             shared: bool = False, token_expires_at: float | None = None) -> tuple[LeaseRecord, str]:
        """Mint a token for ``role_name`` and record its lease; return ``(record, token value)``.

        ``ttl`` is capped at the role's ``max_ttl`` and at ``token_expires_at``, when the
        caller's Vault token expires (as Vault caps a lease at its token's TTL). Raises
        ``UnknownRole``, ``RoleDisabled``,
        ``QuotaExceeded``, ``JenkinsError`` or ``VaultError``; in every failure
        case no recorded-but-unrevoked or unrecorded token is left behind
        (except one the reconciler will find by its name prefix).
        """
        role = self.role(role_name)
        if role.disabled:
            self.metrics.mint_failures.labels(role.name, "suspended").inc()
            raise RoleDisabled(f"role {role.name!r} is suspended: it mints no tokens until an "
                               f"administrator writes jenkins/roles/{role.name} disabled=false")
        if role.strategy == "legacy" and role.shared and not shared:
            # A per-request mint would rotate the one legacy token and kill the shared credential.
            raise InvalidRequest(f"role {role.name!r} hands out Jenkins' single legacy token as a shared "
                                 "credential; read it from Vault (jenkins/creds/<role>) instead")
        suffix = new_lease_suffix()
        if role.max_live_tokens and not shared:
            self.places.reserve(role, suffix)
            try:
                return self._mint(role, ttl, requester, shared, token_expires_at, suffix)
            finally:
                self.places.release(role.name, suffix)
        return self._mint(role, ttl, requester, shared, token_expires_at, suffix)

    def _mint(self, role: Role, ttl: int | None, requester: Requester, shared: bool,
              token_expires_at: float | None, suffix: str) -> tuple[LeaseRecord, str]:
        name = token_name(role.token_name_prefix, role.name, suffix)
        lease_ttl = role.lease_ttl(ttl)
        try:
            minted = self.gateway.mint(role, name)
        except BrokerError as exc:  # Jenkins trouble, or a connection/credential not configured
            self.metrics.mint_failures.labels(role.name, type(exc).__name__).inc()
            audit("mint-failed", role=role.name, jenkins_user=role.jenkins_user, token_name=name,
                  requester=requester.__dict__, error=redact(str(exc)))
            if isinstance(exc, (JenkinsUnavailable, JenkinsProtocolError)) and self.on_uncertain_mint:
                # The request may have reached Jenkins: a token of this name may exist.
                self.on_uncertain_mint(role, name)
            raise
        crash_point("mint:after-jenkins")
        now = self.clock()
        if token_expires_at is not None:
            lease_ttl = max(1, min(lease_ttl, int(token_expires_at - now)))
        record = LeaseRecord(
            role=role.name, suffix=suffix, jenkins_user=role.jenkins_user, strategy=role.strategy,
            credential=role.credential, token_uuid=minted.uuid, token_name=minted.name,
            token_sha256=token_fingerprint(minted.value), issued_at=now, expires_at=now + lease_ttl,
            max_expires_at=now + role.max_ttl, requester=requester, shared=shared,
            token_expires_at=token_expires_at)
        try:
            version = self.store.put_lease(record)
        except BaseException as exc:
            # Never hand out a token Vault does not know about: take it back now.
            self.metrics.mint_failures.labels(role.name, "record-write").inc()
            self._revoke_unrecorded(record, exc)
            raise
        crash_point("mint:after-record")
        self.metrics.mints.labels(role.name).inc()
        audit_lease("mint", record, ttl=lease_ttl)
        if self.scheduler is not None:
            self.scheduler.schedule(record, version)
        return record, minted.value

    def _revoke_unrecorded(self, record: LeaseRecord, cause: BaseException) -> None:
        try:
            self.gateway.revoke(record)
            audit_lease("revoke", record, reason="lease record could not be written",
                        error=redact(str(cause)))
        except BrokerError as exc:
            log.error("token %s of role %s was minted but neither recorded nor revoked (%s); "
                      "reconciliation will revoke it by its name prefix",
                      record.token_name, record.role, redact(str(exc)))
            audit_lease("revoke-failed", record, reason="orphan left for reconciliation",
                        error=redact(str(exc)))

    # -- renew, lookup, list ---------------------------------------------------

    def renew(self, lease_id: str, increment: int | None = None) -> tuple[LeaseRecord, list[str]]:
        """Extend a lease by ``increment`` seconds from now (default: the role's ttl),
        never past its max TTL. Returns the record and Vault-style warnings.

        Raises ``LeaseNotFound``, ``InvalidRequest`` (shared leases are not
        renewable), ``VaultError``.
        """
        for _ in range(5):
            record, version = self._load(lease_id)
            if record.shared:
                raise InvalidRequest("lease is not renewable: shared credentials are rotated by the broker")
            now = self.clock()
            if record.revoking:
                raise LeaseRevoking(f"lease {record.lease_id} is being revoked "
                                    f"({record.revoke_reason or 'expired'}); it cannot be renewed")
            if record.expires_at <= now:
                raise LeaseRevoking(f"lease {record.lease_id} expired and is being revoked; "
                                    "it cannot be renewed")
            role = self.store.get_role(record.role)
            if role is not None and role.disabled:
                self._end_now(record, version, cause="suspended")
                raise RoleDisabled(f"role {role.name!r} is suspended: lease {record.lease_id} is "
                                   "being revoked and cannot be renewed")
            wanted = increment or (role.ttl if role else int(record.expires_at - record.issued_at))
            new_expiry = min(now + wanted, record.max_expires_at)
            warnings = []
            if now + wanted > record.max_expires_at:
                warnings.append("TTL of %ds exceeded the effective max_ttl of %ds; TTL value is capped "
                                "accordingly" % (wanted, int(record.max_expires_at - now)))
            token_end = self._caller_token_end(record, version)
            if token_end is not None and token_end < new_expiry:
                new_expiry = max(now, token_end)
                warnings.append("TTL of %ds exceeded the remaining TTL of the Vault token that "
                                "created the lease (%ds); TTL value is capped accordingly"
                                % (wanted, int(new_expiry - now)))
            renewed = record.renewed(now, new_expiry)
            try:
                new_version = self.store.put_lease(renewed, cas=version)
            except VaultConflict:
                continue  # renewed or claimed elsewhere meanwhile: look again
            self.metrics.renewals.labels(record.role).inc()
            audit_lease("renew", renewed, ttl=int(new_expiry - now))
            if self.scheduler is not None:
                self.scheduler.schedule(renewed, new_version)
            return renewed, warnings
        raise VaultConflict("the lease changed repeatedly while renewing; try again", path=lease_id)

    def _caller_token_end(self, record: LeaseRecord, version: int) -> float | None:
        """When the Vault token that created the lease expires, asked again (it may have
        been renewed); for a batch token, which has no accessor, as recorded at mint. If
        the token is gone the lease is revoked now and ``LeaseRevoking`` raised."""
        accessor = record.requester.accessor
        if not accessor or self.caller_tokens is None:
            return record.token_expires_at
        try:
            return self.caller_tokens.token_expiry(accessor)
        except CallerTokenGone:
            self._end_now(record, version, cause="token-revoked")
            raise LeaseRevoking(f"lease {record.lease_id} is being revoked: the Vault token that "
                                "created it was revoked or has expired") from None

    def _end_now(self, record: LeaseRecord, version: int, *, cause: str) -> None:
        """Revoke a lease while refusing a request about it; if Jenkins fails the lease is
        revoking anyway and its retry is scheduled, so the refusal stands either way."""
        try:
            self.revoke_record(record, version, cause=cause)
        except BrokerError:
            pass

    def lookup(self, lease_id: str) -> LeaseRecord:
        """The record of a live lease; raises ``LeaseNotFound``/``InvalidRequest``."""
        return self._load(lease_id)[0]

    def list(self, role: str) -> list[str]:
        """The id suffixes of the live leases of ``role`` (empty if none)."""
        return sorted(self.store.list_leases(role))

    # -- revoke ---------------------------------------------------------------

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
                      actor: Requester | None = None) -> bool:
        """Claim, revoke in Jenkins and delete one record. Returns False if it is gone or
        another replica (or thread) is revoking it right now. Raises the Jenkins error
        after scheduling a retry. ``cause`` is ``expiry`` for the lease's natural end
        (the reaper), anything else for a revocation asked for: that one marks the lease
        revoking at once (no renewal from then on, retries counted from now) and is not
        given up when a renewal races it. ``actor`` is who asked (for the audit trail).
        """
        outcome, failure = self._end(record, version, cause=cause, actor=actor)
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
             actor: Requester | None = None) -> tuple[Revocation, BrokerError | None]:
        """:meth:`revoke_record`'s work: the outcome, and the Jenkins error of a failed
        attempt (its retry scheduled)."""
        asked = None if cause == "expiry" else cause
        for _ in range(5):
            now = self.clock()
            if record.claimed_until is not None and record.claimed_until > now:
                return Revocation.SKIPPED, None  # being revoked elsewhere; its claim ends the race
            # If this replica dies mid-revocation, another one takes over after the claim times out.
            # Held at least as long as the Jenkins calls may take, so a slow revocation is not
            # taken over (and done twice) by another replica.
            hold = max(self.claim_timeout, self.gateway.call_timeout)
            claim = record.claimed(now, now + hold, asked)
            try:
                # The check-and-set write is the claim: if it loses, the record changed meanwhile.
                claimed_version = self.store.put_lease(claim, cas=version)
                break
            except VaultConflict:
                if asked is None:
                    return Revocation.SKIPPED, None  # renewed or claimed elsewhere: look again
                found = self.store.get_lease(record.role, record.suffix)
                if found is None:
                    return Revocation.SKIPPED, None
                record, version = found
        else:
            raise VaultConflict("the lease changed repeatedly while revoking it; try again",
                                path=record.lease_id)
        if asked is not None and record.revoke_requested_at is None:
            self._mark_revoking(claim)
        crash_point("revoke:after-claim")
        reason = claim.revoke_reason or cause
        try:
            self.gateway.revoke(record)
        except BrokerError as exc:  # Jenkins down, its credential deleted, Vault unreadable...
            self._revocation_failed(claim, claimed_version, exc)
            return Revocation.RETRYING, exc
        crash_point("revoke:after-jenkins")
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
        return Revocation.REVOKED, None

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
                    actor: Requester | None = None, cause: str = "incident") -> dict[str, Any]:
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
                done = self.revoke_record(record, version, cause=cause, actor=actor)
                counts["revoked" if done else "skipped"] += 1
            except BrokerError as exc:  # its retry is scheduled; the other leases still go
                log.warning("could not revoke %s now: %s", record.lease_id, redact(str(exc)))
                counts["failed"] += 1
        audit("revoke-all", role=role, requester=requester, count=counts["revoked"],
              actor=actor.__dict__ if actor else None, reason=cause)
        return counts
