"""Tokens the engine minted before it kept a ledger: which of them the reconciliation spares.

An engine of an earlier version minted tokens without writing them to the
ledger (:mod:`.minted`). Their leases may still be live after the upgrade, so
revoking every unledgered token at once would cut them short. Their names
cannot be trusted on their own either: a holder can name a token
``vault-jenkins-<role>-<far future>-deadbeef``. The rule:

* the first time a version with the ledger initializes the mount (OpenBao's
  ``Initialize``, at ``secrets enable`` and at every plugin start; or else the
  first periodic run) it writes ``reconcile/migration``: the time (``since``),
  the end of the migration window (``until``) and the Jenkins users the roles
  name then (``pending``). On a new mount (no config, no role) the window is
  closed at once: every token there is minted into the ledger. On an upgraded
  one ``until`` is since + the longest max_ttl among the roles: no lease of an
  earlier mint can outlive it;
* the first successful listing of each pending user, if before ``until``,
  keeps the uuids of the unledgered tokens whose name reads as an engine
  token name with a deadline still ahead and not after ``until``. Those were in
  Jenkins before the engine first looked (at most about a minute after the
  upgrade), so they are tokens of the earlier version or tokens a holder made
  before the upgrade (the hole this closes); either way they live until their
  name's deadline at the latest, and Jenkins-side expiry and the broker's
  reconciliation back that up;
* nothing else is ever spared by its name: a token made after its user's first
  listing, a deadline past ``until``, a user no role named at the upgrade.

Where a max_ttl was lowered, or a role with a longer one deleted, before the
upgrade, a lease of an earlier mint can end after ``until``: its token is not
spared, and the first run revokes it before its lease ends. That is the price
of not trusting names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from ..values import parse_engine_token_name, same_jenkins_user
from .storage import Storage, get_json, put_json

STORAGE_KEY = "reconcile/migration"


@dataclass
class MigrationState:
    """``reconcile/migration``: see the module's description."""

    since: float
    until: float
    pending: list[str] = field(default_factory=list)
    kept: dict[str, dict[str, Any]] = field(default_factory=dict)  # uuid -> user, name, deadline

    def to_record(self) -> dict[str, Any]:
        return {"since": self.since, "until": self.until, "pending": sorted(self.pending), "kept": self.kept}

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> "MigrationState":
        return cls(since=float(data["since"]), until=float(data["until"]),
                   pending=[str(u) for u in data.get("pending") or []],
                   kept={str(k): dict(v) for k, v in (data.get("kept") or {}).items() if isinstance(v, dict)})

    def spares(self, uuid: str, user: str, now: float) -> bool:
        """True if ``uuid`` of ``user`` was kept at its user's first listing and its deadline is ahead."""
        kept = self.kept.get(uuid)
        if not kept:
            return False
        return same_jenkins_user(str(kept.get("user", "")), user) \
            and now < float(kept.get("deadline", 0))

    def first_listing(self, user: str, tokens: Iterable[Any], prefixes: Iterable[str], now: float) -> bool:
        """Keep the engine-named ``tokens`` of ``user`` if this is its first listing in the window.

        ``tokens`` are the listed tokens that nothing else accounts for; ``prefixes`` the
        token name prefixes of the roles naming the user. Returns True if the state changed.
        """
        pending = [u for u in self.pending if same_jenkins_user(u, user)]
        if not pending:
            return False
        self.pending = [u for u in self.pending if not same_jenkins_user(u, user)]
        if now >= self.until:
            return True
        for token in tokens:
            deadline = engine_deadline(token.name, prefixes)
            if deadline is not None and now < deadline <= self.until:
                self.kept[token.uuid] = {"user": user, "name": token.name, "deadline": deadline}
        return True

    def tidy(self, now: float) -> bool:
        """Drop what can no longer spare anything. Returns True if the state changed."""
        before = (len(self.pending), len(self.kept))
        if now >= self.until:
            self.pending = []
        self.kept = {uuid: kept for uuid, kept in self.kept.items() if now < float(kept.get("deadline", 0))}
        return before != (len(self.pending), len(self.kept))


def engine_deadline(name: str, prefixes: Iterable[str]) -> int | None:
    """The deadline in an engine token name with one of ``prefixes``, else ``None``."""
    for prefix in prefixes:
        parsed = parse_engine_token_name(name, prefix)
        if parsed is not None:
            return parsed[1]
    return None


def load(storage: Storage) -> MigrationState | None:
    """The stored state, ``None`` if there is none; an unreadable one reads as closed."""
    data = get_json(storage, STORAGE_KEY)
    if not data:
        return None
    try:
        return MigrationState.from_record(data)
    except (KeyError, TypeError, ValueError):
        since = float(data["since"]) if isinstance(data.get("since"), (int, float)) else 0.0
        return MigrationState(since=since, until=since)


def start(storage: Storage, *, users: Iterable[str], longest_max_ttl: int, fresh: bool,
          now: float) -> MigrationState:
    """The stored state, or a new one, stored now: closed on a ``fresh`` mount, else open for
    ``longest_max_ttl`` for ``users``. Raises :class:`~.storage.StorageError`."""
    state = load(storage)
    if state is None:
        if fresh:
            state = MigrationState(since=now, until=now)
        else:
            state = MigrationState(since=now, until=now + max(0, longest_max_ttl), pending=sorted(set(users)))
        save(storage, state)
    return state


def save(storage: Storage, state: MigrationState) -> None:
    """Store ``state``. Raises :class:`~.storage.StorageError`."""
    put_json(storage, STORAGE_KEY, state.to_record())
