"""Reconciliation: find tokens in Jenkins that no lease accounts for, and revoke them.

A token becomes an orphan when the broker dies between minting it and writing
its record, or when a record was lost. Every token the broker mints is named
``<prefix><role>-<lease suffix>``, so listing each role's Jenkins user and
looking the suffix up in Vault finds them. A grace period protects mints in
flight (token made, record not yet written).

The same listings also back up plugin mode (docs/plugin-mode.md). The secrets
engine names its tokens ``vault-jenkins-<role>-<deadline>-<8 hex>``, where
``deadline`` is the Unix time at which the lease's max_ttl ends: after it no
Vault lease can still cover the token. A token so named whose deadline is more
than the grace period past is revoked. That covers what Vault gives up on once
the deadline passes: irrevocable leases (revocation failed too often), leases
dropped by ``revoke -force``, and a mount disabled while Jenkins was down. What
it cannot cover: a token whose lease was force-revoked before its deadline
lives on until the deadline (nothing in Jenkins tells it apart from a live
lease); Jenkins-side expiry (2.548+) is the other backstop. Only the Jenkins
users that the broker's own roles name are listed, with those roles'
credentials; an engine role's user that no broker role names is not scanned.
Only the engine's default prefix ``vault-jenkins-`` is recognised, and never the
engine's rotate-root credential (``vault-jenkins-root-...``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Protocol

from .errors import BrokerError, redact
from .observability import Metrics, audit
from .records import parse_engine_token_name, parse_token_name
from .roles import Role

log = logging.getLogger(__name__)


class ReconcileStore(Protocol):
    def list_roles(self) -> list[str]: ...
    def get_role(self, name: str) -> Role | None: ...
    def list_leases(self, role: str) -> list[str]: ...
    def delete_lease(self, role: str, suffix: str) -> None: ...


class Reconciler:
    """Revokes broker-named tokens that have no lease record, and engine-named tokens
    past their lease deadline."""

    def __init__(self, store: ReconcileStore, gateway, *, metrics: Metrics,
                 grace: float = 60.0, clock: Callable[[], float] = time.time):
        self.store = store
        self.gateway = gateway
        self.metrics = metrics
        self.grace = grace
        self.clock = clock
        self._first_seen: dict[str, float] = {}
        # Token names whose mint failed in a way that may have left the token in Jenkins
        # (timeout, reset, 5xx): role name -> names. No record will ever exist for them.
        self._suspects: dict[str, set[str]] = {}
        self._suspects_lock = threading.Lock()
        self._suspect_failures = 0
        self.next_suspect_check = 0.0

    def suspect(self, role: Role, token_name: str) -> None:
        """Remember a token name whose mint failed uncertainly; :meth:`run_suspects`
        revokes it if Jenkins did create it."""
        with self._suspects_lock:
            self._suspects.setdefault(role.name, set()).add(token_name)
        self.next_suspect_check = 0.0

    @property
    def has_suspects(self) -> bool:
        with self._suspects_lock:
            return any(self._suspects.values())

    def run_suspects(self) -> int:
        """Look for the tokens of failed mints and revoke them; returns how many were revoked.

        A name is forgotten once revoked, or once a listing shows Jenkins never
        made it. While Jenkins cannot be listed, checks back off (up to a minute).
        """
        with self._suspects_lock:
            pending = {role: set(names) for role, names in self._suspects.items() if names}
        revoked = 0
        failed = False
        for role_name, names in pending.items():
            role = self.store.get_role(role_name)
            if role is None or role.strategy == "legacy":
                settled = names
            else:
                try:
                    tokens = self.gateway.list_tokens(role)
                    strategy = self.gateway.strategy(role.strategy, role.credential)
                    settled = set(names)
                    for token in tokens:
                        if token.name in names:
                            try:
                                strategy.revoke(user=role.jenkins_user, uuid=token.uuid)
                            except BrokerError:
                                settled.discard(token.name)
                                failed = True
                                continue
                            revoked += 1
                            self.metrics.orphans.labels(role_name).inc()
                            audit("revoke", role=role_name, token_uuid=token.uuid, token_name=token.name,
                                  jenkins_user=role.jenkins_user,
                                  reason="orphan: its mint failed after Jenkins may have made it")
                except BrokerError as exc:
                    log.info("cannot check the tokens of failed mints of role %s yet: %s", role_name,
                             redact(str(exc)))
                    settled, failed = set(), True
            with self._suspects_lock:
                self._suspects[role_name] -= settled
        self._suspect_failures = self._suspect_failures + 1 if failed else 0
        self.next_suspect_check = self.clock() + (min(60.0, 2.0 ** self._suspect_failures)
                                                  if failed else 0.0)
        return revoked

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> dict[str, int]:
        """One reconciliation pass over every role; returns counts.

        Roles sharing a Jenkins user and credential are listed once, and each role's
        lease records are listed once (not read one by one). Legacy roles are
        skipped: a legacy token has no name to recognise. Engine-named tokens in the
        same listings are revoked once their deadline is past (module docstring).
        ``should_stop`` is asked between tokens, so a shutdown does not wait for a
        long pass.
        """
        counts = {"checked": 0, "orphans": 0, "revoked": 0, "errors": 0}
        groups: dict[tuple[str, str, str], list[Role]] = {}
        for name in self.store.list_roles():
            role = self.store.get_role(name)
            if role is not None and role.strategy != "legacy":
                groups.setdefault((role.jenkins_user, role.strategy, role.credential), []).append(role)
        now = self.clock()
        seen: set[str] = set()
        for roles in groups.values():
            try:
                tokens = self.gateway.list_tokens(roles[0])
            except BrokerError as exc:
                counts["errors"] += 1
                log.warning("reconciliation could not list tokens of Jenkins user %s: %s",
                            roles[0].jenkins_user, redact(str(exc)))
                continue
            prefixes = {r.token_name_prefix for r in roles}
            recorded: dict[str, set[str]] = {}  # role -> lease suffixes, listed after the tokens
            for token in tokens:
                if should_stop():
                    return counts
                parsed = next((p for p in (parse_token_name(token.name, x) for x in prefixes) if p), None)
                if parsed is None:
                    engine = parse_engine_token_name(token.name)
                    if engine is not None:
                        counts["checked"] += 1
                        self._revoke_past_deadline(roles[0], token, *engine, now=now, counts=counts)
                    continue
                counts["checked"] += 1
                seen.add(token.uuid)
                if parsed[0] not in recorded:
                    recorded[parsed[0]] = set(self.store.list_leases(parsed[0]))
                malformed = parsed in getattr(self.store, "malformed", ())
                if parsed[1] in recorded[parsed[0]] and not malformed:
                    continue
                first = self._first_seen.setdefault(token.uuid, now)
                created = token.creation_date.timestamp() if token.creation_date else first
                if now - min(first, created) < self.grace:
                    continue  # maybe a mint whose record is being written right now
                counts["orphans"] += 1
                try:
                    self.gateway.strategy(roles[0].strategy, roles[0].credential).revoke(
                        user=roles[0].jenkins_user, uuid=token.uuid)
                except BrokerError as exc:
                    counts["errors"] += 1
                    log.warning("could not revoke orphaned token %s: %s", token.name, redact(str(exc)))
                    continue
                counts["revoked"] += 1
                self._first_seen.pop(token.uuid, None)
                self.metrics.orphans.labels(parsed[0]).inc()
                audit("revoke", role=parsed[0], token_uuid=token.uuid, token_name=token.name,
                      jenkins_user=roles[0].jenkins_user,
                      reason="orphan: malformed lease record" if malformed else "orphan: no lease record")
                if malformed:
                    self.store.delete_lease(*parsed)
                    self.store.malformed.discard(parsed)
        # Forget tokens that are gone, so the map does not grow for ever.
        for uuid in list(self._first_seen):
            if uuid not in seen:
                del self._first_seen[uuid]
        return counts

    def _revoke_past_deadline(self, role: Role, token, engine_role: str, deadline: int, *,
                              now: float, counts: dict[str, int]) -> None:
        """Revoke a plugin-mode token whose lease deadline (in its name) is past by more
        than the grace period: no Vault lease can still cover it."""
        if now - deadline <= self.grace:
            return
        counts["orphans"] += 1
        try:
            self.gateway.strategy(role.strategy, role.credential).revoke(
                user=role.jenkins_user, uuid=token.uuid)
        except BrokerError as exc:
            counts["errors"] += 1
            log.warning("could not revoke engine token %s past its lease deadline: %s", token.name,
                        redact(str(exc)))
            return
        counts["revoked"] += 1
        self.metrics.orphans.labels(engine_role).inc()
        audit("revoke", role=engine_role, token_uuid=token.uuid, token_name=token.name,
              jenkins_user=role.jenkins_user, reason="engine token past its lease deadline")
