"""Polling against a deadline, for tests and benchmarks."""

from __future__ import annotations

import time
from typing import Any, Callable, TypeVar

T = TypeVar("T")


class WaitTimedOut(AssertionError, TimeoutError):
    """A wait that ran out of time: a test failure (AssertionError) that code handling
    timeouts can also catch as a TimeoutError (``benchmarks/soak.py`` does)."""


def wait_for(predicate: Callable[[], T | None], timeout: float = 10.0, what: str = "",
             interval: float = 0.05) -> T:
    """Call ``predicate`` every ``interval`` seconds until it returns a truthy value, and
    return that value. Raise :class:`WaitTimedOut` naming ``what`` (or, without it, the
    predicate) once ``timeout`` seconds have passed without one.

    Exceptions raised by ``predicate`` propagate at once: a predicate that knows the wait
    is hopeless (the process it waits for has exited) says so by raising.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise WaitTimedOut(f"timed out after {timeout:g}s waiting for {what or _name(predicate)}")
        time.sleep(interval)


def _name(predicate: Any) -> str:
    return getattr(predicate, "__qualname__", None) or repr(predicate)
