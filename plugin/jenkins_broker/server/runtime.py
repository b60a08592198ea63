"""What a long-running process of the broker needs: its log format, and waiting for a signal.

Used by ``jenkins-broker serve`` and ``jenkins-broker demo``.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading


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
