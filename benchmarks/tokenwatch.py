"""What following the callers' Vault tokens costs Vault: ``python -m benchmarks.tokenwatch``.

Leases follow their caller's token (``jenkins_broker.domain.tokenwatch``): every
``JENKINS_BROKER_TOKEN_CHECK_INTERVAL`` seconds each accessor holding live leases
is looked up once (``auth/token/lookup-accessor``), paced to
``JENKINS_BROKER_TOKEN_CHECK_RATE`` calls a second. This measures, on a real
OpenBao dev server, 10,000 live leases held by 1,000 tokens:

* Vault calls a minute at the default settings (one per accessor, not per lease);
* how long a pass takes paced and unpaced, and how long after 100 of the tokens
  are revoked their 1,000 leases are found;
* OpenBao's CPU per lookup, as a ratio to its CPU per KV v2 read measured in the
  same run (the machines are shared: absolute times move, the ratio does not).
"""

from __future__ import annotations

import argparse
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from jenkins_broker.domain.records import LeaseRecord, Requester
from jenkins_broker.domain.tokenwatch import TokenWatch
from jenkins_broker.observability import Metrics
from jenkins_broker.vault import BaoDevServer, CallerAuthz, VaultSettings

from .stack import cpu_seconds


class _Index:
    def __init__(self, groups):
        self.groups = groups

    def by_accessor(self):
        return self.groups


class _Manager:
    """Counts the revocations a pass asks for (Jenkins is not what is measured here)."""

    def __init__(self):
        self.metrics = Metrics()
        self.revoked = 0
        self.lock = threading.Lock()

    def revoke_record(self, record, version, *, cause):
        with self.lock:
            self.revoked += 1
        return True


def _records(accessor: str, count: int) -> list[tuple[LeaseRecord, int]]:
    now = time.time()
    return [(LeaseRecord(role="ci-bot", suffix=f"{accessor[:8]}{i:016x}", jenkins_user="ci-bot",
                         strategy="user-token", credential="c", token_uuid=f"u-{accessor}-{i}",
                         token_name="n", token_sha256="s", issued_at=now, expires_at=now + 3600,
                         max_expires_at=now + 3600, requester=Requester(accessor=accessor)), 1)
            for i in range(count)]


def _cpu_per_call(pid: int, calls: int, call) -> float:
    before = cpu_seconds(pid)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: call(), range(calls)))
    return (cpu_seconds(pid) - before) / calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tokenwatch", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--leases-per-token", type=int, default=10)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=200.0)
    args = parser.parse_args(argv)

    bao = BaoDevServer()
    bao.start()
    assert bao.pid is not None  # started
    bao_pid = bao.pid
    try:
        root = bao.client()
        authz = CallerAuthz(VaultSettings(addr=bao.addr, token=root.token), broker_token=lambda: root.token)
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            tokens = list(pool.map(lambda _: root.auth.token.create(policies=["default"], ttl="2h")["auth"],
                                   range(args.tokens)))
        print(f"created {len(tokens)} tokens in {time.monotonic() - started:.1f}s")
        groups = {t["accessor"]: _records(t["accessor"], args.leases_per_token) for t in tokens}
        manager = _Manager()

        def one_pass(rate: float) -> tuple[float, dict]:
            watch = TokenWatch(manager, _Index(groups), authz, interval=args.interval, rate=rate)
            t0 = time.monotonic()
            counts = watch.run_once()
            watch.stop()
            return time.monotonic() - t0, counts

        unpaced, counts = one_pass(1e9)
        assert counts["checked"] == len(groups) and counts["gone"] == 0, counts
        paced, _ = one_pass(args.rate)

        # Vault's CPU per lookup against its CPU per KV v2 read, in the same run.
        root.sys.enable_secrets_engine("kv", path="bench-kv", options={"version": "2"})
        root.secrets.kv.v2.create_or_update_secret("x", {"a": "b"}, mount_point="bench-kv")
        accessor = tokens[0]["accessor"]
        lookup_cpu = _cpu_per_call(bao_pid, 2000, lambda: authz.token_expiry(accessor))
        kv_cpu = _cpu_per_call(bao_pid, 2000, lambda: root.secrets.kv.v2.read_secret_version(
            "x", mount_point="bench-kv", raise_on_deleted_version=True))

        for token in tokens[:100]:
            root.auth.token.revoke_accessor(token["accessor"])
        found, counts = one_pass(args.rate)
        assert counts["gone"] == 100 and manager.revoked == 100 * args.leases_per_token, counts

        per_pass = len(groups)
        minute = per_pass * 60.0 / max(args.interval, paced)
        leases = len(groups) * args.leases_per_token
        print(f"live leases: {leases}, tokens (accessors): {per_pass}")
        print(f"Vault calls per pass: {per_pass} (one per accessor, not per lease)")
        print(f"pass, unpaced: {unpaced:.2f}s ({per_pass / unpaced:.0f} lookups/s); "
              f"paced at {args.rate:.0f}/s: {paced:.2f}s")
        print(f"Vault calls per minute at interval {args.interval:g}s, rate {args.rate:g}/s: {minute:.0f}")
        print(f"worst-case detection of a revoked token: about {max(args.interval, paced):.1f}s "
              f"(a paced pass found 100 revoked tokens' {100 * args.leases_per_token} leases in {found:.2f}s)")
        print(f"OpenBao CPU per lookup-accessor: {lookup_cpu * 1e6:.0f} us; per KV v2 read: "
              f"{kv_cpu * 1e6:.0f} us; ratio {lookup_cpu / kv_cpu:.2f}")
        print(f"OpenBao CPU spent on checks: {lookup_cpu * minute / 60 * 100:.1f}% of one core")
        authz.close()
    finally:
        bao.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
