"""What a long-running process of the broker needs: its log format, waiting for a signal, and
:class:`FailureLog`, how a background loop reports a failure that repeats (Vault down).

Used by ``jenkins-broker serve`` and ``jenkins-broker demo``, and by the maintenance loop of
:mod:`jenkins_broker.server.services`.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from typing import Callable

from ..errors import BrokerError, redact


def setup_logging(level: str = "INFO") -> None:
    """Log to stderr at ``level`` with time, level and logger name on each line."""
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def wait_for_signal() -> int:
    """Block until SIGINT or SIGTERM; return the signal number."""
    got: list[int] = []
    done = threading.Event()

    def handler(signum, _frame):
        got.append(signum)
        done.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    while not done.wait(1.0):
        pass
    return got[0]


class FailureLog:
    """How a background loop reports a failure that repeats (Vault down, say): one warning
    line at once, then lines at doubling intervals up to ``log_cap`` seconds apart (with how
    many times and since when), and one line when it works again; never a traceback for a
    ``BrokerError``, whose message already says what failed and what to do. An unexpected
    exception (a bug) gets its traceback once, on the first failure in a row.

    :meth:`failed` returns how long to wait before trying again: 1 s doubling up to
    ``retry_cap``, so a loop stuck on a dead Vault asks it less and less often.
    """

    def __init__(self, logger: logging.Logger, what: str, *, retry_cap: float = 10.0,
                 log_cap: float = 300.0, clock: Callable[[], float] = time.monotonic):
        self.logger = logger
        self.what = what
        self.retry_cap = retry_cap
        self.log_cap = log_cap
        self.clock = clock
        self.failures = 0
        self._since = 0.0
        self._next_line = 0.0
        self._line_gap = 0.0

    def failed(self, exc: BaseException) -> float:
        """Note a failure; log it if a line is due; return the seconds to wait."""
        now = self.clock()
        self.failures += 1
        wait = min(self.retry_cap, 2.0 ** (self.failures - 1))
        expected = isinstance(exc, BrokerError)
        text = redact(str(exc), limit=600) or type(exc).__name__
        if not expected:
            text = f"unexpected {type(exc).__name__}: {text} (a bug in jenkins-broker; please report it)"
        if self.failures == 1:
            self._since, self._line_gap, self._next_line = now, 2.0, now + 2.0
            self.logger.warning("%s failed, retrying in %.0fs: %s", self.what, wait, text,
                                exc_info=None if expected else exc)
        elif now >= self._next_line:
            self._line_gap = min(self.log_cap, self._line_gap * 2)
            self._next_line = now + self._line_gap
            self.logger.warning("%s still failing (%d times since %s), retrying in %.0fs: %s",
                                self.what, self.failures,
                                time.strftime("%H:%M:%S", time.localtime(time.time() - (now - self._since))),
                                wait, text)
        return wait

    def succeeded(self) -> None:
        """Note a success; after failures, say once that it works again."""
        if self.failures:
            self.logger.info("%s works again after %d failure%s over %.0fs", self.what,
                                self.failures, "" if self.failures == 1 else "s",
                                self.clock() - self._since)
            self.failures = 0
