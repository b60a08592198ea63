"""Where a mint's time goes, inside the broker.

The broker runs in this process (``Services`` + its production HTTP server) so
that it can be observed; the client sends sequential mints with a consumer
token. Two views:

* **phases** (no profiler, so no distortion): the broker's own parts are
  wrapped with wall-clock timers at run time (nothing in the package is
  changed): the caller's capability check (``web.auth.require``: Vault's
  ``sys/capabilities-self`` with ``auth/token/lookup-self`` in parallel), the
  role lookup (cached), the Jenkins call, the lease record write, the audit
  line, the reaper's heap insert, the answer's JSON. The rest of the time
  inside the WSGI app is Flask/werkzeug; the difference between the client's
  latency and the app's time is the HTTP hop (client, loopback, cheroot).
* **cProfile** of the request threads: the functions with the most time of
  their own, and the own time of the outgoing HTTP client code (the lean
  session, ``http.client``, header parsing; hvac, requests or urllib3 if any
  appear), which every one of a mint's three outgoing calls pays.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import threading
import time
from collections import defaultdict
from typing import Any, Callable

import jenkins_broker.domain.leases as leases_mod
import jenkins_broker.domain.revocation as revocation_mod
import jenkins_broker.web.creds as creds_mod

from .common import median
from .mint import BrokerClient
from .stack import Stack, inprocess_broker

PHASES = (
    ("authz", "capability check: caller's token, Vault capabilities-self (+ lookup-self in parallel)"),
    ("role", "role lookup (cached)"),
    ("jenkins", "Jenkins generateNewToken (5 ms of it is the fake's latency)"),
    ("vault_write", "lease record write, Vault KV v2 (incl. record serialization)"),
    ("audit", "audit line (json.dumps + logging)"),
    ("schedule", "reaper heap insert"),
    ("answer", "answer JSON (lease_response/jsonify)"),
)


class _Clock:
    """Per-request phase times, collected from the request thread only."""

    def __init__(self) -> None:
        self.local = threading.local()
        self.requests: list[dict[str, float]] = []
        self.lock = threading.Lock()

    def wrap(self, name: str, fn: Callable) -> Callable:
        def timed(*args: Any, **kwargs: Any) -> Any:
            acc = getattr(self.local, "acc", None)
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                if acc is not None:
                    acc[name] += time.perf_counter() - start
        return timed

    def app(self, app: Callable) -> Callable:
        def wsgi(environ, start_response):
            if not environ.get("PATH_INFO", "").startswith("/v1/jenkins/creds/"):
                return app(environ, start_response)
            self.local.acc = acc = defaultdict(float)
            start = time.perf_counter()
            try:
                return list(app(environ, start_response))
            finally:
                acc["app_total"] = time.perf_counter() - start
                self.local.acc = None
                with self.lock:
                    self.requests.append(dict(acc))
        return wsgi


def _instrument(services, clock: _Clock) -> Callable[[], None]:
    """Wrap the broker's parts with timers; returns the undo."""
    undo = []

    def patch(obj: Any, attr: str, name: str) -> None:
        original = getattr(obj, attr)
        setattr(obj, attr, clock.wrap(name, original))
        undo.append((obj, attr, original))
    patch(creds_mod, "mint_authorization", "authz")
    patch(creds_mod, "lease_response", "answer")
    patch(services.store, "get_role", "role")
    patch(services.gateway, "mint", "jenkins")
    patch(services.store, "put_lease", "vault_write")
    patch(leases_mod, "audit_lease", "audit")
    patch(services.manager.scheduler, "schedule", "schedule")

    def restore() -> None:
        for obj, attr, original in reversed(undo):
            setattr(obj, attr, original)
    return restore


