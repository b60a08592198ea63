"""Figure 3: reaping cost against the number of live leases, and bulk revocation speed.

The broker runs in this process (its ``Services``, logged in with its AppRole,
background loop not started) so that ``Reaper.run_once`` can be called and
timed directly. What a pass touches: the reaper's in-memory heap (pop what is
due) and, for each due lease, a claim (one KV v2 check-and-set write), the
Jenkins ``revoke`` call and the record delete. The index it pops from is built
by ``Reaper.load()`` from the records really stored in Vault: every live lease
here is a real record with a real Jenkins token.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from jenkins_broker.domain.leases import LeaseManager
from jenkins_broker.domain.reaper import LeaseSchedule, Reaper

from .common import Figure, Timer, log, median
from .seed import mint_tokens, seed_leases
from .stack import REAP_USER, TOKEN_DESCRIPTOR, Stack, session


def _reaper(services) -> Reaper:
    """A reaper with an index of its own (its own lease manager schedules into it), over the
    broker's store, gateway and metrics."""
    manager = LeaseManager(services.store, services.gateway, metrics=services.metrics,
                           scheduler=LeaseSchedule(), backoff=services.manager.backoff,
                           claim_timeout=services.manager.claim_timeout)
    return Reaper(manager, services.store, workers=services.settings.reap_workers)


def _pass(reaper: Reaper, stack: Stack, role: str, expired: int) -> float:
    """Seed ``expired`` due leases into ``reaper`` and time one ``run_once(wait=True)``."""
    for record, version in seed_leases(stack, role, expired, expires_at=time.time() - 1.0,
                                       threads=min(8, max(1, expired)), user=REAP_USER):
        reaper.index.schedule(record, version)
    start = time.perf_counter()
    done = reaper.run_once(wait=True)
    elapsed = time.perf_counter() - start
    if done != expired:
        raise RuntimeError(f"a reaper pass revoked {done} leases, expected {expired}")
    return elapsed


def _empty_pass_us(reaper: Reaper, n: int = 2000) -> float:
    start = time.perf_counter()
    for _ in range(n):
        reaper.run_once(wait=True)
    return (time.perf_counter() - start) / n * 1e6


def pass_scaling(stack: Stack, services, live_role: str, *, small: int, reps: int,
                 expired: int) -> tuple[Figure, dict]:
    """One pass with every live lease in the index vs one with ``small`` of them."""
    store = services.store
    big = _reaper(services)
    with Timer() as load_timer:
        loaded = big.load()
    little = _reaper(services)
    for record, version in store.get_leases((live_role, s) for s in store.list_leases(live_role)[:small]):
        little.index.schedule(record, version)
    log(f"   index: {big.live_count()} live leases loaded from Vault in {load_timer.elapsed:.1f}s; "
        f"small index {little.live_count()}")
    times: dict[str, list[float]] = {"small": [], "big": []}
    try:
        for rep in range(reps):
            order = (("small", little), ("big", big)) if rep % 2 == 0 else (("big", big), ("small", little))
            for label, reaper in order:
                times[label].append(_pass(reaper, stack, "reap-pass", expired))
        empty = {"small": _empty_pass_us(little), "big": _empty_pass_us(big)}
    finally:
        little.stop()
    ratio = median(times["big"]) / median(times["small"])
    figure = Figure.make(
        "reap_pass_scaling",
        f"3a. reaper pass, {big.live_count()} live / {little.live_count()} live", ratio,
        "<= 1.5",
        measured=f"pass with {expired} due: {median(times['big']) * 1e3:.1f} ms vs "
                 f"{median(times['small']) * 1e3:.1f} ms (median of {reps}); empty pass "
                 f"{empty['big']:.1f} us vs {empty['small']:.1f} us",
        details={"live_big": big.live_count(), "live_small": little.live_count(),
                 "expired_per_pass": expired, "reps": reps,
                 "pass_ms_big": [t * 1e3 for t in times["big"]],
                 "pass_ms_small": [t * 1e3 for t in times["small"]],
                 "empty_pass_us": empty, "load_seconds": load_timer.elapsed,
                 "loaded": loaded})
    return figure, {"big": big}


