"""Figure 5: start-up of ``jenkins-broker serve`` with N live leases in Vault.

Time until ready: from spawning the process to its first ``200`` on
``/v1/sys/health`` (interpreter start, imports, Vault login, HTTP server start):
from then on it mints. The reaper loads every lease record into its index in the
background; "index loaded" is the time until health reports ``leases_loaded``,
with the number of leases it then holds. Memory: ``VmRSS`` from
``/proc/<pid>/status`` when ready, and ``VmRSS``/``VmHWM`` (peak) ``settle``
seconds later, after its first background pass (shared rotation and a
reconciliation over every broker token in Jenkins) has had time to run.
"""

from __future__ import annotations

import time

import requests

from tests.support import wait_for

from .common import log, median
from .stack import BrokerProcess, Stack


def _health(broker: BrokerProcess) -> dict:
    """The broker's part of its health answer (a token that may read sys/metrics sees it)."""
    answer = requests.get(f"{broker.url}/v1/sys/health", timeout=5,
                          headers={"X-Vault-Token": broker.stack.bao.root_token}).json()
    return answer.get("broker", {})


def start_once(stack: Stack, label: str, *, settle: float = 0.0, keep: bool = False,
               **settings) -> tuple[dict, BrokerProcess | None]:
    broker = BrokerProcess(stack, stack.workdir / f"{label}.log", **settings)
    broker.start(timeout=120)
    try:
        ready_rss = broker.rss()
        wait_for(lambda: _health(broker).get("leases_loaded"), 120, "the lease index to load",
                 interval=0.05)
        loaded_after = time.monotonic() - broker.spawned_at
        result = {"ready_s": broker.ready_after, "index_loaded_s": loaded_after,
                  "loaded": _health(broker)["live_leases"],
                  "rss_ready_mib": ready_rss["VmRSS"] / 1024}
        if settle:
            time.sleep(settle)  # a measurement window, not a readiness wait
            later = broker.rss()
            result.update(rss_settled_mib=later["VmRSS"] / 1024, peak_mib=later["VmHWM"] / 1024,
                          settle_s=settle)
    except BaseException:
        broker.stop()
        raise
    if keep:
        return result, broker
    stopping = time.monotonic()
    broker.stop()
    result["stop_s"] = time.monotonic() - stopping  # SIGTERM until the process exited
    return result, None


def startups(stack: Stack, label: str, runs: int, *, settle: float = 0.0) -> list[dict]:
    out = []
    for i in range(runs):
        result, _ = start_once(stack, f"startup-{label}-{i}", settle=settle if i == 0 else 0.0)
        log(f"   start-up {label} #{i + 1}: ready in {result['ready_s']:.2f}s, "
            f"{result['loaded']} leases loaded after {result['index_loaded_s']:.2f}s, RSS {result['rss_ready_mib']:.0f} MiB, "
            f"stopped {result['stop_s']:.1f}s after SIGTERM"
            + (f", {result['rss_settled_mib']:.0f} MiB after {settle:.0f}s (peak "
               f"{result['peak_mib']:.0f} MiB)" if "rss_settled_mib" in result else ""))
        out.append(result)
    return out


def summarize(results: list[dict]) -> dict:
    return {"ready_s": median(r["ready_s"] for r in results),
            "index_loaded_s": median(r["index_loaded_s"] for r in results),
            "rss_ready_mib": median(r["rss_ready_mib"] for r in results),
            "peak_mib": max(r.get("peak_mib", r["rss_ready_mib"]) for r in results),
            "loaded": results[0]["loaded"], "stop_s": median(r["stop_s"] for r in results),
            "runs": results}