def phases(stack: Stack, role: str, token: str, n: int) -> dict[str, Any]:
    clock = _Clock()
    with inprocess_broker(stack, start=False, app_wrapper=clock.app) as (services, url):
        restore = _instrument(services, clock)
        try:
            client = BrokerClient(url, role, token)
            for _ in range(20):
                client.once()
            clock.requests.clear()
            latencies = []
            for _ in range(n):
                start = time.perf_counter()
                client.once()
                latencies.append(time.perf_counter() - start)
        finally:
            restore()
    reqs = clock.requests
    ms = {key: median(r.get(key, 0.0) for r in reqs) * 1e3 for key, _ in PHASES}
    ms["app_total"] = median(r["app_total"] for r in reqs) * 1e3
    ms["client_total"] = median(latencies) * 1e3
    ms["flask_rest"] = max(0.0, ms["app_total"] - sum(ms[k] for k, _ in PHASES))
    ms["http_hop"] = max(0.0, ms["client_total"] - ms["app_total"])
    return ms


def cprofile(stack: Stack, role: str, token: str, n: int, top: int = 15) -> dict[str, Any]:
    prof = cProfile.Profile()
    gate = threading.Lock()

    def wrapper(app: Callable) -> Callable:
        def wsgi(environ, start_response):
            if not environ.get("PATH_INFO", "").startswith("/v1/jenkins/creds/"):
                return app(environ, start_response)
            with gate:
                prof.enable()
                try:
                    return list(app(environ, start_response))
                finally:
                    prof.disable()
        return wsgi
    with inprocess_broker(stack, start=False, app_wrapper=wrapper) as (services, url):
        client = BrokerClient(url, role, token)
        for _ in range(20):
            client.once()
        prof = cProfile.Profile()
        for _ in range(n):
            client.once()
    stats = pstats.Stats(prof)
    # pstats.Stats' tables, which typeshed does not declare: the total time, and per function
    # (file, line, name) -> (primitive calls, calls, own time, cumulative time, callers).
    total: float = stats.total_tt  # type: ignore[attr-defined]
    table: dict[tuple[str, int, str], tuple[int, int, float, float, dict]] = \
        stats.stats  # type: ignore[attr-defined]

    waits = ("<method 'recv_into' of '_socket.socket' objects>",
             "<method 'acquire' of '_thread.lock' objects>")
    socket_wait = sum(v[2] for k, v in table.items() if k[2] in waits)
    # The outgoing client's own work (three calls a mint), not counting the waits.
    client_files = ("jenkins_broker/transport.py", "http/client.py", "/email/", "/socket.py",
                    "requests/", "urllib3/", "hvac/")
    http_client = sum(v[2] for k, v in table.items()
                      if any(f in k[0] for f in client_files) and k[2] not in waits)
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    own = []
    for (file, line, func), (_, calls, tt, _, _) in sorted(table.items(), key=lambda kv: -kv[1][2])[:top]:
        own.append({"function": f"{file.split('site-packages/')[-1].split('/plugin/')[-1]}:{line}({func})",
                    "calls_per_mint": calls / n, "own_ms_per_mint": tt / n * 1e3})
    return {"profiled_ms_per_mint": total / n * 1e3,
            "waiting_ms_per_mint": socket_wait / n * 1e3,
            "http_client_ms_per_mint": http_client / n * 1e3,
            "top_own_time": own, "text": out.getvalue()}


def breakdown_lines(ms: dict[str, float]) -> list[str]:
    total = ms["client_total"]
    rows = [("client latency (total)", total)]
    rows.append(("  HTTP hop: client <-> cheroot, loopback", ms["http_hop"]))
    for key, title in PHASES:
        rows.append((f"  {title}", ms[key]))
    rows.append(("  Flask/werkzeug dispatch, request parsing, rest", ms["flask_rest"]))
    return [f"{title:<92} {value:6.2f} ms  {value / total * 100:5.1f}%" for title, value in rows]


REVOKE_PHASES = (
    ("claim", "claim: check-and-set write of the record (Vault)"),
    ("jenkins", "Jenkins revoke (5 ms of it is the fake's latency)"),
    ("delete", "record delete (Vault)"),
    ("audit", "audit line"),
)


