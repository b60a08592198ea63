"""``python -m benchmarks.slowclients``: what slow and idle clients cost everyone else
(issue 14, "Slow clients stall the API"): health checks and mints with 60 slow or idle
connections open, against the same requests with none, in the same run.

Runs a real stack: OpenBao (dev mode), the fake Jenkins as a process (5 ms a request) and
``jenkins-broker serve`` as a process (default settings unless given: ``--threads``,
``--spare-threads``, ``--request-deadline``, ``--idle-timeout``). This process plays the
clients. Each measured request is made on a new connection (as ``vault read`` in a CI
job does): ``GET /v1/sys/health``, then a mint, ``GET /v1/jenkins/creds/<role>`` with a
token holding only ``read`` on it; one pair every ``--pace`` seconds.

1. baseline: ``--rounds`` pairs with no other client;
2. load: with these open all along (each one the server closes is opened again at the
   next tick, as an attacker would), ``--rounds`` pairs again:

   - ``--headers`` connections sending a request line, then a header line every
     ``--interval`` seconds, never ending it;
   - ``--bodies`` sending whole headers with a body of 1,000 bytes (half of them with
     ``Content-Length``, half chunked), then a byte of it every ``--interval`` seconds;
   - ``--idle-new`` connections that connect and send nothing;
   - ``--idle`` connections that made one health request and stay open (keep-alive).
     cheroot keeps a connection alive only while fewer than 10 wait in its selector
     (``keep_alive_conn_limit``): with the idle-new ones open, these are answered
     ``Connection: close`` and closed, and opened again at each tick.

Figures: median health and mint latency under load against the baseline (a ratio), the
worst of each under load (target: within a second), and how many slow connections the
server cut (408 or close) and idle ones it closed.
"""

from __future__ import annotations

import argparse
import http.client
import select
import signal
import socket
import sys
import threading
import time
from typing import Any, Callable

from .common import Figure, log, median, percentile, table
from .stack import broker_process, running_stack

HEALTH = "/v1/sys/health"
BODY_LENGTH = 1000


