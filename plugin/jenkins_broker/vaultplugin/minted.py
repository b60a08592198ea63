"""The engine's ledger of the tokens it minted, and the mints still in flight.

The periodic reconciliation (:mod:`.periodic`) revokes every token on its
roles' Jenkins users that the engine cannot account for. It accounts by the
token's **uuid**, which Jenkins assigns and a holder cannot choose, never by
name: a holder of a leased token can give a token it makes any name, including
the exact name of a live engine token.

* :func:`record` is called by ``creds/<role>`` right after Jenkins made the
  token and before the answer (and so the lease) goes back to OpenBao; the
  entry ``minted/<uuid>`` holds the Jenkins user, the name, the role and the
  lease's deadline (issue time + max_ttl), never the value.
* :func:`forget` is called when the lease's revocation went through.
* :class:`InFlight` covers the moment between Jenkins making the token and the
  entry being written. It lives in the process because that is where every
  mint runs: OpenBao sends requests (and the periodic ``rollback``) only to
  the active node's plugin, and a reload waits for requests in flight, so a
  token that is in Jenkins, not in the ledger and not in flight here was never
  handed out under a lease. A name-based grace would let any holder buy time
  by naming its token like an engine token; this does not.
"""

from __future__ import annotations

import hashlib
import re
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Iterator

from .storage import Storage, get_json, put_json

PREFIX = "minted/"
_SAFE_KEY = re.compile(r"[A-Za-z0-9-]{1,100}")


@dataclass(frozen=True)
class LedgerEntry:
    """One ledger entry: a token the engine minted for a lease (no value)."""

    uuid: str
    user: str
    name: str
    role: str
    minted_at: float
    deadline: float  # when the lease's max_ttl ends: no lease of this token outlives it

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> "LedgerEntry":
        return cls(uuid=str(data["uuid"]), user=str(data["user"]), name=str(data.get("name", "")),
                   role=str(data.get("role", "")), minted_at=float(data.get("minted_at", 0)),
                   deadline=float(data["deadline"]))


def key_for(uuid: str) -> str:
    """The storage key of ``uuid``'s entry (the uuid itself when it is key-safe)."""
    if _SAFE_KEY.fullmatch(uuid):
        return PREFIX + uuid
    return PREFIX + "sha256-" + hashlib.sha256(uuid.encode("utf-8")).hexdigest()


def record(storage: Storage, token: LedgerEntry) -> None:
    """Write ``token``'s entry. Raises :class:`~.storage.StorageError`."""
    put_json(storage, key_for(token.uuid), token.to_record())


def forget(storage: Storage, uuid: str) -> None:
    """Drop ``uuid``'s entry (no error when there is none). Raises :class:`~.storage.StorageError`."""
    storage.delete(key_for(uuid))


def load_all(storage: Storage) -> dict[str, LedgerEntry]:
    """Every entry, by uuid. Unreadable entries are skipped (they account for nothing)."""
    found: dict[str, LedgerEntry] = {}
    for key in storage.list(PREFIX):
        if key.endswith("/"):
            continue
        data = get_json(storage, PREFIX + key)
        if not data:
            continue
        try:
            entry = LedgerEntry.from_record(data)
        except (KeyError, TypeError, ValueError):
            continue
        found[entry.uuid] = entry
    return found


class InFlight:
    """Token names being minted right now in this process, per Jenkins user (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._names: dict[tuple[str, str], int] = {}

    @contextmanager
    def minting(self, user: str, name: str) -> Iterator[None]:
        """Mark ``name`` of ``user`` in flight for the duration of the block: from before
        Jenkins is asked until the ledger entry (or the stored credential) is written."""
        key = (user.casefold(), name)
        with self._lock:
            self._names[key] = self._names.get(key, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._names[key] - 1
                if left:
                    self._names[key] = left
                else:
                    del self._names[key]

    def snapshot(self) -> frozenset[tuple[str, str]]:
        """``(user casefolded, name)`` of every mint in flight now."""
        with self._lock:
            return frozenset(self._names)
