"""Leases follow the caller's Vault token: when the token is gone, so are its Jenkins tokens.

In Vault a lease belongs to the token that created it: revoking the token (or a
parent of it) revokes its leases, and a lease never outlives the token's TTL.
The broker's leases are not Vault leases, so it does the same itself:

* at mint and at every renewal a lease is capped at the caller token's
  remaining TTL (:mod:`jenkins_broker.domain.leases`), so an expiring token takes its
  leases with it without any check;
* :class:`TokenWatch` asks Vault, with the broker's own token
  (``auth/token/lookup-accessor``: no use of the caller's token is spent), about
  each accessor that holds live leases, one call per accessor however many
  leases it holds, paced to at most ``rate`` calls a second, every ``interval``
  seconds. Vault answering "invalid accessor" (revoked, directly or through a
  parent, or expired) revokes the leases of that accessor now. Any other failure
  (Vault down, sealed, the broker's token refused) concludes nothing.

Batch tokens have no accessor; their leases are capped by TTL only. Domain code:
no Flask, HTTP or Vault library; the Vault side is the ``CallerTokens`` port.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Callable, Protocol, runtime_checkable

from ..errors import BrokerError, CallerTokenGone, ConfigError, JenkinsError, VaultError, redact
from ..observability import Metrics
from .leases import CallerTokens
from .records import LeaseRecord

log = logging.getLogger(__name__)


@runtime_checkable
class LeaseIndex(Protocol):
    """The live leases a replica knows (the reaper's index), grouped by the caller's accessor."""

    def by_accessor(self) -> dict[str, list[tuple[LeaseRecord, int]]]: ...


@runtime_checkable
class LeaseRevoker(Protocol):
    """What the watch needs of the lease manager: to revoke one lease, and its metrics."""

    metrics: Metrics

    def revoke_record(self, record: LeaseRecord, version: int, *, cause: str) -> bool: ...


class TokenWatch:
    """Revokes the leases of callers whose Vault token was revoked or expired."""

    def __init__(self, manager: LeaseRevoker, index: LeaseIndex, tokens: CallerTokens, *,
                 interval: float = 5.0, rate: float = 200.0, workers: int = 4,
                 clock: Callable[[], float] = time.monotonic):
        self.manager = manager
        self.index = index
        self.tokens = tokens
        self.interval = interval
        self.rate = rate
        self.clock = clock
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tokenwatch")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> dict[str, int]:
        """Check every accessor holding live leases once; returns counts of ``checked``,
        ``gone`` (accessors whose token no longer exists), ``revoked`` and ``errors``."""
        groups = self.index.by_accessor()
        counts = {"checked": 0, "gone": 0, "revoked": 0, "errors": 0}
        lock = threading.Lock()
        futures = []
        next_at = self.clock()
        for accessor, leases in groups.items():
            # Pace the calls: Vault sees at most `rate` lookups a second from this replica.
            delay = next_at - self.clock()
            if delay > 0 and self._stop.wait(delay):
                break
            next_at = max(next_at, self.clock()) + 1.0 / self.rate
            futures.append(self._pool.submit(self._check, accessor, leases, counts, lock))
        wait(futures)
        valid = counts["checked"] - counts["gone"] - counts["errors"]
        for outcome, count in (("valid", valid), ("gone", counts["gone"]), ("error", counts["errors"])):
            if count:
                self.manager.metrics.caller_token_checks.labels(outcome).inc(count)
        return counts

    def _check(self, accessor: str, leases: list[tuple[LeaseRecord, int]], counts: dict[str, int],
               lock: threading.Lock) -> None:
        try:
            self.tokens.token_expiry(accessor)
            gone = False
        except CallerTokenGone:
            gone = True
        except VaultError as exc:
            with lock:
                counts["checked"] += 1
                counts["errors"] += 1
            log.warning("could not check a caller's Vault token (accessor %s): %s", accessor,
                        redact(str(exc)))
            return
        revoked = 0
        if gone:
            for record, version in leases:
                try:
                    revoked += self.manager.revoke_record(record, version, cause="token-revoked")
                except (JenkinsError, ConfigError):
                    pass  # the lease is revoking; the reaper retries it with backoff
                except BrokerError as exc:
                    log.warning("could not revoke %s after its Vault token was revoked: %s",
                                record.lease_id, redact(str(exc)))
        with lock:
            counts["checked"] += 1
            counts["gone"] += gone
            counts["revoked"] += revoked

    # -- the background loop ------------------------------------------------

    def start(self) -> "TokenWatch":
        """Check every ``interval`` seconds in a thread of its own."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="tokenwatch", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop and wait for checks in progress."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = self.clock()
            try:
                self.run_once()
            except Exception:  # keep watching whatever happens; it is logged
                log.exception("checking the callers' Vault tokens failed unexpectedly")
            self._stop.wait(max(0.05, self.interval - (self.clock() - started)))
