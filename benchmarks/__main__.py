"""``python -m benchmarks [--quick] [--out PATH] [--only NAME ...]``: every figure of issue 6.

Runs against a real OpenBao (dev mode) and the fake Jenkins with 5 ms of
latency per request, prints a table of ratios (each against a baseline
measured in the same run) and writes a JSON summary (default
``benchmarks/results/latest.json``). See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import TypedDict

from . import lag, mint, profile_mint, reaping, shared, startup
from .common import Figure, log, summary, table
from .seed import seed_leases
from .stack import Stack, broker_process, inprocess_broker


class Size(TypedDict):
    """How much each figure does: counts, and ``settle`` in seconds."""

    mint_n: int
    tput_total: int
    tput_rounds: int
    shared_n: int
    lag_n: int
    lag_window: int
    lag_lead: int
    live: int
    small: int
    pass_reps: int
    pass_expired: int
    bulk: int
    startup_runs: int
    settle: float
    profile_n: int
    lag_reconcile_n: int


SIZES: dict[str, Size] = {
    "full": Size(mint_n=200, tput_total=500, tput_rounds=3, shared_n=500, lag_n=1000, lag_window=50,
                 lag_lead=10, live=10_000, small=100, pass_reps=15, pass_expired=5, bulk=5000,
                 startup_runs=3, settle=10.0, profile_n=200, lag_reconcile_n=200),
    "quick": Size(mint_n=50, tput_total=150, tput_rounds=1, shared_n=200, lag_n=200, lag_window=10,
                  lag_lead=5, live=1000, small=100, pass_reps=5, pass_expired=5, bulk=500,
                  startup_runs=1, settle=2.0, profile_n=50, lag_reconcile_n=100),
}
NAMES = ("mint", "throughput", "shared", "lag", "startup", "reaping", "profile")


def _commit() -> str:
    """The repository's HEAD (with "+dirty" if the work tree has changes), or ""."""
    import subprocess
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return head + ("+dirty" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    mode = "quick" if args.quick else "full"
    size = SIZES[mode]
    wanted = set(args.only or NAMES)
    began = time.monotonic()
    extra: dict = {"sizes": size, "latency_ms": args.latency_ms, "cpus": os.cpu_count(),
                   "commit": _commit()}
    figures = _measure(args.latency_ms, size, wanted, extra)
    elapsed = time.monotonic() - began
    print()
    print(f"jenkins-broker benchmarks ({mode}; commit {extra['commit'] or '?'}; fake Jenkins "
          f"{args.latency_ms:g} ms/request; {os.cpu_count()} CPUs; {elapsed:.0f}s)")
    print(table(figures))
    if "profile" in wanted:
        _print_profile(extra["profile"])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(summary(figures, mode=mode, elapsed=elapsed, extra=extra) + "\n", encoding="utf-8")
    print(f"\nJSON summary: {out}")
    failed = [f.key for f in figures if f.holds is False]
    if failed:
        print(f"targets not met: {', '.join(failed)}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[1])
    parser.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "latest.json"),
                        help="JSON summary path (default: %(default)s)")
    parser.add_argument("--only", nargs="+", choices=NAMES, metavar="NAME",
                        help=f"run only some figures: {', '.join(NAMES)}")
    parser.add_argument("--latency-ms", type=float, default=5.0,
                        help="the fake Jenkins' latency per request (default: %(default)s)")
    return parser


