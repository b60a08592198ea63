"""Figures 1 and 2: a mint through the broker against the floor.

The floor is what any broker must do at least: the same ``generateNewToken``
call to Jenkins (requests, token-authenticated, the form the broker sends) and
one Vault KV v2 write of a lease record of the same shape, made directly with
hvac under the broker's own AppRole token. Floor records go to
``jenkins-broker/bench/floor/<id>`` (not ``leases/``, so no broker reaps them)
and floor tokens are named ``bench-floor-<id>`` (not the broker's prefix).

The broker is a ``jenkins-broker serve`` process; callers send a consumer token
(``read`` on ``jenkins/creds/<role>`` only) and ``GET`` the creds path, as
``vault read`` does.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from jenkins_broker.domain.records import LeaseRecord, Requester, token_fingerprint

from .common import Figure, median, percentile
from .stack import TOKEN_DESCRIPTOR, Stack, cpu_seconds, machine_busy, session


class Floor:
    """One mint's irreducible work, done directly: Jenkins call + one KV v2 write."""

    def __init__(self, stack: Stack, pool: int = 16):
        self.http = session(pool)
        self.url = f"{stack.jenkins_url}user/ci-bot/{TOKEN_DESCRIPTOR}generateNewToken"
        self.auth = ("ci-bot", stack.bootstrap_token)
        self.vault = stack.broker_client()
        self.uuids: list[str] = []
        self.split: dict[str, list[float]] = {"jenkins": [], "vault": []}

    def once(self) -> None:
        suffix = secrets.token_hex(12)
        start = time.perf_counter()
        resp = self.http.post(self.url, data={"newTokenName": f"bench-floor-{suffix}",
                                              "expirationDuration": "2"},
                              auth=self.auth, timeout=10)
        resp.raise_for_status()
        data = resp.json()["data"]
        middle = time.perf_counter()
        now = time.time()
        record = LeaseRecord(
            role="floor", suffix=suffix, jenkins_user="ci-bot", strategy="user-token",
            credential="ci-bot-token", token_uuid=data["tokenUuid"], token_name=data["tokenName"],
            token_sha256=token_fingerprint(data["tokenValue"]), issued_at=now,
            expires_at=now + 600, max_expires_at=now + 3600,
            requester=Requester("accessor-of-the-caller-xxxxx", "", "token-bench"))
        self.vault.secrets.kv.v2.create_or_update_secret(
            path=f"bench/floor/{suffix}", secret=record.to_record(), mount_point="jenkins-broker")
        self.split["jenkins"].append(middle - start)
        self.split["vault"].append(time.perf_counter() - middle)
        self.uuids.append(data["tokenUuid"])

    def revoke_all(self, threads: int = 8) -> None:
        """Take the floor's tokens back out of Jenkins (keeps the fake's token list small)."""
        url = self.url.replace("generateNewToken", "revoke")
        uuids, self.uuids = self.uuids, []
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda u: self.http.post(url, data={"tokenUuid": u}, auth=self.auth,
                                                   timeout=10).raise_for_status(), uuids))


class BrokerClient:
    """A CI job: ``vault read jenkins/creds/<role>`` against the broker."""

    def __init__(self, url: str, role: str, token: str, pool: int = 16):
        self.http = session(pool)
        self.url = f"{url}/v1/jenkins/creds/{role}"
        self.headers = {"X-Vault-Token": token}
        self.statuses: dict[int, int] = {}
        self._lock = threading.Lock()

    def once(self, **params: Any) -> dict[str, Any]:
        resp = self.http.get(self.url, headers=self.headers, params=params or None, timeout=30)
        with self._lock:
            self.statuses[resp.status_code] = self.statuses.get(resp.status_code, 0) + 1
        if resp.status_code != 200:
            raise RuntimeError(f"mint through the broker answered {resp.status_code}: {resp.text[:200]}")
        return resp.json()


def _timed(op: Callable[[], Any]) -> float:
    start = time.perf_counter()
    op()
    return time.perf_counter() - start


