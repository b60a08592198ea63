"""The reaper: revokes every lease when it ends, and retries until Jenkins confirms.

It works off an in-memory index of the leases the replica knows, ordered by
when each is due (a heap, :class:`LeaseSchedule`), so one pass costs work in
proportion to what has expired, not to what is alive. The lease manager
schedules every mint, renewal and failed attempt into that index (it is the
manager's scheduler port); the reaper fills it from Vault at start-up and
refreshes it by a periodic resync, which also picks up leases minted by other
replicas or left by a crashed one. Vault stays the source of truth: before anything is revoked
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
from typing import Callable, Iterable, Protocol, runtime_checkable

from ..errors import BrokerError, redact
from .leases import LeaseManager
from .records import LeaseRecord
from .revocation import Revocation

log = logging.getLogger(__name__)


@runtime_checkable
class IndexStore(Protocol):
    """What the reaper reads from Vault to (re)build its index."""

    def list_lease_roles(self) -> list[str]: ...
    def list_leases(self, role: str) -> list[str]: ...
    def get_lease(self, role: str, suffix: str) -> tuple[LeaseRecord, int] | None: ...
    def get_leases(self, keys: Iterable[tuple[str, str]]) -> Iterable[tuple[LeaseRecord, int]]: ...
    def list_revoking(self) -> list[tuple[str, str]]: ...
    def unmark_revoking(self, role: str, suffix: str) -> None: ...


Key = tuple[str, str]  # (role, suffix)


class LeaseSchedule:
    """The leases one replica knows, ordered by when each is due (a heap): the lease
    manager's :class:`~jenkins_broker.domain.revocation.Scheduler`, built before the manager and
    handed to it, and what the :class:`Reaper` works off. Thread-safe."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Key]] = []
        self._known: dict[Key, tuple[LeaseRecord, int]] = {}
        self._counts: dict[str, int] = {}
        self._retrying: set[Key] = set()
        self._in_flight: set[Key] = set()
        self._seq = itertools.count()
        # Notified when the lease due first changes; the reaper's loop waits on it.
        self.changed = threading.Condition()

    def schedule(self, record: LeaseRecord, version: int) -> None:
        """Act on ``record`` at its ``due_at``; replaces any earlier entry for it."""
        key = (record.role, record.suffix)
        with self.changed:
            if key not in self._known:
                self._counts[record.role] = self._counts.get(record.role, 0) + 1
            self._known[key] = (record, version)
            (self._retrying.add if record.revoke_attempts else self._retrying.discard)(key)
            heapq.heappush(self._heap, (record.due_at, next(self._seq), key))
            if self._heap[0][2] == key:
                self.changed.notify()

    def forget(self, role: str, suffix: str) -> None:
        """Drop a lease (its heap entry is skipped when popped)."""
        with self.changed:
            if self._known.pop((role, suffix), None) is not None:
                self._counts[role] -= 1
            self._retrying.discard((role, suffix))

    def entry(self, role: str, suffix: str) -> tuple[LeaseRecord, int] | None:
        """The record of a lease and its version, or None."""
        with self.changed:
            return self._known.get((role, suffix))

    def known_record(self, role: str, suffix: str) -> LeaseRecord | None:
        """The record of a lease, or None."""
        entry = self.entry(role, suffix)
        return entry[0] if entry is not None else None

    def unknown(self, keys: Iterable[Key]) -> list[Key]:
        """Those of ``keys`` not in the index."""
        with self.changed:
            return [k for k in keys if k not in self._known]

    def by_accessor(self) -> dict[str, list[tuple[LeaseRecord, int]]]:
        """The live per-request leases, grouped by the accessor of the Vault token that
        asked for them (leases being revoked, shared ones and those asked for without an
        accessor, such as a batch token's, are left out)."""
        groups: dict[str, list[tuple[LeaseRecord, int]]] = {}
        with self.changed:
            for record, version in self._known.values():
                accessor = record.requester.accessor
                if accessor and not record.shared and not record.revoking:
                    groups.setdefault(accessor, []).append((record, version))
        return groups

    def live_count(self, role: str | None = None) -> int:
        """Leases in the index, for one role or all."""
        with self.changed:
            return len(self._known) if role is None else self._counts.get(role, 0)

    def gauges(self) -> tuple[dict[str, int], int]:
        """Leases per role, and how many wait for a retried revocation."""
        with self.changed:
            return dict(self._counts), len(self._retrying)

    def next_due(self) -> float | None:
        """When the first lease is due (perhaps a stale entry: due no later), or None."""
        with self.changed:
            return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[tuple[LeaseRecord, int]]:
        """The leases due at ``now``, each marked in flight until :meth:`settle`."""
        due = []
        with self.changed:
            while self._heap and self._heap[0][0] <= now:
                when, _, key = heapq.heappop(self._heap)
                entry = self._known.get(key)
                # Skip stale heap entries: forgotten, rescheduled, or already being revoked.
                if entry is None or entry[0].due_at != when or key in self._in_flight:
                    continue
                self._in_flight.add(key)
                due.append(entry)
        return due

    def settle(self, key: Key) -> None:
        """A lease popped by :meth:`pop_due` is no longer being acted on."""
        with self.changed:
            self._in_flight.discard(key)