def _measure(latency_ms: float, size: Size, wanted: set[str], extra: dict) -> list[Figure]:
    """Start the stack and measure the ``wanted`` figures, in an order where each one
    finds the state it needs (start-up with 0 leases first, then the seeded leases);
    what is not a figure goes to ``extra``."""
    from .stack import running_stack

    figures: list[Figure] = []
    with running_stack(latency_ms=latency_ms, keep_workdir=True) as stack:
        # The in-process broker (figures 3 and the profile) logs like `serve` does, to a file.
        logging.basicConfig(filename=stack.workdir / "driver.log", level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        log(f"stack up: OpenBao {stack.bao.addr}, fake Jenkins {stack.jenkins_url} "
            f"({latency_ms:g} ms/request); logs in {stack.workdir}")
        role = stack.role("bench", ttl="1h", max_ttl="2h")
        consumer = stack.consumer(role)

        zero = []
        if "startup" in wanted:
            log("5. start-up with 0 leases")
            zero = startup.startups(stack, "0", size["startup_runs"])
        if wanted & {"mint", "throughput", "shared", "lag"}:
            figures += _broker_figures(stack, role, consumer, size, wanted, extra)
        if wanted & {"startup", "reaping"}:
            _seed_live_leases(stack, size, extra)
        if "startup" in wanted:
            log(f"5. start-up with {extra['live_leases']} live leases")
            many = startup.startups(stack, "live", size["startup_runs"], settle=size["settle"])
            z, m = startup.summarize(zero), startup.summarize(many)
            extra["startup"] = {"zero": z, "live": m}
            figures += _startup_figures(z, m, size)
        if "lag" in wanted and "startup" in wanted:
            log(f"4b. revocation lag while a reconciliation pass runs ({extra['live_leases']} live)")
            figures.append(lag.lag_during_reconcile(stack, n=size["lag_reconcile_n"]))
        if "reaping" in wanted:
            figures += _reaping_figures(stack, size)
        if "profile" in wanted:
            extra["profile"] = _profile(stack, role, consumer, size["profile_n"])
    return figures


def _broker_figures(stack: Stack, role: str, consumer: str, size: Size, wanted: set[str],
                    extra: dict) -> list[Figure]:
    """Figures 1, 2, 4 and 6, against one broker process."""
    figures = []
    with broker_process(stack, "broker") as broker:
        floor = mint.Floor(stack)
        client = mint.BrokerClient(broker.url, role, consumer)
        if "mint" in wanted:
            log(f"1. mint overhead: {size['mint_n']} sequential mints, broker vs floor")
            figures.append(mint.mint_overhead(floor, client, size["mint_n"]))
        if "throughput" in wanted:
            log(f"2. throughput: 8 clients, {size['tput_rounds']} x {size['tput_total']} mints each side")
            fake = stack.fake_process  # a process whenever it has a latency to add
            assert broker.proc is not None and fake is not None and fake.proc is not None
            pids = {"broker": broker.proc.pid, "openbao": stack.bao.pid, "jenkins": fake.proc.pid,
                    "clients": None}
            figures.append(mint.throughput(floor, client, size["tput_total"], size["tput_rounds"],
                                           pids=pids))
        floor.revoke_all()
        if "shared" in wanted:
            log("6. shared mode read vs another KV v1 read")
            figures.append(shared.shared_read(stack, n=size["shared_n"]))
        if "lag" in wanted:
            log(f"4. revocation lag: {size['lag_n']} leases expiring within ~{size['lag_window']}s")
            figures.append(lag.revocation_lag(stack, broker, n=size["lag_n"],
                                              window=size["lag_window"], lead=size["lag_lead"]))
        extra["broker_statuses"] = client.statuses
    return figures


def _seed_live_leases(stack: Stack, size: Size, extra: dict) -> None:
    """Bring the live leases (real tokens, real records) up to ``size["live"]``."""
    missing = size["live"] - stack.lease_count()
    log(f"seeding {missing} live leases (real tokens, real records) to {size['live']} in all")
    stack.role("live", ttl="2h", max_ttl="4h")
    started = time.monotonic()
    seed_leases(stack, "live", missing, expires_at=time.time() + 7200)
    extra["seed_seconds"] = time.monotonic() - started
    extra["live_leases"] = stack.lease_count()
    log(f"   {extra['live_leases']} live leases in Vault ({extra['seed_seconds']:.0f}s)")


def _startup_figures(z: dict, m: dict, size: Size) -> list[Figure]:
    """Figures 5a-5e from the start-ups with 0 leases (``z``) and with the live ones (``m``)."""
    n = m["loaded"]
    return [
        Figure.make("startup_seconds", f"5a. start-up, {n} live leases: time to ready",
                    m["ready_s"], "<= 10", unit="s",
                    measured=f"{m['ready_s']:.2f}s vs {z['ready_s']:.2f}s with 0 leases "
                             f"= {m['ready_s'] / z['ready_s']:.1f}x (median of "
                             f"{size['startup_runs']}); SIGTERM to exit {m['stop_s']:.1f}s "
                             f"vs {z['stop_s']:.1f}s"),
        Figure.make("startup_ratio", f"5b. start-up time, {n} leases / 0 leases",
                    m["ready_s"] / z["ready_s"], "", measured="informative"),
        Figure.make("startup_index_seconds", f"5e. start-up, {n} live leases: index loaded",
                    m["index_loaded_s"], "", unit="s",
                    measured=f"the reaper holds {m['loaded']} leases after "
                             f"{m['index_loaded_s']:.2f}s (it loads in the background "
                             "while the broker already serves)"),
        Figure.make("startup_rss_mib", f"5c. resident memory, {n} live leases",
                    m["rss_ready_mib"], "<= 150", unit="MiB",
                    measured=f"{m['rss_ready_mib']:.0f} MiB when ready vs "
                             f"{z['rss_ready_mib']:.0f} MiB with 0 leases "
                             f"= {m['rss_ready_mib'] / z['rss_ready_mib']:.1f}x"),
        Figure.make("startup_peak_mib", f"5d. peak memory, first {size['settle']:.0f}s",
                    m["peak_mib"], "<= 150", unit="MiB",
                    measured="VmHWM after the first background pass (rotation, "
                             "reconciliation)"),
    ]


def _reaping_figures(stack: Stack, size: Size) -> list[Figure]:
    """Figures 3a and 3b and one reconciliation pass, with an in-process broker."""
    figures = []
    with inprocess_broker(stack, start=False, serve=False) as (services, _):
        log(f"3a. reaper pass: {size['live']} live vs {size['small']} live, "
            f"{size['pass_expired']} due per pass")
        fig, ctx = reaping.pass_scaling(stack, services, "live", small=size["small"],
                                        reps=size["pass_reps"], expired=size["pass_expired"])
        figures.append(fig)
        try:
            log(f"3b. bulk revocation of {size['bulk']} expired leases")
            figures += reaping.bulk_revocation(stack, services, ctx["big"], size["bulk"],
                                               threads=services.settings.reap_workers)
            log("    one reconciliation pass over every broker token")
            figures.append(reaping.reconcile_pass(stack, services))
        finally:
            ctx["big"].stop()
    return figures


def _profile(stack: Stack, role: str, consumer: str, n: int) -> dict:
    """Where a mint's and a revocation's time goes, over ``n`` of each."""
    log(f"profile: {n} sequential mints through an in-process broker")
    ms = profile_mint.phases(stack, role, consumer, n)
    prof = profile_mint.cprofile(stack, role, consumer, n)
    revoke_ms = profile_mint.revocation_phases(stack, n)
    return {"phases_ms": ms, "revocation_ms": revoke_ms,
            "cprofile": {k: v for k, v in prof.items() if k != "text"}}


def _print_profile(profile: dict) -> None:
    print()
    print("Where a mint's time goes (median per mint, in-process broker, no profiler):")
    print("\n".join(profile_mint.breakdown_lines(profile["phases_ms"])))
    c = profile["cprofile"]
    print(f"cProfile: {c['profiled_ms_per_mint']:.2f} ms/mint profiled, of which "
          f"{c['waiting_ms_per_mint']:.2f} ms waiting on sockets and locks; the outgoing "
          f"HTTP client's own code: {c['http_client_ms_per_mint']:.2f} ms/mint")
    print("Where a revocation's time goes (median, sequential, what each reaper worker does):")
    print("\n".join(profile_mint.revocation_lines(profile["revocation_ms"])))
    print("top own time per mint (cProfile):")
    for row in c["top_own_time"][:10]:
        print(f"  {row['own_ms_per_mint']:6.3f} ms  {row['calls_per_mint']:6.1f} calls  {row['function']}")


if __name__ == "__main__":
    sys.exit(main())
