"""The engine's periodic function: no token on its roles' Jenkins users that it cannot account for.

OpenBao's rollback manager sends every mount a ``rollback`` request about once
a minute, and one last time when the mount is disabled or moved, before its
leases are revoked (Vault's SDK runs a backend's ``PeriodicFunc`` from that
request; the plugin protocol has no call of its own for it). The engine answers
it with :meth:`Reconciler.run`:

1. for each distinct Jenkins user that its roles name, list the user's tokens
   with the first of those roles (by name) whose strategy can;
2. a listed token is accounted for when it is

   - the engine's credential: the uuid rotate-root stored in ``config``;
   - in the ledger (:mod:`.minted`) for that user, and its lease's deadline
     (issue time + max_ttl) has not passed;
   - being minted right now in this process (user and name, :class:`~.minted.InFlight`);
   - the user's legacy token, when a ``legacy`` role names the user (each of
     its leases ends by rotating it);
   - spared by the migration from the unledgered version (:mod:`.migration`);

3. every other token is revoked and logged as ``foreign-token-revoked``, or only
   logged as ``foreign-token-found`` (once per token and plugin process) when a
   role naming the user has ``foreign_tokens=report``, or when the user is the
   one whose credential was written by hand: before rotate-root the engine
   cannot tell which of that user's tokens is its credential, so it revokes
   nothing there and says that rotate-root enables revocation.

Accounting is by uuid, which Jenkins assigns: a holder of a leased token can make
a token with any name (the exact name of a live engine token, or an engine name
with a far deadline) but not with a uuid of its choosing.

Faults (Jenkins down, a listing refused, storage) are logged and the run goes
on or stops; nothing is revoked that could not be accounted for properly (if
the ledger cannot be read, nothing is revoked), and the next run tries again.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..domain.roles import Role
from ..errors import BrokerError, redact
from ..jenkins import Strategy, TokenInfo
from ..values import ENGINE_TOKEN_PREFIX, same_jenkins_user
from . import migration
from . import minted as ledger
from .path_config import PluginConfig, load_config
from .path_roles import PREFIX as ROLES
from .path_roles import load_role_and_policy
from .storage import Storage, StorageError

if TYPE_CHECKING:
    from .backend import JenkinsBackend

REVOKED, FOUND = "foreign-token-revoked", "foreign-token-found"
#: Past a lease's deadline OpenBao revokes it itself; the reconciliation waits this
#: long more before it takes over, so that the two do not race.
DEADLINE_SLACK = 60
#: A ledger entry whose deadline is this far past is dropped even if its user was not listed.
STALE_ENTRY = 24 * 3600
CREDENTIAL_BY_HAND = ("the engine's credential for this user was written by hand, so the engine cannot tell "
                      "which token it is: write jenkins/rotate-root to enable revocation")


@dataclass
class UserPlan:
    """A Jenkins user that roles name: the roles (by name) and what they say about foreign tokens."""

    user: str
    roles: list[tuple[Role, str]] = field(default_factory=list)

    @property
    def policy(self) -> str:
        """``report`` if any role naming the user says so (someone may use it by hand), else ``revoke``."""
        return "report" if any(policy == "report" for _, policy in self.roles) else "revoke"

    @property
    def prefixes(self) -> list[str]:
        return sorted({role.token_name_prefix for role, _ in self.roles} | {ENGINE_TOKEN_PREFIX})


@dataclass
class Outcome:
    """What one run did (for tests and the debug line)."""

    listed: list[str] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)
    accounted: dict[str, str] = field(default_factory=dict)   # uuid -> why
    revoked: list[str] = field(default_factory=list)
    reported: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)           # uuids whose revocation failed


# One user's listing: the plan, the role and strategy that listed it, and its tokens.
Listing = tuple[UserPlan, Role, Strategy, list[TokenInfo]]


class Reconciler:
    """The periodic reconciliation of one engine; one run at a time."""

    def __init__(self, backend: "JenkinsBackend"):
        self.backend = backend
        self.log: logging.Logger = backend.log
        self._running = threading.Lock()
        self._reported: dict[str, str] = {}  # uuid -> its user, casefolded: reported once per process
        self._warned: set[str] = set()

    def run(self, storage: Storage, now: float | None = None) -> Outcome | None:
        """One pass over the roles' users; ``None`` if a pass is still running (OpenBao gave up
        waiting for it). Faults are logged, not raised."""
        if not self._running.acquire(blocking=False):
            self.log.info("periodic reconciliation: the previous run is still going; skipping this one")
            return None
        try:
            return self._run(storage, time.time() if now is None else now)
        finally:
            self._running.release()

    def initialize(self, storage: Storage, now: float | None = None) -> None:
        """At mount and plugin start: note when the ledger started (:mod:`.migration`); on a new
        mount (no config, no role) no token can predate it. Faults are logged."""
        try:
            plans = self._plans(storage)
            fresh = not plans and load_config(storage) is None
            self._migration(storage, plans, fresh=fresh, now=time.time() if now is None else now)
        except StorageError as exc:
            self.log.warning("could not note when the ledger of minted tokens started (%s); the first "
                             "periodic run will", exc)

    @staticmethod
    def _migration(storage: Storage, plans: list[UserPlan], *, fresh: bool, now: float) -> migration.MigrationState:
        return migration.start(storage, users=[p.user for p in plans], fresh=fresh, now=now,
                               longest_max_ttl=max((r.max_ttl for p in plans for r, _ in p.roles), default=0))

    # -- one run ----------------------------------------------------------------------------

    def _run(self, storage: Storage, now: float) -> Outcome:
        outcome = Outcome()
        try:
            config = load_config(storage)
            if config is None:
                return outcome
            plans = self._plans(storage)
            state = self._migration(storage, plans, fresh=False, now=now)
        except StorageError as exc:
            self.log.warning("periodic reconciliation skipped: %s", exc)
            return outcome
        listings = self._list_all(storage, plans, outcome)
        # Read what accounts for tokens only now, after the listings, and the in-flight mints
        # first: a mint (or rotate-root) that Jenkins finished before a listing is still in
        # flight when we look, or its ledger entry (or the config naming it) is written.
        in_flight = self.backend.in_flight.snapshot()
        try:
            entries = ledger.load_all(storage)
            config = load_config(storage)
        except StorageError as exc:
            self.log.warning("periodic reconciliation: the ledger cannot be read (%s); nothing revoked", exc)
            return outcome
        if config is None:
            return outcome
        changed = False
        for user, listing in listings.items():
            changed |= self._judge_user(storage, user, listing, config=config, entries=entries,
                                        in_flight=in_flight, state=state, outcome=outcome, now=now)
        changed |= state.tidy(now)
        try:
            if changed:
                migration.save(storage, state)
            self._tidy_ledger(storage, entries, listings, outcome, now)
        except StorageError as exc:
            self.log.warning("periodic reconciliation: %s", exc)
        self.log.debug("periodic reconciliation: %d users listed, %d not, %d tokens accounted for, %d revoked, "
                       "%d reported, %d revocations failed", len(outcome.listed), len(outcome.unlisted),
                       len(outcome.accounted), len(outcome.revoked), len(outcome.reported), len(outcome.failed))
        return outcome

    def _list_all(self, storage: Storage, plans: list[UserPlan], outcome: Outcome) -> dict[str, Listing]:
        """Each user's tokens, with the role and strategy that listed them; a user that could
        not be listed is left out (and noted in ``outcome``)."""
        listings: dict[str, Listing] = {}
        for plan in plans:
            found = self._list(storage, plan)
            if found is None:
                outcome.unlisted.append(plan.user)
            else:
                listings[plan.user] = (plan, *found)
                outcome.listed.append(plan.user)
        return listings

    def _judge_user(self, storage: Storage, user: str, listing: Listing, *, config: PluginConfig,
                    entries: dict[str, ledger.LedgerEntry], in_flight: frozenset[tuple[str, str]],
                    state: migration.MigrationState, outcome: Outcome, now: float) -> bool:
        """Account for one user's listed tokens and revoke (or report) the others; True if
        the migration state changed."""
        plan, role, strategy, tokens = listing
        credential_user = same_jenkins_user(user, config.credential.username)
        accounted: dict[str, str] = {}
        for token in tokens:
            why = self._accounts_for(token, user, plan, entries, in_flight, now,
                                     managed=config.managed_uuid if credential_user else "")
            if why:
                accounted[token.uuid] = why
        unaccounted = [t for t in tokens if t.uuid not in accounted]
        changed = state.first_listing(user, unaccounted, plan.prefixes, now)
        for token in unaccounted:
            if state.spares(token.uuid, user, now):
                accounted[token.uuid] = "minted before the engine kept a ledger; lives until its name's deadline"
        outcome.accounted.update(accounted)
        self._forget_reports(user, tokens)
        foreign = [t for t in tokens if t.uuid not in accounted]
        if not foreign:
            return changed
        by_hand = config.credential.kind == "token" and not config.managed_uuid
        if by_hand and credential_user:
            self._warn_credential_by_hand(user)
            why_not = CREDENTIAL_BY_HAND
        else:
            why_not = "" if plan.policy == "revoke" else "a role naming this user has foreign_tokens=report"
        for token in foreign:
            reason = self._reason(token, entries.get(token.uuid), state, user)
            if why_not:
                self._report(token, user, plan, reason, why_not, outcome)
            else:
                self._revoke(storage, strategy, role, token, user, plan, reason, entries, outcome)
        return changed

    def _plans(self, storage: Storage) -> list[UserPlan]:
        plans: dict[str, UserPlan] = {}
        for name in sorted(storage.list(ROLES)):
            if name.endswith("/"):
                continue
            found = load_role_and_policy(storage, name)
            if found is not None:
                plans.setdefault(found[0].jenkins_user, UserPlan(found[0].jenkins_user)).roles.append(found)
        return list(plans.values())

    def _list(self, storage: Storage, plan: UserPlan) -> tuple[Role, Strategy, list[TokenInfo]] | None:
        errors = []
        for role, _ in plan.roles:
            try:
                strategy = self.backend.strategy(storage, role.strategy, role.credential)
                return role, strategy, list(strategy.list_tokens(plan.user))
            except (BrokerError, StorageError) as exc:
                errors.append(f"role {role.name}: {redact(str(exc))}")
        self.log.warning("periodic reconciliation: could not list the tokens of Jenkins user %s (%s); "
                         "nothing revoked there this time", plan.user, "; ".join(errors))
        return None

    @staticmethod
    def _accounts_for(token: TokenInfo, user: str, plan: UserPlan, entries: dict[str, ledger.LedgerEntry],
                      in_flight: frozenset, now: float, *, managed: str) -> str:
        """Why ``token`` is accounted for, or ``""``."""
        if managed and token.uuid == managed:
            return "the engine's credential (rotate-root)"
        entry = entries.get(token.uuid)
        if entry is not None and same_jenkins_user(entry.user, user) and now < entry.deadline + DEADLINE_SLACK:
            return f"minted for role {entry.role}; its lease can last until {_iso(entry.deadline)}"
        if (user.casefold(), token.name) in in_flight:
            return "being minted now"
        if token.legacy and any(role.strategy == "legacy" for role, _ in plan.roles):
            return "the user's legacy token, which legacy leases rotate"
        return ""

    @staticmethod
    def _reason(token: TokenInfo, entry: ledger.LedgerEntry | None, state: migration.MigrationState,
                user: str) -> str:
        if entry is not None and same_jenkins_user(entry.user, user):
            return f"minted by the engine for role {entry.role}, but its lease ended by {_iso(entry.deadline)}"
        if token.uuid in state.kept:
            return "minted before the engine kept a ledger, and its name's deadline has passed"
        return "not minted by the engine for a live lease, and not the engine's credential"

    # -- acting -----------------------------------------------------------------------------

    def _revoke(self, storage: Storage, strategy: Strategy, role: Role, token: TokenInfo, user: str,
                plan: UserPlan, reason: str, entries: dict[str, ledger.LedgerEntry], outcome: Outcome) -> None:
        try:
            strategy.revoke(user=user, uuid=token.uuid)
        except (BrokerError, ValueError) as exc:
            outcome.failed.append(token.uuid)
            self.log.warning("periodic reconciliation: could not revoke foreign token %s of Jenkins user %s: "
                             "%s; the next run tries again", token.uuid, user, redact(str(exc)))
            return
        outcome.revoked.append(token.uuid)
        self._event(REVOKED, logging.INFO, token, user, plan, reason, acted_as=role.name)
        if token.uuid in entries:
            try:
                ledger.forget(storage, token.uuid)
            except StorageError:
                pass  # dropped later by _tidy_ledger
            entries.pop(token.uuid, None)

    def _report(self, token: TokenInfo, user: str, plan: UserPlan, reason: str, why_not: str,
                outcome: Outcome) -> None:
        outcome.reported.append(token.uuid)
        if token.uuid in self._reported:
            return
        self._reported[token.uuid] = user.casefold()
        self._event(FOUND, logging.WARNING, token, user, plan, reason, not_revoked_because=why_not)

    def _event(self, event: str, level: int, token: TokenInfo, user: str, plan: UserPlan, reason: str,
               **more: str) -> None:
        """The audit-like line: uuid, name, user, roles and the token's age as Jenkins shows it.
        Never a value (the engine does not have it); the name is the holder's choice and redacted."""
        fields: dict[str, Any] = {
            "event": event, "token_uuid": token.uuid, "token_name": token.name, "jenkins_user": user,
            "role": ",".join(role.name for role, _ in plan.roles), "reason": reason,
            "created": token.creation_date.isoformat() if token.creation_date else token.created_text,
            "last_used": token.last_used_text if token.use_counter is None else f"{token.use_counter} uses",
            "expiry": token.expiration_date.isoformat() if token.expiration_date else token.expiry_text,
            "legacy": token.legacy, **more}
        self.log.log(level, event, extra={"hclog": {k: v for k, v in fields.items() if v not in (None, "")}})

    def _warn_credential_by_hand(self, user: str) -> None:
        if user.casefold() in self._warned:
            return
        self._warned.add(user.casefold())
        self.log.warning("periodic reconciliation: Jenkins user %s holds the engine's credential, written by hand, "
                         "so the engine cannot tell which of its tokens that is: tokens there that it cannot "
                         "account for are only reported (foreign-token-found). Write jenkins/rotate-root to "
                         "enable revocation", user)

    def _forget_reports(self, user: str, tokens: list[TokenInfo]) -> None:
        """Forget the reports of ``user``'s tokens that are gone (keeps the memory to what exists)."""
        present = {t.uuid for t in tokens}
        for uuid in [u for u, owner in self._reported.items() if owner == user.casefold() and u not in present]:
            del self._reported[uuid]

    def _tidy_ledger(self, storage: Storage, entries: dict[str, ledger.LedgerEntry],
                     listings: dict[str, Any], outcome: Outcome, now: float) -> None:
        """Drop entries that account for nothing any more: past their deadline and their token gone
        from a listing of its user (or past it by a day, listed or not)."""
        listed = {user.casefold(): {t.uuid for t in found[3]} for user, found in listings.items()}
        for uuid, entry in list(entries.items()):
            if now < entry.deadline + DEADLINE_SLACK:
                continue
            seen = listed.get(entry.user.casefold())
            if (seen is not None and uuid not in seen) or now > entry.deadline + STALE_ENTRY:
                ledger.forget(storage, uuid)


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