def revocation_phases(stack: Stack, n: int) -> dict[str, Any]:
    """Sequential revocations by the lease manager (what each reaper worker does), timed by
    phase, with this process's CPU time per revocation; and the same for a bare revoke call."""
    from .seed import mint_tokens, seed_leases
    from .stack import REAP_USER, TOKEN_DESCRIPTOR, session

    clock = _Clock()
    seeded = seed_leases(stack, "reap-profile", n + 10, expires_at=time.time() - 1.0, user=REAP_USER)
    direct = [t["uuid"] for t in mint_tokens(stack, "reap-profile-direct", n + 10, user=REAP_USER)]
    with inprocess_broker(stack, start=False, serve=False) as (services, _):
        manager, store = services.manager, services.store
        undo = []

        def patch(obj: Any, attr: str, name: str) -> None:
            original = getattr(obj, attr)
            setattr(obj, attr, clock.wrap(name, original))
            undo.append((obj, attr, original))
        patch(store, "put_lease", "claim")
        patch(services.gateway, "revoke", "jenkins")
        patch(store, "delete_lease", "delete")
        patch(revocation_mod, "audit_lease", "audit")
        try:
            for record, version in seeded[:10]:
                manager.revoke_record(record, version, cause="expiry")
            walls, cpus = [], []
            for record, version in seeded[10:]:
                acc: defaultdict[str, float] = defaultdict(float)
                clock.local.acc = acc
                c0, w0 = time.process_time(), time.perf_counter()
                manager.revoke_record(record, version, cause="expiry")
                walls.append(time.perf_counter() - w0)
                cpus.append(time.process_time() - c0)
                clock.local.acc = None
                clock.requests.append(dict(acc))
        finally:
            for obj, attr, original in reversed(undo):
                setattr(obj, attr, original)
    http = session(2)
    url = f"{stack.jenkins_url}user/{REAP_USER}/{TOKEN_DESCRIPTOR}revoke"
    auth = (REAP_USER, stack.bootstrap_tokens[REAP_USER])
    for uuid in direct[:10]:
        http.post(url, data={"tokenUuid": uuid}, auth=auth, timeout=10).raise_for_status()
    d_walls, d_cpus = [], []
    for uuid in direct[10:]:
        c0, w0 = time.process_time(), time.perf_counter()
        http.post(url, data={"tokenUuid": uuid}, auth=auth, timeout=10).raise_for_status()
        d_walls.append(time.perf_counter() - w0)
        d_cpus.append(time.process_time() - c0)
    http.close()
    ms = {key: median(r.get(key, 0.0) for r in clock.requests) * 1e3 for key, _ in REVOKE_PHASES}
    ms["total"] = median(walls) * 1e3
    ms["rest"] = max(0.0, ms["total"] - sum(ms[k] for k, _ in REVOKE_PHASES))
    ms["cpu"] = median(cpus) * 1e3
    ms["direct_total"] = median(d_walls) * 1e3
    ms["direct_cpu"] = median(d_cpus) * 1e3
    return ms


def revocation_lines(ms: dict[str, float]) -> list[str]:
    total = ms["total"]
    rows = [("one revocation by the lease manager (total)", total)]
    for key, title in REVOKE_PHASES:
        rows.append((f"  {title}", ms[key]))
    rows.append(("  bookkeeping (dataclass copies, metrics)", ms["rest"]))
    lines = [f"{title:<92} {value:6.2f} ms  {value / total * 100:5.1f}%" for title, value in rows]
    lines.append(f"{'  CPU of this process per revocation':<92} {ms['cpu']:6.2f} ms")
    lines.append(f"{'a bare revoke call (requests): wall':<92} {ms['direct_total']:6.2f} ms")
    lines.append(f"{'  CPU per bare revoke call':<92} {ms['direct_cpu']:6.2f} ms")
    return lines