def timed_get(addr: tuple[str, int], path: str, headers: dict[str, str], timeout: float = 30.0) -> float:
    """Seconds one ``GET`` takes on a new connection, connecting included (``timeout`` if it
    does not answer in time). A status other than 200 is an error (its body is an error
    message in Vault's shape: no token is in it)."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection(*addr, timeout=timeout)
    try:
        conn.request("GET", path, headers={**headers, "Connection": "close"})
        resp = conn.getresponse()
        body = resp.read()
    except TimeoutError:
        return timeout
    finally:
        conn.close()
    if resp.status != 200:     # an error's body is in Vault's shape, never with a token
        raise RuntimeError(f"GET {path} answered {resp.status}: "
                           f"{body[:200] if resp.status >= 400 else b''!r}")
    return time.perf_counter() - start


class _Slow:
    """One slow or idle connection: how it opens, and what it sends at each tick."""

    def __init__(self, kind: str, opening: bytes, piece: bytes, answered_first: bool = False):
        self.kind, self.opening, self.piece, self.answered_first = kind, opening, piece, answered_first

    def open(self, addr: tuple[str, int]) -> socket.socket:
        sock = socket.create_connection(addr, timeout=5)
        if self.opening:
            sock.sendall(self.opening)
        return sock


def _kinds() -> dict[str, _Slow]:
    get = b"GET " + HEALTH.encode() + b" HTTP/1.1\r\nHost: broker\r\n"
    put = b"PUT /v1/sys/leases/renew HTTP/1.1\r\nHost: broker\r\n"
    return {
        "headers": _Slow("headers", get, b"X-Slow: 1\r\n"),
        "body-length": _Slow("body-length", put + b"Content-Length: %d\r\n\r\n" % BODY_LENGTH, b"x"),
        "body-chunked": _Slow("body-chunked", put + b"Transfer-Encoding: chunked\r\n\r\n", b"1\r\nx\r\n"),
        "idle-new": _Slow("idle-new", b"", b""),
        "idle": _Slow("idle", get + b"\r\n", b"", answered_first=True),
    }


class Load:
    """The slow and idle connections, kept open (and fed) by one thread until :meth:`stop`.
    Whatever the server closes is counted and opened again."""

    def __init__(self, addr: tuple[str, int], counts: dict[str, int], interval: float):
        self.addr, self.interval = addr, interval
        kinds = _kinds()
        self.socks: dict[socket.socket, _Slow] = {}
        for name, n in counts.items():
            for _ in range(n):
                self.socks[kinds[name].open(addr)] = kinds[name]
        self.closed = {name: 0 for name in counts}      # by the server
        self.answered_408 = {name: 0 for name in counts}
        self.error: BaseException | None = None
        self._reopen: list[_Slow] = []
        self._answered: set[socket.socket] = set()      # idle ones that had their one answer
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)
        self._thread.start()

    def _closed(self, sock: socket.socket, answer: bytes = b"") -> None:
        slow = self.socks.pop(sock)
        self._answered.discard(sock)
        sock.close()
        self.closed[slow.kind] += 1
        if answer.startswith(b"HTTP/1.1 408"):
            self.answered_408[slow.kind] += 1
        self._reopen.append(slow)             # at the next tick: no storm of reconnections

    def _run(self) -> None:
        try:
            self._feed()
        except BaseException as exc:          # reported by stop(): the load would be gone
            self.error = exc

    def _feed(self) -> None:
        next_tick = time.monotonic() + self.interval
        while not self._stop.is_set():
            readable, _, _ = select.select(list(self.socks), [], [], 0.05)
            for sock in readable:             # an answer, or the end of the connection
                try:
                    answer = sock.recv(65536)
                except OSError:
                    answer = b""
                if answer and self.socks[sock].answered_first and sock not in self._answered:
                    self._answered.add(sock)  # its one answer (small: one read); stays open
                else:
                    self._closed(sock, answer)
            if time.monotonic() < next_tick:
                continue
            next_tick += self.interval
            for sock, slow in list(self.socks.items()):
                if slow.piece:
                    try:
                        sock.sendall(slow.piece)
                    except OSError:
                        self._closed(sock)
            again, self._reopen = self._reopen, []
            for slow in again:
                self.socks[slow.open(self.addr)] = slow

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        for sock in self.socks:
            sock.close()
        if self.error is not None:
            raise RuntimeError("the slow clients stopped early") from self.error


def _rounds(n: int, pace: float, health: Callable[[], float], mint: Callable[[], float]
            ) -> tuple[list[float], list[float]]:
    h: list[float] = []
    m: list[float] = []
    for _ in range(n):
        started = time.monotonic()
        h.append(health())
        m.append(mint())
        time.sleep(max(0.0, pace - (time.monotonic() - started)))
    return h, m


def run(counts: dict[str, int], rounds: int, pace: float, interval: float,
        settings: dict[str, Any]) -> tuple[list[Figure], dict[str, Any]]:
    with running_stack(latency_ms=5.0) as stack:
        role = stack.role("slow-bench", ttl="10m", max_ttl="1h")
        token = stack.consumer(role)
        with broker_process(stack, "broker", **settings) as broker:
            host, port = broker.url.rsplit("//", 1)[1].rsplit(":", 1)
            addr = (host, int(port))

            def health() -> float:
                return timed_get(addr, HEALTH, {})

            def mint() -> float:
                return timed_get(addr, f"/v1/jenkins/creds/{role}", {"X-Vault-Token": token})

            _rounds(5, 0.0, health, mint)        # warm the broker's pools to Vault and Jenkins
            log(f"baseline: {rounds} health + mint pairs, one every {pace:g}s, no other client")
            base_h, base_m = _rounds(rounds, pace, health, mint)
            log(f"load: {sum(counts.values())} slow or idle connections ({counts}); "
                f"{rounds} pairs again")
            load = Load(addr, counts, interval)
            loaded_at = time.monotonic()
            try:
                loaded_h, loaded_m = _rounds(rounds, pace, health, mint)
            finally:
                load.stop()
            loaded_for = time.monotonic() - loaded_at
    n = sum(counts.values())
    figures = [_ratio("health", n, base_h, loaded_h), _worst("health", loaded_h),
               _ratio("mint", n, base_m, loaded_m), _worst("mint", loaded_m)]
    extra = {"closed_by_server": load.closed, "answered_408": load.answered_408,
             "connections": n, "loaded_seconds": loaded_for}
    return figures, extra


def _ratio(what: str, n: int, base: list[float], loaded: list[float]) -> Figure:
    return Figure.make(
        f"slow_{what}_ratio", f"{what}, {n} slow/idle open / none (median)", median(loaded) / median(base), "",
        measured=f"{median(loaded) * 1e3:.2f} ms vs {median(base) * 1e3:.2f} ms; p90 "
                 f"{percentile(loaded, 90) * 1e3:.2f} vs {percentile(base, 90) * 1e3:.2f} ms; n={len(base)}")


def _worst(what: str, loaded: list[float]) -> Figure:
    return Figure.make(f"slow_{what}_max", f"{what}, worst with them open", max(loaded), "<= 1", unit="s",
                       measured=f"{max(loaded) * 1e3:.1f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.slowclients",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--headers", type=int, default=15)
    parser.add_argument("--bodies", type=int, default=15, help="half Content-Length, half chunked")
    parser.add_argument("--idle-new", type=int, default=15)
    parser.add_argument("--idle", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--pace", type=float, default=0.5, help="seconds between pairs")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between slow pieces")
    for name in ("threads", "spare-threads", "idle-timeout"):
        parser.add_argument(f"--{name}", type=int)
    parser.add_argument("--request-deadline", type=float)
    args = parser.parse_args(argv)
    counts = {"headers": args.headers, "body-length": args.bodies // 2,
              "body-chunked": args.bodies - args.bodies // 2, "idle-new": args.idle_new, "idle": args.idle}
    settings = {k: v for k, v in (("threads", args.threads), ("spare_threads", args.spare_threads),
                                  ("request_deadline", args.request_deadline),
                                  ("idle_timeout", args.idle_timeout)) if v is not None}
    # SIGTERM (a `timeout` around the run) unwinds like an error: the stack's processes stop.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    figures, extra = run(counts, args.rounds, args.pace, args.interval, settings)
    print()
    print(f"slow clients ({extra['connections']} connections for {extra['loaded_seconds']:.0f}s; "
          f"broker settings {settings or 'default'}; {time.monotonic() - started:.0f}s)")
    print(table(figures))
    print(f"closed by the server while loaded (then opened again): {extra['closed_by_server']}; "
          f"of which answered 408 first: {extra['answered_408']}")
    failed = [f.key for f in figures if f.holds is False]
    if failed:
        print(f"targets not met: {', '.join(failed)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