def bulk_revocation(stack: Stack, services, big: Reaper, n: int, threads: int) -> list[Figure]:
    """``n`` expired leases revoked by one pass, vs ``n`` direct revoke calls from as many
    threads as the reaper has workers, and vs a single-threaded loop of them (on a sample)."""
    log(f"   seeding {n} expired leases (tokens + records)")
    seeded = seed_leases(stack, "reap-bulk", n, expires_at=time.time() - 1.0, user=REAP_USER)
    for record, version in seeded:
        big.index.schedule(record, version)
    log(f"   reaper pass over {n} expired leases ({big.live_count()} in its index)")
    with Timer() as reap:
        done = big.run_once(wait=True)
    if done != n:
        raise RuntimeError(f"the bulk pass revoked {done}, expected {n}")
    left = services.store.list_leases("reap-bulk")
    if left:
        raise RuntimeError(f"{len(left)} bulk records remain after the pass")
    reap_rate = n / reap.elapsed

    log(f"   direct loop: {n} revoke calls from {threads} threads")
    sample = max(50, min(300, n // 10))
    tokens = mint_tokens(stack, "reap-direct", n + sample, user=REAP_USER)
    http = session(threads * 2)
    url = f"{stack.jenkins_url}user/{REAP_USER}/{TOKEN_DESCRIPTOR}revoke"
    auth = (REAP_USER, stack.bootstrap_tokens[REAP_USER])

    def revoke(token: dict) -> None:
        http.post(url, data={"tokenUuid": token["uuid"]}, auth=auth, timeout=30).raise_for_status()
    with Timer() as direct:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(revoke, tokens[:n]))
    # Context: the same call in a single-threaded loop (on a sample).
    with Timer() as single:
        for token in tokens[n:]:
            revoke(token)
    http.close()
    direct_rate = n / direct.elapsed
    single_rate = sample / single.elapsed
    return [
        Figure.make("bulk_revocation_vs_loop",
                    f"3b. revoke {n} expired: reaper pass / direct loop", reap_rate / single_rate,
                    ">= 0.8",
                    measured=f"reaper {reap_rate:.0f}/s ({reap.elapsed:.1f}s, {threads} workers) vs a "
                             f"single-threaded loop of revoke calls {single_rate:.0f}/s "
                             f"(on {sample} calls)",
                    details={"n": n, "reaper_per_s": reap_rate, "reaper_seconds": reap.elapsed,
                             "single_thread_per_s": single_rate, "single_thread_calls": sample}),
        Figure.make("bulk_revocation_vs_threads",
                    f"3c. revoke {n} expired: reaper / direct, both {threads} threads",
                    # Informative, no target: a safe revocation is three requests (claim,
                    # revoke, delete) against one, and on 2 shared cores the two Vault writes
                    # bound it (see benchmarks/README.md). The target is 3b's loop.
                    reap_rate / direct_rate, "",
                    measured=f"reaper {reap_rate:.0f}/s vs {n} revoke calls from {threads} threads "
                             f"{direct_rate:.0f}/s (equal parallelism: the reaper's own cost; "
                             "informative)",
                    details={"direct_per_s": direct_rate, "direct_threads": threads}),
    ]


def reconcile_pass(stack: Stack, services) -> Figure:
    """Informative: one reconciliation pass with every live token in Jenkins (the broker
    runs one at start-up and every ``reconcile_interval``, on its maintenance thread)."""
    with Timer() as t:
        counts = services.reconciler.run()
    return Figure.make("reconcile_pass", "   one reconciliation pass, all live tokens",
                       t.elapsed, "", unit="s",
                       measured=f"{counts['checked']} broker tokens checked, one Vault read each "
                                f"({counts['checked'] / t.elapsed:.0f}/s)",
                       details={"counts": counts, "seconds": t.elapsed})
