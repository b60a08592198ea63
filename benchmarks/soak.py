"""The soak (issue 5, item 7): many short leases from concurrent clients, Jenkins restarted
twice in the middle; at the end nothing is left and nothing failed.

``python -m benchmarks.soak --mints 2000`` is the full size; CI runs
``tests/integration/test_soak.py`` (200 mints). A real OpenBao (dev mode), the
fake Jenkins (in this process, 5 ms per request, so it can be restarted with
its tokens kept and its sessions and crumbs lost) and the broker (its
``Services`` and production HTTP server, default settings) on loopback.

* ``clients`` threads mint through the broker's HTTP API, alternating a
  ``user-token`` role and a ``user-password`` role (crumb and session, which a
  restart invalidates), each with a random ttl of 1 to 5 s.
* After a third and two thirds of the mints, Jenkins restarts. By default the
  clients pause for the instant of the restart (no mint is in flight when
  Jenkins dies: a mint cut off by a dying Jenkins is answered 503 by design,
  fault suite case 1), while revocations go on and fail and retry across it.
  ``--no-quiesce`` keeps minting through the restarts and counts the 5xx
  answers of mints in flight at a restart separately.
* At the end: zero tokens in Jenkins whose names start with ``jenkins-broker-``,
  zero lease records in Vault, zero 5xx, every lease revoked exactly once
  (one ``revoke`` audit line per 200 answer), and the revocation lag
  (``revoked at - expires at``, from the audit lines) p50/p99/max.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Callable

from jenkins_broker.fakejenkins import FakeJenkins
from tests.support import wait_for

from .common import median, percentile
from .stack import PREFIX, Stack, inprocess_broker, running_stack, session

AUDIT_LOGGER = "jenkins_broker.audit"


@dataclass
class SoakResult:
    mints: int
    clients: int
    restarts: int
    quiesce: bool
    elapsed_s: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    five_xx: int = 0                  # 5xx answers (outside restarts when not quiescing)
    five_xx_at_restart: int = 0       # --no-quiesce: 5xx of mints in flight when Jenkins died
    leftover_tokens: int = -1
    leftover_leases: int = -1
    revoked: int = 0                  # expiry revocations of the soak's leases (audit lines)
    revoked_twice: int = 0
    revoke_failures: int = 0          # failed attempts, each retried later
    lag_p50_s: float = 0.0
    lag_p99_s: float = 0.0
    lag_max_s: float = 0.0
    settle_s: float = 0.0             # from the last answer to nothing left

    @property
    def ok(self) -> bool:
        granted = self.statuses.get(200, 0)
        return (self.five_xx == 0 and self.leftover_tokens == 0 and self.leftover_leases == 0
                and self.revoked == granted and self.revoked_twice == 0
                and granted + self.five_xx_at_restart == self.mints)

    def report(self) -> str:
        return (f"soak: {self.mints} mints from {self.clients} clients, Jenkins restarted "
                f"{self.restarts}x ({'clients paused at restarts' if self.quiesce else 'under load'}), "
                f"{self.elapsed_s:.1f}s\n"
                f"  answers {dict(sorted(self.statuses.items()))}; 5xx: {self.five_xx}"
                + (f" (+{self.five_xx_at_restart} in flight at a restart)" if not self.quiesce else "")
                + f"\n  left at the end: {self.leftover_tokens} broker tokens in Jenkins, "
                  f"{self.leftover_leases} lease records (settled {self.settle_s:.1f}s after the last answer)\n"
                  f"  revoked {self.revoked} (twice: {self.revoked_twice}); {self.revoke_failures} failed "
                  f"attempts retried\n"
                  f"  revocation lag p50 {self.lag_p50_s * 1e3:.0f} ms, p99 {self.lag_p99_s * 1e3:.0f} ms, "
                  f"max {self.lag_max_s * 1e3:.0f} ms\n"
                  f"  {'OK' if self.ok else 'FAILED'}")


class _Gate:
    """Lets clients through while open; closing waits until no request is in flight."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._open = True
        self._inflight = 0

    def enter(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._open)
            self._inflight += 1

    def leave(self) -> None:
        with self._cond:
            self._inflight -= 1
            self._cond.notify_all()

    def close(self, timeout: float = 30.0) -> None:
        with self._cond:
            self._open = False
            if not self._cond.wait_for(lambda: self._inflight == 0, timeout):
                raise TimeoutError("requests still in flight before a Jenkins restart")

    def reopen(self) -> None:
        with self._cond:
            self._open = True
            self._cond.notify_all()


