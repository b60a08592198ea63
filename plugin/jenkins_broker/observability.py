"""Metrics (Prometheus) and the audit trail (one JSON log line per event).

Labels are role names and outcome words, never token values, lease ids or
requesters, so their number stays bounded and nothing secret is exported.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

AUDIT_LOGGER = "jenkins_broker.audit"
_audit = logging.getLogger(AUDIT_LOGGER)

# Keys an audit line may carry. Anything else passed in is dropped, so a caller
# cannot put a token value into the trail by accident.
AUDIT_FIELDS = ("role", "lease_id", "jenkins_user", "token_uuid", "token_name", "token_sha256",
                "requester", "actor", "expires_at", "ttl", "attempts", "error", "reason", "count",
                "lag_seconds", "created", "credential")


def audit(event: str, **fields: Any) -> None:
    """Write one structured audit line: ``{"event": ..., "time": ..., <fields>}``."""
    line = {"event": event, "time": round(time.time(), 3)}
    line.update({k: v for k, v in fields.items() if k in AUDIT_FIELDS and v is not None})
    _audit.info(json.dumps(line, sort_keys=True, default=str))


def audit_lease(event: str, record: Any, **fields: Any) -> None:
    """An audit line about one lease record, with its standard fields filled in:
    role, lease id, Jenkins user, token uuid, name and SHA-256, and who asked."""
    audit(event, role=record.role, lease_id=record.lease_id, jenkins_user=record.jenkins_user,
          token_uuid=record.token_uuid, token_name=record.token_name,
          token_sha256=record.token_sha256, requester=record.requester.__dict__,
          expires_at=record.expires_at, **fields)


class _Registry(CollectorRegistry):
    """A registry that leaves out the ``*_created`` series: they double the output and say
    nothing a scrape's own timestamps don't. (prometheus_client can only turn them off for
    the whole process, which an import must not do to its host.)"""

    def collect(self):
        for metric in super().collect():
            metric.samples = [s for s in metric.samples if not s.name.endswith("_created")]
            yield metric


class Metrics:
    """The broker's Prometheus metrics, on a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = _Registry()
        r = self.registry
        self.mints = Counter("jenkins_broker_mints_total", "Tokens minted", ["role"], registry=r)
        self.mint_failures = Counter("jenkins_broker_mint_failures_total", "Mints that failed",
                                     ["role", "reason"], registry=r)
        self.revokes = Counter("jenkins_broker_revocations_total", "Tokens revoked in Jenkins",
                               ["role", "cause"], registry=r)
        self.revoke_failures = Counter("jenkins_broker_revocation_failures_total",
                                       "Revocation attempts that failed and will be retried",
                                       ["role", "reason"], registry=r)
        self.renewals = Counter("jenkins_broker_renewals_total", "Leases renewed", ["role"], registry=r)
        self.rotations = Counter("jenkins_broker_rotations_total", "Shared credentials rotated",
                                 ["role"], registry=r)
        self.orphans = Counter("jenkins_broker_orphans_revoked_total",
                               "Tokens found in Jenkins without a lease, and revoked", ["role"], registry=r)
        self.foreign = Counter("jenkins_broker_foreign_tokens_total",
                               "Tokens on a role's Jenkins user that no lease or stored credential "
                               "accounts for (action: revoked, reported)", ["role", "action"], registry=r)
        self.credential_ok = Gauge("jenkins_broker_credential_ok",
                                   "1 while Jenkins accepts the stored credential, 0 once it refuses it",
                                   ["credential"], registry=r)
        self.live = Gauge("jenkins_broker_live_leases", "Leases known to this replica", ["role"],
                          registry=r)
        self.pending_retries = Gauge("jenkins_broker_revocations_pending_retry",
                                     "Expired leases whose revocation failed and waits for a retry",
                                     registry=r)
        self.caller_token_checks = Counter(
            "jenkins_broker_caller_token_checks_total",
            "Lookups of callers' Vault tokens by accessor (outcome: valid, gone, error)",
            ["outcome"], registry=r)
        self.forwarded = Counter(
            "jenkins_broker_forwarded_requests_total",
            "Requests the broker passed on to Vault unchanged (status: class of Vault's answer)",
            ["method", "status"], registry=r)
        self.lag = Histogram("jenkins_broker_revocation_lag_seconds",
                             "Revoked-at minus expires-at, per lease", registry=r,
                             buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 3600))
