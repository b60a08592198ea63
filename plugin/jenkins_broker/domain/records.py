"""The lease record: one per minted token, stored at ``jenkins-broker/leases/<role>/<id>``.

A record holds everything revocation needs (Jenkins user, strategy, credential
name, token uuid and name) and who asked for the token, but never the token
value. ``token_sha256`` lets an auditor join a record with Jenkins' and Vault's
audit logs without being able to use the token.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from typing import Any

from ..values import lease_id_for


def token_fingerprint(value: str) -> str:
    """SHA-256 hex of a token value: safe to log and store, useless to authenticate."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def rfc3339(epoch: float | None) -> str | None:
    """Format an epoch time as Vault does (UTC, with microseconds and ``Z``)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Requester:
    """Who asked for a token, from their Vault token's lookup-self."""

    accessor: str = ""
    entity_id: str = ""
    display_name: str = ""


@dataclass(frozen=True)
class LeaseRecord:
    """One minted token's lease. Times are Unix epoch seconds."""

    role: str
    suffix: str
    jenkins_user: str
    strategy: str
    credential: str
    token_uuid: str
    token_name: str
    token_sha256: str
    issued_at: float
    expires_at: float
    max_expires_at: float
    requester: Requester = field(default_factory=Requester)
    shared: bool = False
    last_renewal: float | None = None
    revoke_attempts: int = 0
    next_attempt_at: float | None = None
    last_error: str | None = None
    # Set once a revocation is asked for (lease revoke, prefix, incident, a denied
    # authorization...): from then on the lease is revoking, never renewed, and its
    # retries count from this moment, not from ``expires_at``.
    revoke_requested_at: float | None = None
    revoke_reason: str | None = None
    # A replica is revoking it right now (check-and-set claim); others stand back until then.
    claimed_until: float | None = None
    # When the caller's Vault token expires (None: never, or unknown). The lease never
    # outlives it; renewals look the token up again by its accessor.
    token_expires_at: float | None = None

    @property
    def lease_id(self) -> str:
        """The lease id the caller holds."""
        return lease_id_for(self.role, self.suffix)

    @property
    def revoking(self) -> bool:
        """True once a revocation was asked for, claimed or tried: the lease is ending."""
        return (self.revoke_requested_at is not None or self.claimed_until is not None
                or self.revoke_attempts > 0)

    def state(self, now: float) -> str:
        """``active``, ``expired`` (its revocation not started yet) or ``revoking``."""
        if self.revoking:
            return "revoking"
        return "active" if self.expires_at > now else "expired"

    @property
    def due_at(self) -> float:
        """When the reaper should next act on this lease: its expiry, or for a revocation
        asked for, the request itself; never before a retry's backoff or a claim ends."""
        start = self.expires_at if self.revoke_requested_at is None else self.revoke_requested_at
        return max(start, self.next_attempt_at or 0.0, self.claimed_until or 0.0)

    def renewed(self, now: float, expires_at: float) -> "LeaseRecord":
        """A copy renewed at ``now`` to ``expires_at``."""
        return replace(self, expires_at=expires_at, last_renewal=now)

    def claimed(self, now: float, until: float, asked: str | None) -> "LeaseRecord":
        """A copy claimed for revocation until ``until``; ``asked`` is the reason when the
        revocation was asked for (not the lease's natural end). The first request wins."""
        if asked is None or self.revoke_requested_at is not None:
            return replace(self, claimed_until=until)
        return replace(self, claimed_until=until, revoke_requested_at=now, revoke_reason=asked)

    def failed(self, now: float, delay: float, error: str) -> "LeaseRecord":
        """A copy recording one more failed revocation, to be retried after ``delay``."""
        return replace(self, revoke_attempts=self.revoke_attempts + 1, claimed_until=None,
                       next_attempt_at=now + delay, last_error=error[:500])

    def to_record(self) -> dict[str, Any]:
        """The dict stored in Vault."""
        return asdict(self)

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> "LeaseRecord":
        """Rebuild a stored record, ignoring keys this version does not know."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["requester"] = Requester(**{k: v for k, v in (data.get("requester") or {}).items()
                                           if k in ("accessor", "entity_id", "display_name")})
        return cls(**values)
