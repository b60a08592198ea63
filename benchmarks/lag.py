"""Figure 4: revocation lag, ``revoked at - expires at``, for leases expiring in one minute.

Leases are minted through the broker's HTTP API (a ``jenkins-broker serve``
process) by 8 concurrent clients, each asking for a ttl of ``lead + (i mod
window)`` seconds, so their expiries fall within about ``window`` seconds.
The lag of each is read from the broker's own audit line for its revocation
(``"event": "revoke", "reason": "expiry", "lag_seconds"``: the time the token
was revoked in Jenkins and its record deleted, minus its ``expires_at``).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from tests.support import wait_for

from .common import Figure, audit_events, log, median, percentile
from .mint import BrokerClient
from .stack import REAP_USER, BrokerProcess, Stack


def revocation_lag(stack: Stack, broker: BrokerProcess, *, n: int, window: int, lead: int,
                   clients: int = 8) -> Figure:
    role = stack.role("lag", user=REAP_USER, ttl="10m", max_ttl="1h")
    client = BrokerClient(broker.url, role, stack.consumer(role), pool=clients)
    started = time.time()
    with ThreadPoolExecutor(clients) as pool:
        answers = list(pool.map(lambda i: client.once(ttl=f"{lead + i % window}s"), range(n)))
    minted = time.time() - started
    ids = {a["lease_id"] for a in answers}
    expiries = [datetime.strptime(a["data"]["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
                .replace(tzinfo=timezone.utc).timestamp() for a in answers]
    spread = max(expiries) - min(expiries)
    log(f"   {n} leases minted in {minted:.1f}s; expiries spread over {spread:.0f}s; waiting")
    wait_for(lambda: not stack.admin_store.list_leases(role), lead + window + 120,
             "every lag lease to be revoked", interval=0.5)
    # The audit line is written right after the record delete; give the log a moment.
    events = wait_for(lambda: (lambda e: e if len(e) >= n else None)(
        [e for e in audit_events(broker.log_path) if e.get("lease_id") in ids
         and e.get("reason") == "expiry"]), 10, "the audit lines of every revocation",
        interval=0.02)
    lags = [float(e["lag_seconds"]) for e in events]
    retried = sum(1 for e in events if e.get("attempts", 1) > 1)
    p50, p99 = median(lags), percentile(lags, 99)
    return Figure.make(
        "revocation_lag_p99", f"4. revocation lag p99, {n} leases in ~{window}s", p99, "<= 1.0",
        unit="s",
        measured=f"p50 {p50 * 1e3:.0f} ms, p99 {p99 * 1e3:.0f} ms, max {max(lags) * 1e3:.0f} ms; "
                 f"{len(lags)} revoked, {retried} after a retry",
        details={"n": n, "window_s": window, "lead_s": lead, "expiry_spread_s": spread,
                 "mint_seconds": minted, "p50_s": p50, "p90_s": percentile(lags, 90), "p99_s": p99,
                 "max_s": max(lags), "min_s": min(lags), "retried": retried,
                 "statuses": client.statuses})


def lag_during_reconcile(stack: Stack, *, n: int, ttl: int = 2, clients: int = 8) -> Figure:
    """Leases expiring while the broker's first reconciliation pass runs.

    A broker started with every live lease in Vault (and its token in Jenkins)
    reconciles right away, on the reaper loop's thread. ``n`` leases of ``ttl``
    seconds are minted as soon as it answers; their lag shows whether expiry
    waits for the pass.
    """
    role = stack.role("lag-reconcile", ttl="10m", max_ttl="1h")
    token = stack.consumer(role)
    broker = BrokerProcess(stack, stack.workdir / "broker-reconcile.log")
    broker.start(timeout=120)
    try:
        client = BrokerClient(broker.url, role, token, pool=clients)
        with ThreadPoolExecutor(clients) as pool:
            answers = list(pool.map(lambda i: client.once(ttl=f"{ttl}s"), range(n)))
        ids = {a["lease_id"] for a in answers}
        wait_for(lambda: not stack.admin_store.list_leases(role), 300,
                 "every lease to be revoked", interval=0.5)
        events = wait_for(lambda: (lambda e: e if len(e) >= n else None)(
            [e for e in audit_events(broker.log_path) if e.get("lease_id") in ids
             and e.get("reason") == "expiry"]), 10, "the audit lines of every revocation",
            interval=0.02)
    finally:
        broker.stop()
    lags = [float(e["lag_seconds"]) for e in events]
    p50, p99 = median(lags), percentile(lags, 99)
    return Figure.make(
        "revocation_lag_reconcile_p99",
        f"4b. revocation lag p99, {n} leases, during reconciliation", p99, "<= 1.0", unit="s",
        measured=f"p50 {p50:.2f} s, p99 {p99:.2f} s; broker started with "
                 f"{stack.lease_count()} live leases, its first reconciliation pass running",
        details={"n": n, "ttl_s": ttl, "p50_s": p50, "p99_s": p99, "max_s": max(lags)})
