"""What a long-running process of the broker needs: its log format, waiting for a signal,
:class:`FailureLog`, how a background loop reports a failure that repeats (Vault down), and
:class:`StartingApp`, what ``serve`` answers while it waits to log in to Vault.

Used by ``jenkins-broker serve`` and ``jenkins-broker demo``, and by the maintenance loop of
:mod:`jenkins_broker.server.services`.
"""

from __future__ import annotations

import json
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


class StopSignals:
    """SIGINT and SIGTERM, caught from construction on (in the main thread): :meth:`wait`
    returns once one came; ``signum`` says which."""

    def __init__(self) -> None:
        self.signum = 0
        self._came = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handler)

    def _handler(self, signum, _frame) -> None:
        self.signum = signum
        self._came.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds (None: for ever) for a signal; True if one came.
        In slices of a second, so that the handler runs promptly in the main thread."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
            if self._came.wait(max(left, 0.0)):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False


def wait_for_signal() -> int:
    """Block until SIGINT or SIGTERM; return the signal number."""
    signals = StopSignals()
    signals.wait()
    return signals.signum


class StartingApp:
    """The WSGI application ``serve`` listens with before it has logged in to Vault.

    Until :meth:`ready` hands it the broker's application, every request is answered 503 in
    Vault's error shape, saying that the broker is starting, how often it has tried and what
    Vault's side said last (:meth:`failed`); so the port is open (a TCP probe sees a live
    process) and not ready (``/v1/sys/health`` is 503, as the broker answers while Vault is
    sealed or unreachable). After :meth:`ready`, requests go to the application.
    """

    def __init__(self, clock: Callable[[], float] = time.time):
        self._app: Callable | None = None
        self._since = clock()
        self._tries = 0
        self._last = ""

    def failed(self, reason: str) -> None:
        """One more failed attempt to log in; ``reason`` is safe to show (no secret in it)."""
        self._tries += 1
        self._last = redact(reason, limit=600)

    def ready(self, app: Callable) -> None:
        self._app = app

    def __call__(self, environ, start_response):
        app = self._app
        if app is not None:
            return app(environ, start_response)
        if self._tries:
            since = time.strftime("%H:%M:%S", time.localtime(self._since))
            tried = f"tried {self._tries} times since {since}" if self._tries > 1 else "tried once"
            said = (f"jenkins-broker is starting: it cannot log in to Vault yet ({tried}; last: "
                    f"{self._last}); it keeps trying")
        else:
            said = "jenkins-broker is starting: it is logging in to Vault"
        body = json.dumps({"errors": [said]}).encode()
        start_response("503 Service Unavailable", [("Content-Type", "application/json"),
                                                   ("Content-Length", str(len(body))),
                                                   ("Retry-After", "2")])
        return [body]


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
