"""Figure 5: start-up of ``jenkins-broker serve`` with N live leases in Vault.

Time until ready: from spawning the process to its first ``200`` on
``/v1/sys/health`` (interpreter start, imports, Vault login, ``Services.start()``
which loads every lease record into the reaper's index, HTTP server start).
The broker's own "serving on ... (N leases loaded)" line confirms how many
records it had loaded by then. Memory: ``VmRSS`` from ``/proc/<pid>/status``
when ready, and ``VmRSS``/``VmHWM`` (peak) ``settle`` seconds later, after its
first background pass (shared rotation and a reconciliation over every
broker token in Jenkins) has had time to run.
"""

from __future__ import annotations

import re
import time

from .common import log, median
from .stack import BrokerProcess, Stack, wait_for

LOADED = re.compile(r"serving on \S+ \((\d+) leases loaded\)")


def _loaded(path) -> int | None:
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            m = LOADED.search(line)
            if m:
                return int(m.group(1))
    return None


def start_once(stack: Stack, label: str, *, settle: float = 0.0, keep: bool = False,
               **settings) -> tuple[dict, BrokerProcess | None]:
    broker = BrokerProcess(stack, stack.workdir / f"{label}.log", **settings)
    broker.start(timeout=120)
    try:
        ready_rss = broker.rss()
        loaded = wait_for(lambda: _loaded(broker.log_path) is not None, 10,
                          "the broker's 'serving on' line") and _loaded(broker.log_path)
        result = {"ready_s": broker.ready_after, "loaded": loaded,
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
            f"{result['loaded']} leases loaded, RSS {result['rss_ready_mib']:.0f} MiB, "
            f"stopped {result['stop_s']:.1f}s after SIGTERM"
            + (f", {result['rss_settled_mib']:.0f} MiB after {settle:.0f}s (peak "
               f"{result['peak_mib']:.0f} MiB)" if "rss_settled_mib" in result else ""))
        out.append(result)
    return out


def summarize(results: list[dict]) -> dict:
    return {"ready_s": median(r["ready_s"] for r in results),
            "rss_ready_mib": median(r["rss_ready_mib"] for r in results),
            "peak_mib": max(r.get("peak_mib", r["rss_ready_mib"]) for r in results),
            "loaded": results[0]["loaded"], "stop_s": median(r["stop_s"] for r in results),
            "runs": results}
