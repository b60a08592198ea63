"""Reconciliation: the broker owns the Jenkins users its roles name.

Every pass lists the tokens of each Jenkins user that a role names and sorts each
token into one of these, by what the broker knows (lease records, stored
credentials), never by name alone, since a token's holder can name a token
anything:

* **a live lease**: its uuid is the token uuid of a lease record for the user
  (of any role, a deleted one too; a legacy role's single legacy token counts as
  its lease);
* **the broker's own credential**: its uuid is a stored credential's
  ``token_uuid`` (known once the credential was rotated, see
  :mod:`jenkins_broker.domain.credentials`);
* **an orphan**: named ``<prefix><role>-<lease suffix>`` with no record of that
  suffix, older than the grace period (a mint whose record is still being
  written is younger): left by a crash or a lost record; always revoked;
* **an engine token** (plugin mode, ``vault-jenkins-<role>-<deadline>-<8 hex>``):
  past its deadline (plus grace) no Vault lease can cover it, so it is revoked.
  One whose deadline is ahead is left to the engine only when the broker is told
  that an engine shares its users (``engine_shares_users``), and only if the
  deadline is within Vault's longest lease (32 days) of when it was first seen;
* **foreign**: anything else, for instance a token a holder generated with its
  leased token (it would never expire), or a broker-named token whose lease
  record holds another uuid (a forged name). Revoked and audited as
  ``foreign-token-revoked`` when every role naming the user has
  ``foreign_tokens=revoke`` (the default); audited as ``foreign-token-found``
  otherwise. Tokens named like the broker's own credential
  (``<prefix>credential-<name>``, any role prefix or the default) get the grace
  period first: a credential rotation may be storing it right now. The engine's
  own credential (``vault-jenkins-root-...``) belongs on a user no broker role
  names: on a broker user it is foreign like any other.

The other way round, a lease whose token Jenkins no longer lists was revoked
outside the broker (a holder can revoke the user's other tokens): its record is
settled through ``on_gone``, which also replaces a shared role's published value.

While a token credential of the user has no known uuid (written before
rotation existed), the broker cannot tell that credential from a foreign token,
so it only reports; ``jenkins-broker credentials rotate <name>`` ends that.
The legacy token itself has no name: before Jenkins 2.129 nothing can be listed.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Callable, Iterable, Protocol, runtime_checkable

from ..errors import BrokerError, redact
from ..observability import Metrics, audit
from ..values import (
    BROKER_TOKEN_PREFIX,
    LEGACY_TOKEN_ID,
    credential_token_name,
    parse_engine_token_name,
    parse_token_name,
)
from .jenkins_config import StoredCredential
from .records import LeaseRecord
from .roles import Role

if TYPE_CHECKING:  # the domain imports no HTTP client, so not the jenkins package at run time
    from ..jenkins.models import TokenInfo

log = logging.getLogger(__name__)

# Vault's default longest lease (768h): an engine deadline further ahead is no lease's.
ENGINE_LONGEST_LEASE = 32 * 86400


@runtime_checkable
class ReconcileStore(Protocol):
    """The part of the Vault store reconciliation reads (and the records it deletes)."""

    def list_roles(self) -> list[str]: ...
    def get_role(self, name: str) -> Role | None: ...
    def list_lease_roles(self) -> list[str]: ...
    def list_leases(self, role: str) -> list[str]: ...
    def get_lease(self, role: str, suffix: str) -> tuple[LeaseRecord, int] | None: ...
    def get_leases(self, keys: Iterable[tuple[str, str]]) -> Iterable[tuple[LeaseRecord, int]]: ...
    def delete_lease(self, role: str, suffix: str) -> None: ...
    def list_credentials(self) -> list[str]: ...
    def get_credential(self, name: str) -> StoredCredential | None: ...
    def forget_credential(self, name: str) -> None: ...
    def malformed_leases(self) -> set[tuple[str, str]]:
        """(role, suffix) of the lease records that could not be read as one (until deleted)."""
        ...


@runtime_checkable
class ReconcileGateway(Protocol):
    """The part of the Jenkins side reconciliation needs."""

    def list_tokens(self, role: Role) -> list[TokenInfo]:
        """The tokens of the role's Jenkins user, listed with the role's credential."""
        ...

    def revoke_token(self, role: Role, uuid: str) -> None:
        """Revoke token ``uuid`` of the role's Jenkins user, with the role's credential."""
        ...


@runtime_checkable
class RecordIndex(Protocol):
    """Lease records already in memory (the reaper's index), to spare reading them again."""

    def known_record(self, role: str, suffix: str) -> LeaseRecord | None: ...


class Reconciler:
    """Revokes tokens on the broker's Jenkins users that nothing accounts for (see the
    module docstring), and the tokens of mints that failed after reaching Jenkins."""

    def __init__(self, store: ReconcileStore, gateway: ReconcileGateway, *, metrics: Metrics,
                 grace: float = 60.0, clock: Callable[[], float] = time.time,
                 index: RecordIndex | None = None, engine_shares_users: bool = False,
                 on_gone: Callable[[LeaseRecord], None] | None = None):
        self.store = store
        self.gateway = gateway
        self.metrics = metrics
        self.grace = grace
        self.clock = clock
        self.index = index
        self.engine_shares_users = engine_shares_users
        # Called with a lease record whose token Jenkins no longer lists (see _leases_gone).
        self.on_gone = on_gone
        self._first_seen: dict[str, float] = {}
        self._reported: set[str] = set()  # foreign tokens already reported (report mode)
        self._missing: dict[str, int] = {}  # lease token uuid -> listings in a row that missed it
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
            settled, revoked_here, failed_here = self._settle_suspects(role_name, names)
            revoked += revoked_here
            failed = failed or failed_here
            with self._suspects_lock:
                self._suspects[role_name] -= settled
        self._suspect_failures = self._suspect_failures + 1 if failed else 0
        self.next_suspect_check = self.clock() + (min(60.0, 2.0 ** self._suspect_failures)
                                                  if failed else 0.0)
        return revoked

    def _settle_suspects(self, role_name: str, names: set[str]) -> tuple[set[str], int, bool]:
        """Look for one role's suspect names among its user's tokens and revoke those found;
        returns the names settled (revoked, or never made), how many were revoked, and
        whether anything failed (the rest stay suspects)."""
        role = self.store.get_role(role_name)
        if role is None or role.strategy == "legacy":
            return names, 0, False  # a deleted role's user, or nothing to list before 2.129
        try:
            tokens = self.gateway.list_tokens(role)
        except BrokerError as exc:
            log.info("cannot check the tokens of failed mints of role %s yet: %s", role_name,
                     redact(str(exc)))
            return set(), 0, True
        settled = set(names)
        revoked = 0
        failed = False
        for token in tokens:
            if token.name not in names:
                continue
            if self._revoke_suspect(role, token):
                revoked += 1
            else:
                settled.discard(token.name)
                failed = True
        return settled, revoked, failed

    def _revoke_suspect(self, role: Role, token: TokenInfo) -> bool:
        """Revoke the token of a failed mint; False if Jenkins could not be told."""
        try:
            self.gateway.revoke_token(role, token.uuid)
        except BrokerError:
            return False
        self.metrics.orphans.labels(role.name).inc()
        audit("revoke", role=role.name, token_uuid=token.uuid, token_name=token.name,
              jenkins_user=role.jenkins_user,
              reason="orphan: its mint failed after Jenkins may have made it")
        return True

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> dict[str, int]:
        """One reconciliation pass over every Jenkins user a role names; returns counts of
        ``checked`` tokens, ``orphans`` and ``foreign`` ones found, ``revoked``, ``gone``
        (leases whose token was revoked outside the broker) and ``errors``.

        In three steps, in this order: list every user's tokens; then read the lease
        records and the stored credentials (so a token minted or rotated meanwhile is
        found with its record, or is young enough for the grace); then judge each token.
        ``should_stop`` is asked between tokens, so a shutdown does not wait for a long pass.
        """
        counts = {"checked": 0, "orphans": 0, "foreign": 0, "revoked": 0, "gone": 0, "errors": 0}
        users = self._roles_by_user()
        listed = self._list_tokens(users, counts)
        leases = self._leases_by_user()
        credentials = self._credentials()
        malformed = self.store.malformed_leases()
        seen: set[str] = set()
        for user, (listed_at, tokens) in listed.items():
            if should_stop():
                break
            judge = _UserPass(self, user, users[user], credentials, leases.get(user, {}), counts, seen,
                              malformed)
            judge.run(tokens, listed_at, should_stop)
        self._forget_all_but(seen, leases)
        return counts

    def _roles_by_user(self) -> dict[str, list[Role]]:
        """The roles, by the case-folded Jenkins user they name: Jenkins compares user ids
        without regard to case (its default id strategy), so "ci-bot" and "CI-Bot" are one."""
        users: dict[str, list[Role]] = {}
        for name in self.store.list_roles():
            role = self.store.get_role(name)
            if role is not None:
                users.setdefault(role.jenkins_user.casefold(), []).append(role)
        return users

    def _list_tokens(self, users: dict[str, list[Role]],
                     counts: dict[str, int]) -> dict[str, tuple[float, list[TokenInfo]]]:
        """Each user's tokens and when they were listed; a user Jenkins would not list
        is left out (and counted in ``errors``)."""
        listed: dict[str, tuple[float, list[TokenInfo]]] = {}
        for user, roles in users.items():
            lister = _lister(roles)
            try:
                listed[user] = (self.clock(), self.gateway.list_tokens(lister))
            except BrokerError as exc:
                counts["errors"] += 1
                log.warning("reconciliation could not list tokens of Jenkins user %s: %s",
                            lister.jenkins_user, redact(str(exc)))
        return listed

    def _forget_all_but(self, seen: set[str], leases: dict[str, dict[str, LeaseRecord]]) -> None:
        """Forget tokens that are gone (not ``seen`` in this pass) and leases that ended, so
        the pass-to-pass maps do not grow for ever."""
        for uuid in list(self._first_seen):
            if uuid not in seen:
                del self._first_seen[uuid]
        self._reported &= seen
        live = {uuid for records in leases.values() for uuid in records}
        self._missing = {uuid: n for uuid, n in self._missing.items() if uuid in live}

    def _leases_by_user(self) -> dict[str, dict[str, LeaseRecord]]:
        """Every lease record, of every role (deleted ones too), by Jenkins user and token uuid;
        from the reaper's index where it has them. Records that cannot be read are left out."""
        out: dict[str, dict[str, LeaseRecord]] = {}
        unknown: list[tuple[str, str]] = []

        def add(record: LeaseRecord) -> None:
            if record.token_uuid:
                out.setdefault(record.jenkins_user.casefold(), {})[record.token_uuid] = record
        for role in self.store.list_lease_roles():
            for suffix in self.store.list_leases(role):
                record = self.index.known_record(role, suffix) if self.index is not None else None
                if record is None:
                    unknown.append((role, suffix))
                else:
                    add(record)
        for record, _ in self.store.get_leases(unknown):  # read in parallel
            add(record)
        return out

    def _credentials(self) -> list[StoredCredential]:
        """The stored credentials as Vault has them now (a rotation may be seconds old)."""
        found = []
        for name in self.store.list_credentials():
            self.store.forget_credential(name)
            credential = self.store.get_credential(name)
            if credential is not None:
                found.append(credential)
        return found


def _lister(roles: list[Role]) -> Role:
    """The role whose strategy and credential list a user's tokens: one that can list
    (a legacy role can list nothing before Jenkins 2.129)."""
    return next((r for r in roles if r.strategy != "legacy"), roles[0])


class _UserPass:
    """One user's part of a reconciliation pass: judge each of its listed tokens."""

    def __init__(self, owner: Reconciler, user: str, roles: list[Role],
                 credentials: list[StoredCredential], leases: dict[str, LeaseRecord],
                 counts: dict[str, int], seen: set[str], malformed: set[tuple[str, str]]):
        self.owner = owner
        self.malformed = malformed
        self.roles = roles
        self.leases = leases
        self.counts = counts
        self.seen = seen
        self.lister = _lister(roles)
        # ``user`` is the case-folded key; Jenkins is spoken to with the id a role spells.
        self.user = self.lister.jenkins_user
        self.prefixes = {r.token_name_prefix for r in roles}
        self.credential_prefixes = tuple(credential_token_name("", p)
                                         for p in self.prefixes | {BROKER_TOKEN_PREFIX})
        self.legacy = any(r.strategy == "legacy" for r in roles)
        mine = [c for c in credentials if c.username.casefold() == user and c.kind == "token"]
        self.own_uuids = {c.token_uuid for c in mine if c.token_uuid}
        self.unknown_credentials = sorted(c.name for c in mine if not c.token_uuid)
        self.revokes_foreign = (all(r.foreign_tokens == "revoke" for r in roles)
                                and not self.unknown_credentials)
        self.now = owner.clock()
        self.recorded: dict[str, set[str]] = {}
        for record in leases.values():
            self.recorded.setdefault(record.role, set()).add(record.suffix)

    def run(self, tokens: list, listed_at: float, should_stop: Callable[[], bool]) -> None:
        if self.unknown_credentials and tokens:
            log.warning("reconciliation only reports foreign tokens of Jenkins user %s: the uuid of "
                        "credential(s) %s is not known; run `jenkins-broker credentials rotate NAME`",
                        self.user, ", ".join(self.unknown_credentials))
        for token in tokens:
            if should_stop():
                return
            self.seen.add(token.uuid)
            self.counts["checked"] += 1
            self._judge(token)
        self._leases_gone({t.uuid for t in tokens}, listed_at)

    def _judge(self, token) -> None:
        if token.uuid in self.leases or token.uuid in self.own_uuids:
            return
        if token.legacy and self.legacy:
            return  # a legacy role's lease is the user's one legacy token
        parsed = next((p for p in (parse_token_name(token.name, x) for x in self.prefixes) if p), None)
        if parsed is not None:
            role, suffix = parsed
            malformed = parsed in self.malformed
            if suffix in self.recorded.get(role, ()) and not malformed:
                self._foreign(token, "a broker-named token that its lease record does not name")
            elif self._past_grace(token):
                self._orphan(token, role, suffix, malformed)
            return
        engine = parse_engine_token_name(token.name)
        if engine is not None:
            self._engine_token(token, *engine)
            return
        if token.name.startswith(self.credential_prefixes) and not self._past_grace(token):
            return  # a credential rotation may be storing it right now
        self._foreign(token, "no lease and no stored credential accounts for it")

    def _leases_gone(self, listed: set[str], listed_at: float) -> None:
        """Leases whose token Jenkins no longer lists were revoked outside the broker (by a
        holder, an administrator, Jenkins-side expiry): they are revoked for good (Jenkins
        answers success for a uuid it does not know), which drops the record and replaces a
        shared role's published value (see ``LeaseManager.token_gone``). Only after two
        listings in a row miss the token, and never on an empty listing while leases exist:
        a listing that lost entries must not end a lease early."""
        if self.owner.on_gone is None or not listed:
            return
        for record in self.leases.values():
            if (record.token_uuid in listed or record.token_uuid == LEGACY_TOKEN_ID or record.revoking
                    or record.issued_at > listed_at - self.owner.grace):
                self.owner._missing.pop(record.token_uuid, None)
                continue  # listed, legacy, already ending, or perhaps minted after the listing
            misses = self.owner._missing[record.token_uuid] = self.owner._missing.get(
                record.token_uuid, 0) + 1
            if misses < 2:
                continue
            try:
                self.owner.on_gone(record)
                self.counts["gone"] += 1
            except BrokerError as exc:
                self.counts["errors"] += 1
                log.warning("could not settle lease %s whose token is gone: %s", record.lease_id,
                            redact(str(exc)))

    def _past_grace(self, token) -> bool:
        first = self.owner._first_seen.setdefault(token.uuid, self.now)
        created = token.creation_date.timestamp() if token.creation_date else first
        return self.now - min(first, created) >= self.owner.grace

    def _revoke(self, token) -> bool:
        try:
            self.owner.gateway.revoke_token(self.lister, token.uuid)
        except BrokerError as exc:
            self.counts["errors"] += 1
            log.warning("could not revoke token %s of Jenkins user %s: %s", token.name, self.user,
                        redact(str(exc)))
            return False
        self.counts["revoked"] += 1
        self.owner._first_seen.pop(token.uuid, None)
        return True

    def _orphan(self, token, role: str, suffix: str, malformed: bool) -> None:
        self.counts["orphans"] += 1
        if not self._revoke(token):
            return
        self.owner.metrics.orphans.labels(role).inc()
        audit("revoke", role=role, token_uuid=token.uuid, token_name=token.name, jenkins_user=self.user,
              reason="orphan: malformed lease record" if malformed else "orphan: no lease record")
        if malformed:
            self.owner.store.delete_lease(role, suffix)

    def _engine_token(self, token, engine_role: str, deadline: int) -> None:
        if self.now - deadline > self.owner.grace:
            # Past its lease deadline: no Vault lease can still cover it.
            self.counts["orphans"] += 1
            if self._revoke(token):
                self.owner.metrics.orphans.labels(engine_role).inc()
                audit("revoke", role=engine_role, token_uuid=token.uuid, token_name=token.name,
                      jenkins_user=self.user, reason="engine token past its lease deadline")
            return
        first = self.owner._first_seen.setdefault(token.uuid, self.now)
        if self.owner.engine_shares_users and deadline - first <= ENGINE_LONGEST_LEASE:
            return  # the engine's own reconciliation accounts for it by uuid
        self._foreign(token, "named like a secrets-engine token, but no engine is declared for "
                             "this broker's users (JENKINS_BROKER_ENGINE_SHARES_USERS)"
                      if not self.owner.engine_shares_users else
                      "named like a secrets-engine token with a deadline no lease can have")

    def _foreign(self, token, why: str) -> None:
        self.counts["foreign"] += 1
        role = self.roles[0].name
        age = (token.creation_date.isoformat() if token.creation_date else token.created_text) or None
        if self.revokes_foreign:
            if self._revoke(token):
                self.owner.metrics.foreign.labels(role, "revoked").inc()
                audit("foreign-token-revoked", role=role, token_uuid=token.uuid, token_name=token.name,
                      jenkins_user=self.user, reason=why, created=age)
            return
        if token.uuid not in self.owner._reported:
            self.owner._reported.add(token.uuid)
            self.owner.metrics.foreign.labels(role, "reported").inc()
            audit("foreign-token-found", role=role, token_uuid=token.uuid, token_name=token.name,
                  jenkins_user=self.user, reason=why, created=age,
                  error=None if not self.unknown_credentials else
                  "not revoked: the uuid of credential(s) " + ", ".join(self.unknown_credentials)
                  + " is not known; rotate them")