class _AuditTap(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self._mutex = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._mutex:
            self.lines.append(record.getMessage())

    def events(self) -> list[dict]:
        with self._mutex:
            return [json.loads(line) for line in self.lines]


def _soak_roles(stack: Stack) -> tuple[list[str], str]:
    roles = [stack.role("soak-token", ttl="5s", max_ttl="1m"),
             stack.role("soak-password", ttl="5s", max_ttl="1m", strategy="user-password",
                        credential="ci-bot-password")]
    stack.root.sys.create_or_update_acl_policy("soak-consumer", "".join(
        f'path "jenkins/creds/{r}" {{ capabilities = ["read"] }}\n' for r in roles))
    return roles, stack.token("soak-consumer")


def soak_on(stack: Stack, *, mints: int = 200, clients: int = 8, restarts: int = 2,
            quiesce: bool = True, rate: float = 0.0, seed: int = 5, settle_timeout: float = 120.0,
            progress=None) -> SoakResult:
    """Run the soak on a stack whose fake Jenkins runs in this process.

    ``rate`` paces the mints (per second, over all clients; 0: as fast as they go), so
    that a small soak still lasts long enough for leases to expire around the restarts.
    """
    fake = stack.fake
    if fake is None:
        raise ValueError("the soak restarts Jenkins: build the stack with jenkins_in_process=True")
    say = progress or (lambda msg: None)
    result = SoakResult(mints, clients, restarts, quiesce)
    tap = _AuditTap()
    audit_log = logging.getLogger(AUDIT_LOGGER)
    old_level = audit_log.level
    audit_log.addHandler(tap)
    audit_log.setLevel(logging.INFO)
    try:
        roles, token = _soak_roles(stack)
        with inprocess_broker(stack) as (services, url):
            rng = random.Random(seed)
            plan = [(roles[i % len(roles)], rng.randint(1, 5)) for i in range(mints)]
            load = _Clients(url, token, plan, clients=clients, rate=rate)
            load.start()
            windows = _restart_jenkins(fake, load, restarts=restarts, quiesce=quiesce, say=say)
            load.join(600)
            last = time.monotonic()
            result.elapsed_s = last - load.began
            if load.errors:
                raise RuntimeError(f"{len(load.errors)} mints failed without an answer: {load.errors[0]!r}")
            _count_answers(result, load.answers, windows)
            say(f"{len(load.answers)} answers in {result.elapsed_s:.1f}s {result.statuses}; waiting "
                "for every lease to end")
            _settle(stack, fake, result, settle_timeout, since=last)
    finally:
        audit_log.removeHandler(tap)
        audit_log.setLevel(old_level)
    _count_revocations(result, [e for e in tap.events() if e.get("role") in roles])
    return result


class _Clients:
    """The soak's clients: threads sharing one plan of (role, ttl) mints, paced at ``rate``
    per second over all of them (0: as fast as they go), each through ``gate``."""

    def __init__(self, url: str, token: str, plan: list[tuple[str, int]], *, clients: int,
                 rate: float) -> None:
        self.url, self.token, self.plan, self.rate = url, token, plan, rate
        self.gate = _Gate()
        self.issued = 0
        self.began = 0.0
        self.answers: list[tuple[float, float, int]] = []  # (sent, answered, status)
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._http = session(clients * 2)
        self._threads = [threading.Thread(target=self._client, name=f"soak-client-{i}", daemon=True)
                         for i in range(clients)]

    def start(self) -> None:
        self.began = time.monotonic()
        for t in self._threads:
            t.start()

    @property
    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def join(self, timeout: float) -> None:
        for t in self._threads:
            t.join(timeout)

    def _next(self) -> tuple[int, str, int] | None:
        with self._lock:
            if self.issued >= len(self.plan):
                return None
            index = self.issued
            role, ttl = self.plan[index]
            self.issued += 1
        return index, role, ttl

    def _client(self) -> None:
        while (job := self._next()) is not None:
            index, role, ttl = job
            if self.rate:  # pacing, not waiting for a server
                time.sleep(max(0.0, self.began + index / self.rate - time.monotonic()))
            self.gate.enter()
            start = time.monotonic()
            try:
                resp = self._http.get(f"{self.url}/v1/jenkins/creds/{role}", params={"ttl": f"{ttl}s"},
                                      headers={"X-Vault-Token": self.token}, timeout=60)
                status = resp.status_code
            except Exception as exc:  # noqa: BLE001 - reported at the end
                self.errors.append(exc)
                status = 0
            finally:
                self.gate.leave()
            with self._lock:
                self.answers.append((start, time.monotonic(), status))


def _restart_jenkins(fake: FakeJenkins, load: _Clients, *, restarts: int, quiesce: bool,
                     say: Callable[[str], None]) -> list[tuple[float, float]]:
    """Restart Jenkins ``restarts`` times, evenly over the plan (with no request in flight
    when ``quiesce``); returns when each restart began and ended."""
    mints = len(load.plan)
    windows = []
    for k in range(1, restarts + 1):
        wait_for(lambda: load.issued >= mints * k // (restarts + 1) or  # noqa: B023  (called at once)
                 not load.alive, 300, f"mint {mints * k // (restarts + 1)}", interval=0.02)
        if quiesce:
            load.gate.close()
        start = time.monotonic()
        fake.restart()
        windows.append((start, time.monotonic()))
        if quiesce:
            load.gate.reopen()
        say(f"Jenkins restarted after {load.issued} mints")
    return windows


def _count_answers(result: SoakResult, answers: list[tuple[float, float, int]],
                   windows: list[tuple[float, float]]) -> None:
    """The statuses, and the 5xx: apart, under load, those of mints in flight at a restart."""
    result.statuses = dict(Counter(status for _, _, status in answers))
    for start, end, status in answers:
        if status >= 500:
            at_restart = any(start <= w_end and end >= w_start for w_start, w_end in windows)
            if at_restart and not result.quiesce:
                result.five_xx_at_restart += 1
            else:
                result.five_xx += 1


def _settle(stack: Stack, fake: FakeJenkins, result: SoakResult, timeout: float, *, since: float) -> None:
    """Wait (up to ``timeout``) for every soak lease and token to end; count what is left."""
    def names() -> set[str]:
        return {t["name"] for t in fake.tokens("ci-bot")
                if t["name"].startswith(PREFIX)}
    try:
        wait_for(lambda: stack.lease_count() == 0 and not names(), timeout,
                 "every soak lease to be revoked", interval=0.2)
    except TimeoutError:
        pass  # reported below as leftovers
    result.settle_s = time.monotonic() - since
    result.leftover_tokens = len(names())
    result.leftover_leases = stack.lease_count()


def _count_revocations(result: SoakResult, events: list[dict]) -> None:
    """From the soak roles' audit lines: leases revoked at expiry (and twice), failed
    attempts, the revocation lag."""
    expiry = [e for e in events if e.get("event") == "revoke" and e.get("reason") == "expiry"]
    per_lease = Counter(e["lease_id"] for e in expiry)
    result.revoked = len(per_lease)
    result.revoked_twice = sum(1 for n in per_lease.values() if n > 1)
    result.revoke_failures = sum(1 for e in events if e.get("event") == "revoke-failed")
    lags = [float(e["lag_seconds"]) for e in expiry]
    if lags:
        result.lag_p50_s, result.lag_p99_s, result.lag_max_s = median(lags), percentile(lags, 99), max(lags)


def run_soak(*, mints: int = 200, clients: int = 8, restarts: int = 2, quiesce: bool = True,
             rate: float = 0.0, latency_ms: float = 5.0, progress=None) -> SoakResult:
    """Build a stack, run the soak on it, stop everything; return the result."""
    with running_stack(latency_ms=latency_ms, jenkins_in_process=True) as stack:
        return soak_on(stack, mints=mints, clients=clients, restarts=restarts, quiesce=quiesce,
                       rate=rate, progress=progress)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak",
                                     description="The soak of issue 5, item 7 (see the docstring).")
    parser.add_argument("--mints", type=int, default=2000, help="mints in all (default: %(default)s)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default: %(default)s)")
    parser.add_argument("--restarts", type=int, default=2, help="Jenkins restarts (default: %(default)s)")
    parser.add_argument("--latency-ms", type=float, default=5.0,
                        help="the fake Jenkins' latency per request (default: %(default)s)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="pace the mints to this many per second (default: as fast as they go)")
    parser.add_argument("--no-quiesce", action="store_true",
                        help="keep minting while Jenkins restarts (their 503s are counted apart)")
    parser.add_argument("--json", help="also write the result here as JSON")
    args = parser.parse_args(argv)
    result = run_soak(mints=args.mints, clients=args.clients, restarts=args.restarts,
                      quiesce=not args.no_quiesce, rate=args.rate, latency_ms=args.latency_ms,
                      progress=lambda msg: print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True))
    print(result.report())
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({**asdict(result), "ok": result.ok}, fh, indent=2)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
