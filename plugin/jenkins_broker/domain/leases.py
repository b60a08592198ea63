"""The lease lifecycle: mint, renew, revoke, look up and list per-request leases.

:class:`LeaseManager` mints, renews, looks up and lists here; ending leases (one,
at expiry, or a whole role's) is its other half, :mod:`.revocation`, mixed in.

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

import logging
import time
from typing import Any, Callable, Protocol, runtime_checkable

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
    redact,
)
from ..faults import crash_point
from ..observability import Metrics, audit, audit_lease
from ..values import issued_lease, new_lease_suffix, split_lease_id, token_name
from .quota import LivePlaces
from .records import LeaseRecord, Requester, token_fingerprint
from .revocation import Backoff, Revocations, RevocationStore, Scheduler
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
class Store(RevocationStore, Protocol):
    """The part of the Vault store the lease lifecycle needs: what ending leases needs
    (:class:`~.revocation.RevocationStore`), and the places ``max_live_tokens`` holds."""

    def get_quota(self, role: str) -> tuple[dict[str, Any], int] | None: ...
    def put_quota(self, role: str, data: dict[str, Any], cas: int) -> int: ...


@runtime_checkable
class Gateway(Protocol):
    """The part of the Jenkins side the lease lifecycle needs (a
    :class:`~.revocation.RevocationGateway` too)."""

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


class LeaseManager(Revocations):
    """Mints and ends leases. Thread-safe; one per process."""

    store: Store
    gateway: Gateway

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

