"""What the conformance clients see of each mode, timed: ``python -m benchmarks.conformance``
(about 90 s).

The same two stacks as ``tests/conformance/`` (:mod:`tests.support.fronts`): plugin mode
(OpenBao with the secrets engine at ``jenkins/``) and broker mode (``jenkins-broker serve``,
a process, in front of OpenBao), one after the other, each with the fake Jenkins in this
process. Measured, one run, medians:

1. **Agent time to first render**: ``bao agent`` (token_file auto_auth, one template of
   ``jenkins/creds/ci-bot``'s token) from its start to the rendered file, ``--renders`` times
   per mode. Ratio broker / plugin.
2. **Renewal cadence**: one agent renders a role with ttl 10 s and max_ttl 30 s for
   ``--window`` seconds while its lease is looked up every 0.1 s; the cadence is the time
   between consecutive ``last_renewal`` values (Vault's own timestamps), and the re-render is
   when a new lease appears. Ratio broker / plugin.
3. **Forwarded-request latency**: ``--calls`` ``GET auth/token/lookup-self`` through the
   broker and directly to its OpenBao, interleaved on kept-alive sessions after 5 warm-ups;
   the figure is the extra median latency (ms) and the ratio through / direct. A call the
   broker does not forward (any answer but 200) is reported as such, with its status.

A measurement a mode cannot make (its agent exits, say) is reported with the reason; the run
goes on. Every process started is stopped by its pid, also on failure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import requests

from tests.support.baoprocs import BaoProcess, secret_template, template_stanza, token_file_auth, vault_stanza
from tests.support.fronts import MODES, front

from .common import Figure, fmt, table

SHORT = ("10s", "30s")


def _rendered(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip() if path.exists() else ""


def _token_file(running, folder: Path) -> Path:
    path = folder / "vault-token"
    path.write_text(running.token(), encoding="utf-8")
    path.chmod(0o600)
    return path


def _failure(exc: BaseException) -> str:
    """The first lines of a failed wait, for the report (the tail is redacted already)."""
    text = str(exc)
    url = re.search(r"URL: (\S+ \S+)\s+\|?\s*Code: (\d+)", text)
    head = text.splitlines()[0][:160]
    return f"{head} [{url.group(1)} -> {url.group(2)}]" if url else head


def first_renders(running, work: Path, runs: int) -> tuple[list[float], str]:
    times: list[float] = []
    for n in range(runs):
        folder = work / f"render-{n}"
        folder.mkdir()
        out = folder / "jenkins-token"
        config = (vault_stanza(running.addr) + token_file_auth(_token_file(running, folder))
                  + template_stanza(secret_template("jenkins/creds/ci-bot", ".Data.token"), out))
        agent = BaoProcess("agent", config, folder / "agent")
        started = time.monotonic()
        with agent:
            try:
                agent.wait_for(lambda: _rendered(out), 15, "the first render", interval=0.005)  # noqa: B023
            except AssertionError as exc:
                return times, _failure(exc)
            times.append(time.monotonic() - started)
    return times, ""


def _when(stamp: str) -> float:
    # RFC 3339 with up to nanoseconds; Python reads microseconds.
    stamp = re.sub(r"(\.\d{6})\d+", r"\1", stamp.replace("Z", "+00:00"))
    return dt.datetime.fromisoformat(stamp).timestamp()


def renewal_cadence(running, work: Path, window: float) -> dict:
    folder = work / "cadence"
    folder.mkdir()
    token_out, lease_out = folder / "jenkins-token", folder / "lease-id"
    config = (vault_stanza(running.addr) + token_file_auth(_token_file(running, folder))
              + template_stanza(secret_template("jenkins/creds/cadence", ".Data.token"), token_out)
              + template_stanza(secret_template("jenkins/creds/cadence", ".LeaseID"), lease_out))
    renewals: dict[str, list[float]] = {}
    issued: dict[str, float] = {}
    seen_at: dict[str, float] = {}
    with BaoProcess("agent", config, folder / "agent") as agent:
        try:
            agent.wait_for(lambda: _rendered(lease_out), 15, "the first render", interval=0.01)
        except AssertionError as exc:
            return {"error": _failure(exc)}
        start = time.monotonic()
        while time.monotonic() - start < window:
            lease_id = _rendered(lease_out)
            seen_at.setdefault(lease_id, time.monotonic() - start)
            data = running.lease(lease_id) if lease_id else None
            if data:
                issued.setdefault(lease_id, _when(data["issue_time"]))
                if data.get("last_renewal"):
                    stamps = renewals.setdefault(lease_id, [])
                    when = _when(data["last_renewal"])
                    if when not in stamps:
                        stamps.append(when)
            time.sleep(0.1)  # the sampling period of the lookups, not a wait for a condition
        if not agent.running:
            return {"error": "the agent exited" + agent.tail(5)}
    gaps = []
    for lease_id, stamps in renewals.items():
        points = [issued[lease_id], *sorted(stamps)]
        gaps += [b - a for a, b in zip(points, points[1:])]
    leases = list(seen_at)
    return {"gaps": gaps, "leases": len(leases),
            "rerender_after": seen_at[leases[1]] - seen_at[leases[0]] if len(leases) > 1 else None}


def forwarded_latency(running, calls: int) -> dict:
    token = running.token()
    headers = {"X-Vault-Token": token}
    through: list[float] = []
    direct: list[float] = []
    statuses: Counter[int] = Counter()
    with requests.Session() as via_front, requests.Session() as to_bao:
        for n in range(calls + 5):
            for session, base, sink in ((via_front, running.addr, through), (to_bao, running.bao.addr, direct)):
                started = time.perf_counter()
                answer = session.get(f"{base}/v1/auth/token/lookup-self", headers=headers, timeout=10)
                elapsed = time.perf_counter() - started
                if n >= 5:
                    sink.append(elapsed)
                    if base == running.addr:
                        statuses[answer.status_code] += 1
    return {"through": statistics.median(through), "direct": statistics.median(direct),
            "statuses": dict(statuses)}


def measure(mode: str, args) -> dict:
    with front(mode) as running, tempfile.TemporaryDirectory(prefix=f"bench-conformance-{mode}-") as tmp:
        running.role("ci-bot")
        running.role("cadence", ttl=SHORT[0], max_ttl=SHORT[1])
        work = Path(tmp)
        renders, render_error = first_renders(running, work, args.renders)
        result = {"renders": renders, "render_error": render_error,
                  "cadence": renewal_cadence(running, work, args.window)}
        if mode == "broker":
            result["latency"] = forwarded_latency(running, args.calls)
        return result


def _median(values) -> float:
    return statistics.median(values) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.conformance", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--renders", type=int, default=5, help="agent starts per mode (default 5)")
    parser.add_argument("--window", type=float, default=32.0, help="seconds the cadence is watched")
    parser.add_argument("--calls", type=int, default=50, help="lookup-self calls each way (default 50)")
    args = parser.parse_args(argv)

    results = {}
    for mode in MODES:
        print(f"[{time.strftime('%H:%M:%S')}] {mode} mode ...", flush=True)
        results[mode] = measure(mode, args)

    figures, notes = [], []
    render = {m: _median(results[m]["renders"]) for m in MODES}
    cadence = {m: _median(results[m]["cadence"].get("gaps", [])) for m in MODES}
    for mode in MODES:
        r = results[mode]
        notes.append(f"{mode}: first render {fmt(render[mode] * 1000, 0)} ms (median of "
                     f"{len(r['renders'])}){'; ' + r['render_error'] if r['render_error'] else ''}")
        c = r["cadence"]
        if "error" in c:
            notes.append(f"{mode}: renewal cadence: n/a; {c['error']}")
        else:
            after = c["rerender_after"]
            notes.append(f"{mode}: renewal cadence {fmt(cadence[mode])} s (median of {len(c['gaps'])} "
                         f"gaps, role ttl 10 s); re-rendered after "
                         f"{fmt(after) + ' s' if after is not None else 'never'} ({c['leases']} leases seen)")
    figures.append(Figure.make("render", "agent first render, broker / plugin", render["broker"] / render["plugin"],
                               measured=f"{fmt(render['broker'] * 1000, 0)} / {fmt(render['plugin'] * 1000, 0)} ms"))
    figures.append(Figure.make("cadence", "renewal cadence, broker / plugin", cadence["broker"] / cadence["plugin"],
                               measured=f"{fmt(cadence['broker'])} / {fmt(cadence['plugin'])} s"))
    lat = results["broker"]["latency"]
    forwarded = lat["statuses"] == {200: args.calls}
    figures.append(Figure.make("forward", "lookup-self through the broker / direct", lat["through"] / lat["direct"],
                               measured=f"{fmt(lat['through'] * 1000)} / {fmt(lat['direct'] * 1000)} ms, extra "
                                        f"{fmt((lat['through'] - lat['direct']) * 1000)} ms"))
    notes.append(f"broker: lookup-self through the broker answered {lat['statuses']}"
                 + ("" if forwarded else " (NOT forwarded: the latency is of the broker's own answer)"))
    print()
    print(table(figures))
    print()
    print("\n".join(notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