class Reaper:
    """Performs revocations at lease end, from the index its lease manager schedules into
    (``manager.scheduler``, a :class:`LeaseSchedule`), and keeps that index in step with Vault."""

    def __init__(self, manager: LeaseManager, store: IndexStore, *, workers: int = 8,
                 resync_interval: float = 60.0, clock: Callable[[], float] = time.time):
        if not isinstance(manager.scheduler, LeaseSchedule):
            raise TypeError("the reaper works off the index its lease manager schedules into: "
                            "build the LeaseManager with scheduler=LeaseSchedule()")
        self.manager = manager
        self.index: LeaseSchedule = manager.scheduler
        self.store = store
        self.clock = clock
        self.resync_interval = resync_interval
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reaper")
        self._thread: threading.Thread | None = None
        self._loader: threading.Thread | None = None
        self._stopping = False
        self._last_resync = 0.0
        self.loaded = threading.Event()

    # -- what others read of the index -----------------------------------------

    def known_record(self, role: str, suffix: str) -> LeaseRecord | None:
        """The record of a lease in the index, or None."""
        return self.index.known_record(role, suffix)

    def by_accessor(self) -> dict[str, list[tuple[LeaseRecord, int]]]:
        """See :meth:`LeaseSchedule.by_accessor`."""
        return self.index.by_accessor()

    def live_count(self, role: str | None = None) -> int:
        """Leases in this replica's index, for one role or all."""
        return self.index.live_count(role)

    # -- loading ---------------------------------------------------------------

    def load(self) -> int:
        """Read every lease record from Vault into the index; return how many.

        Used at start-up and by the periodic resync; records already known with
        the same version are left alone.
        """
        started = time.monotonic()
        keys = [(role, suffix) for role in self.store.list_lease_roles()
                for suffix in self.store.list_leases(role)]
        loaded = 0
        for record, version in self.store.get_leases(self.index.unknown(keys)):
            self.index.schedule(record, version)
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
            known = self.index.entry(*key)
            if known is None or known[1] != found[key][1]:
                self.index.schedule(*found[key])

    def expedite(self, role: str, suffix: str, reason: str) -> None:
        """Revoke a lease in the index as soon as possible (its revocation was asked for but
        could not even be claimed, say with Vault unreachable): due now, then with backoff."""
        now = self.clock()
        entry = self.index.entry(role, suffix)
        if entry is not None and not entry[0].revoking:
            self.index.schedule(replace(entry[0], revoke_requested_at=now, revoke_reason=reason),
                                entry[1])

    def _update_gauges(self) -> None:
        counts, retrying = self.index.gauges()
        for role, count in counts.items():
            self.manager.metrics.live.labels(role).set(count)
        self.manager.metrics.pending_retries.set(retrying)

    # -- reaping ---------------------------------------------------------------

    def run_once(self, *, wait: bool = True) -> int:
        """Start revoking every lease that is due now; return how many were started.

        With ``wait`` the call returns once they all finished (tests, benchmarks,
        the ``reap`` command); the background loop does not wait.
        """
        due = self.index.pop_due(self.clock())
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
                self.index.settle(key)
                if found is None:
                    self.index.forget(*key)
                else:
                    self.index.schedule(*found)
                return
            # REVOKED, or RETRYING: the manager recorded the failure and scheduled the retry.
        except BrokerError as exc:
            # Vault trouble while claiming: keep the lease and look again shortly.
            log.warning("could not reap %s: %s", record.lease_id, redact(str(exc)))
            self.index.schedule(record.failed(self.clock(), self.manager.backoff.delay(
                record.revoke_attempts + 1), redact(str(exc))), version)
        except Exception:  # never let one lease kill the worker; it is retried
            log.exception("unexpected error reaping %s", record.lease_id)
            self.index.schedule(record.failed(self.clock(), self.manager.backoff.delay(
                record.revoke_attempts + 1), "internal error"), version)
        self.index.settle(key)

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
                with self.index.changed:
                    self.index.changed.wait(2.0)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop and wait for revocations in progress."""
        with self.index.changed:
            self._stopping = True
            self.index.changed.notify_all()
        for thread in (self._thread, self._loader):
            if thread is not None:
                thread.join(timeout)
        self._thread = self._loader = None
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _loop(self) -> None:
        while True:
            with self.index.changed:
                if self._stopping:
                    return
                now = self.clock()
                # Until the first load is done the loader thread owns resyncing.
                wake = (self._last_resync + self.resync_interval if self.loaded.is_set()
                        else now + 1.0)
                due = self.index.next_due()
                if due is not None:
                    wake = min(wake, due)
                if wake > now:
                    self.index.changed.wait(min(wake - now, 1.0))
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
                with self.index.changed:
                    self.index.changed.wait(1.0)
