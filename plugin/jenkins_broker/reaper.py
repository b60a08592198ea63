"""The reaper: revokes every lease when it ends, and retries until Jenkins confirms.

It keeps an in-memory index of the leases it knows, ordered by when each is
due (a heap), so one pass costs work in proportion to what has expired, not to
what is alive. The index is filled from Vault at start-up and refreshed by a
periodic resync, which also picks up leases minted by other replicas or left
by a crashed one. Vault stays the source of truth: before anything is revoked
the record is claimed with a check-and-set write, so a lease renewed or revoked
elsewhere is never revoked twice.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Callable, Iterable, Protocol

from .errors import BrokerError, redact
from .leases import LeaseManager, Revocation
from .records import LeaseRecord

log = logging.getLogger(__name__)


class IndexStore(Protocol):
    """What the reaper reads from Vault to (re)build its index."""

    def list_lease_roles(self) -> list[str]: ...
    def list_leases(self, role: str) -> list[str]: ...
    def get_lease(self, role: str, suffix: str) -> tuple[LeaseRecord, int] | None: ...
    def get_leases(self, keys: Iterable[tuple[str, str]]) -> Iterable[tuple[LeaseRecord, int]]: ...
    def list_revoking(self) -> list[tuple[str, str]]: ...
    def unmark_revoking(self, role: str, suffix: str) -> None: ...


Key = tuple[str, str]  # (role, suffix)


class Reaper:
    """Schedules and performs revocations at lease end. Also the manager's scheduler."""

    def __init__(self, manager: LeaseManager, store: IndexStore, *, workers: int = 8,
                 resync_interval: float = 60.0, clock: Callable[[], float] = time.time):
        self.manager = manager
        self.store = store
        self.clock = clock
        self.resync_interval = resync_interval
        self._heap: list[tuple[float, int, Key]] = []
        self._known: dict[Key, tuple[LeaseRecord, int]] = {}
        self._counts: dict[str, int] = {}
        self._retrying: set[Key] = set()
        self._in_flight: set[Key] = set()
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reaper")
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._last_resync = 0.0
        self.loaded = threading.Event()
        manager.scheduler = self

    # -- the scheduler interface --------------------------------------------

    def schedule(self, record: LeaseRecord, version: int) -> None:
        """Act on ``record`` at its ``due_at``; replaces any earlier entry for it."""
        key = (record.role, record.suffix)
        with self._cond:
            if key not in self._known:
                self._counts[record.role] = self._counts.get(record.role, 0) + 1
            self._known[key] = (record, version)
            (self._retrying.add if record.revoke_attempts else self._retrying.discard)(key)
            heapq.heappush(self._heap, (record.due_at, next(self._seq), key))
            if self._heap[0][2] == key:
                self._cond.notify()

    def forget(self, role: str, suffix: str) -> None:
        """Drop a lease from the index (its heap entry is skipped when popped)."""
        with self._cond:
            if self._known.pop((role, suffix), None) is not None:
                self._counts[role] -= 1
            self._retrying.discard((role, suffix))

    def known_record(self, role: str, suffix: str) -> LeaseRecord | None:
        """The record of a lease in the index, or None."""
        with self._cond:
            entry = self._known.get((role, suffix))
        return entry[0] if entry is not None else None

    def by_accessor(self) -> dict[str, list[tuple[LeaseRecord, int]]]:
        """The live per-request leases in the index, grouped by the accessor of the Vault
        token that asked for them (leases being revoked, shared ones and those asked for
        without an accessor, such as a batch token's, are left out)."""
        groups: dict[str, list[tuple[LeaseRecord, int]]] = {}
        with self._cond:
            for record, version in self._known.values():
                accessor = record.requester.accessor
                if accessor and not record.shared and not record.revoking:
                    groups.setdefault(accessor, []).append((record, version))
        return groups

    def live_count(self, role: str | None = None) -> int:
        """Leases in this replica's index, for one role or all."""
        with self._cond:
            return len(self._known) if role is None else self._counts.get(role, 0)

    # -- loading ---------------------------------------------------------------

    def load(self) -> int:
        """Read every lease record from Vault into the index; return how many.

        Used at start-up and by the periodic resync; records already known with
        the same version are left alone.
        """
        started = time.monotonic()
        keys = [(role, suffix) for role in self.store.list_lease_roles()
                for suffix in self.store.list_leases(role)]
        with self._cond:
            missing = [k for k in keys if k not in self._known]
        loaded = 0
        for record, version in self.store.get_leases(missing):
            self.schedule(record, version)
            loaded += 1
        self._load_revoking()
        self._last_resync = self.clock()
        self._update_gauges()
        if loaded:
            log.info("loaded %d lease records from Vault in %.1fs", loaded, time.monotonic() - started)
        self.loaded.set()
        return loaded

    def _load_revoking(self) -> None:
        """Read again the records whose revocation was asked for (on any replica): the index
        may still hold them as they were, due at their expiry. A mark whose record is gone
        is cleared."""
        marks = self.store.list_revoking()
        found = {(r.role, r.suffix): (r, v) for r, v in self.store.get_leases(marks)}
        for key in marks:
            if key not in found:
                self.store.unmark_revoking(*key)
                continue
            with self._cond:
                known = self._known.get(key)
            if known is None or known[1] != found[key][1]:
                self.schedule(*found[key])

    def expedite(self, role: str, suffix: str, reason: str) -> None:
        """Revoke a lease in the index as soon as possible (its revocation was asked for but
        could not even be claimed, say with Vault unreachable): due now, then with backoff."""
        now = self.clock()
        with self._cond:
            entry = self._known.get((role, suffix))
        if entry is not None and not entry[0].revoking:
            self.schedule(replace(entry[0], revoke_requested_at=now, revoke_reason=reason), entry[1])

    def _update_gauges(self) -> None:
        with self._cond:
            counts = dict(self._counts)
            retrying = len(self._retrying)
        for role, count in counts.items():
            self.manager.metrics.live.labels(role).set(count)
        self.manager.metrics.pending_retries.set(retrying)

    # -- reaping ---------------------------------------------------------------

    def _pop_due(self, now: float) -> list[tuple[LeaseRecord, int]]:
        due = []
        with self._cond:
            while self._heap and self._heap[0][0] <= now:
                when, _, key = heapq.heappop(self._heap)
                entry = self._known.get(key)
                # Skip stale heap entries: forgotten, rescheduled, or already being revoked.
                if entry is None or entry[0].due_at != when or key in self._in_flight:
                    continue
                self._in_flight.add(key)
                due.append(entry)
        return due

    def run_once(self, *, wait: bool = True) -> int:
        """Start revoking every lease that is due now; return how many were started.

        With ``wait`` the call returns once they all finished (tests, benchmarks,
        the ``reap`` command); the background loop does not wait.
        """
        due = self._pop_due(self.clock())
        futures = [self._pool.submit(self._reap, record, version) for record, version in due]
        if wait:
            for future in futures:
                future.result()
        return len(due)

    def _reap(self, record: LeaseRecord, version: int) -> None:
        key = (record.role, record.suffix)
        try:
            if self.manager.reap(record, version) is Revocation.SKIPPED:
                # Someone else changed the record (renewed, or another replica claimed it).
                found = self.store.get_lease(*key)
                with self._cond:
                    self._in_flight.discard(key)
                if found is None:
                    self.forget(*key)
                else:
                    self.schedule(*found)
                return
            # REVOKED, or RETRYING: the manager recorded the failure and scheduled the retry.
        except BrokerError as exc:
            # Vault trouble while claiming: keep the lease and look again shortly.
            log.warning("could not reap %s: %s", record.lease_id, redact(str(exc)))
            self.schedule(record.failed(self.clock(), self.manager.backoff.delay(
                record.revoke_attempts + 1), redact(str(exc))), version)
        except Exception:  # never let one lease kill the worker; it is retried
            log.exception("unexpected error reaping %s", record.lease_id)
            self.schedule(record.failed(self.clock(), self.manager.backoff.delay(
                record.revoke_attempts + 1), "internal error"), version)
        with self._cond:
            self._in_flight.discard(key)

    # -- the background loop ------------------------------------------------

    def start(self) -> "Reaper":
        """Start the background loop, and load the index from Vault beside it.

        Loading 10,000 records takes seconds, so the broker serves meanwhile and
        the loop reaps each loaded lease as soon as it is due, while the rest are
        still being read; :attr:`loaded` is set when all are in.
        """
        self._stopping = False
        self._loader = threading.Thread(target=self._initial_load, name="reaper-load", daemon=True)
        self._loader.start()
        self._thread = threading.Thread(target=self._loop, name="reaper-loop", daemon=True)
        self._thread.start()
        return self

    def _initial_load(self) -> None:
        while not self.loaded.is_set() and not self._stopping:
            try:
                self.load()
            except Exception as exc:  # Vault down or sealed at start: keep trying
                log.warning("could not load the lease records yet, retrying: %s", redact(str(exc)))
                with self._cond:
                    self._cond.wait(2.0)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop and wait for revocations in progress."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in (self._thread, getattr(self, "_loader", None)):
            if thread is not None:
                thread.join(timeout)
        self._thread = self._loader = None
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                now = self.clock()
                # Until the first load is done the loader thread owns resyncing.
                wake = (self._last_resync + self.resync_interval if self.loaded.is_set()
                        else now + 1.0)
                if self._heap:
                    wake = min(wake, self._heap[0][0])
                if wake > now:
                    self._cond.wait(min(wake - now, 1.0))
                    if self._stopping:
                        return
            try:
                self.run_once(wait=False)
                now = self.clock()
                if self.loaded.is_set() and now - self._last_resync >= self.resync_interval:
                    self.load()
                else:
                    self._update_gauges()
            except Exception as exc:  # the loop must survive Vault or Jenkins outages
                log.warning("reaper pass failed, will retry: %s", redact(str(exc)))
                with self._cond:
                    self._cond.wait(1.0)