def mint_overhead(floor: Floor, broker: BrokerClient, n: int, warmup: int = 20) -> Figure:
    """Sequential, interleaved (broker, floor, broker, floor, ...); median ratio."""
    for _ in range(warmup):
        broker.once()
        floor.once()
    floor.split = {"jenkins": [], "vault": []}
    b, f = [], []
    for _ in range(n):
        b.append(_timed(broker.once))
        f.append(_timed(floor.once))
    ratio = median(b) / median(f)
    paired = median(x / y for x, y in zip(b, f))
    return Figure.make(
        "mint_overhead", "1. mint latency, broker / floor (median)", ratio, "<= 1.25",
        measured=f"broker p50 {median(b) * 1e3:.2f} ms p99 {percentile(b, 99) * 1e3:.2f} ms; "
                 f"floor p50 {median(f) * 1e3:.2f} ms p99 {percentile(f, 99) * 1e3:.2f} ms "
                 f"(Jenkins {median(floor.split['jenkins']) * 1e3:.2f} + Vault write "
                 f"{median(floor.split['vault']) * 1e3:.2f}); n={n}",
        details={"n": n, "broker_ms": {"p50": median(b) * 1e3, "p90": percentile(b, 90) * 1e3,
                                       "p99": percentile(b, 99) * 1e3},
                 "floor_ms": {"p50": median(f) * 1e3, "p90": percentile(f, 90) * 1e3,
                              "p99": percentile(f, 99) * 1e3},
                 "floor_jenkins_ms_p50": median(floor.split["jenkins"]) * 1e3,
                 "floor_vault_write_ms_p50": median(floor.split["vault"]) * 1e3,
                 "median_of_paired_ratios": paired,
                 "added_ms_p50": (median(b) - median(f)) * 1e3})


def _drive(op: Callable[[], Any], total: int, threads: int) -> float:
    """Run ``op`` ``total`` times from ``threads`` threads; return mints per second."""
    left = [total]
    lock = threading.Lock()
    errors: list[BaseException] = []
    start_gate = threading.Barrier(threads + 1)

    def worker() -> None:
        start_gate.wait()
        while True:
            with lock:
                if left[0] <= 0 or errors:
                    return
                left[0] -= 1
            try:
                op()
            except BaseException as exc:  # reported after the run
                errors.append(exc)
                return
    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    start_gate.wait()
    started = time.perf_counter()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return total / elapsed


class CpuMeter:
    """CPU seconds used by each process of the stack (and the machine) during a block."""

    def __init__(self, pids: dict[str, int | None]):
        self.pids = pids

    def __enter__(self) -> "CpuMeter":
        self.before = {k: cpu_seconds(p) for k, p in self.pids.items()}
        self.machine = machine_busy()
        return self

    def __exit__(self, *exc: Any) -> None:
        after = {k: cpu_seconds(p) for k, p in self.pids.items()}
        self.used = {k: after[k] - self.before[k] for k in self.pids}
        total, idle = machine_busy()
        span = total - self.machine[0]
        self.busy = (1.0 - (idle - self.machine[1]) / span) if span else math.nan


def throughput(floor: Floor, broker: BrokerClient, total: int, rounds: int,
               threads: int = 8, pids: dict[str, int | None] | None = None) -> Figure:
    """Mints/s from ``threads`` concurrent clients, broker vs floor; rounds alternate.

    With ``pids`` (name -> pid, None for this process) the CPU time each process
    spent per mint is recorded too, and how busy the machine's CPUs were.
    """
    _drive(broker.once, min(total, 80), threads)  # warm the pools of both sides
    _drive(floor.once, min(total, 80), threads)
    b: list[float] = []
    f: list[float] = []
    cpu: dict[str, dict[str, float]] = {"broker": {}, "floor": {}}
    busy: dict[str, list[float]] = {"broker": [], "floor": []}
    for _ in range(rounds):
        for label, op, rates in (("floor", floor.once, f), ("broker", broker.once, b)):
            with CpuMeter(pids or {}) as meter:
                rates.append(_drive(op, total, threads))
            for name, used in meter.used.items():
                cpu[label][name] = cpu[label].get(name, 0.0) + used / (total * rounds) * 1e3
            busy[label].append(meter.busy)
    ratio = median(b) / median(f)
    per_mint = ""
    if pids:
        per_mint = ("; CPU ms/mint " + ", ".join(
            f"{name} {cpu['broker'][name]:.2f} vs {cpu['floor'][name]:.2f}" for name in pids)
            + f"; CPUs busy {median(busy['broker']) * 100:.0f}% vs {median(busy['floor']) * 100:.0f}%")
    return Figure.make(
        "throughput", f"2. throughput, {threads} clients, broker / floor", ratio, ">= 0.8",
        measured=f"broker {median(b):.0f}/s, floor {median(f):.0f}/s "
                 f"({rounds} rounds of {total}){per_mint}",
        details={"threads": threads, "rounds": rounds, "per_round": total,
                 "broker_per_s": b, "floor_per_s": f, "cpu_ms_per_mint": cpu,
                 "cpus_busy": busy})
