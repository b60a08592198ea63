"""``python -m benchmarks.slowclients [--slow 30] [--idle 30] [--rounds 20]``: what slow and
idle clients cost everyone else (issue 14, "Slow clients stall the API").

Starts the broker's HTTP server (:class:`jenkins_broker.server.httpd.HTTPServer`, the one
``serve`` runs, default settings) in this process on a small WSGI app that answers
``/v1/sys/health`` at once, so what is measured is the server, not Vault or Jenkins. Then:

1. baseline: ``--rounds`` health requests, each on a new connection, with no other client;
2. load: ``--slow`` connections that send a request line and then one header line every
   ``--interval`` seconds (never finishing), ``--idle-new`` connections that connect and send
   nothing, and ``--idle`` connections that made one request and stay open (keep-alive); with
   them all open, ``--rounds`` health requests again.

Figure: median health latency under load / median baseline, and the worst under load, in
the same run. Also printed: how many of the slow connections the server closed.
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time

from jenkins_broker.server.httpd import HTTPServer

from .common import median


def _app(environ, start_response):
    body = json.dumps({"initialized": True, "sealed": False}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def health(addr: tuple[str, int], timeout: float = 30.0) -> float:
    """Seconds one ``GET /v1/sys/health`` takes on a new connection (``timeout`` if no answer)."""
    start = time.perf_counter()
    data = b""
    with socket.create_connection(addr, timeout=timeout) as sock:
        sock.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: broker\r\nConnection: close\r\n\r\n")
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except TimeoutError:
            return timeout
    if not data.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"health answered {data[:100]!r}")
    return time.perf_counter() - start


class Load:
    """The slow and idle connections, kept open (or fed) by one thread until :meth:`stop`."""

    def __init__(self, addr, slow: int, idle_new: int, idle: int, interval: float):
        self.addr, self.interval = addr, interval
        self.idle_new = [socket.create_connection(addr, timeout=5) for _ in range(idle_new)]
        self.idle = []
        for _ in range(idle):
            sock = socket.create_connection(addr, timeout=30)
            sock.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: broker\r\n\r\n")
            sock.recv(65536)            # the answer; the connection stays open (keep-alive)
            self.idle.append(sock)
        self.slow = []
        for _ in range(slow):
            sock = socket.create_connection(addr, timeout=5)
            sock.sendall(b"GET /v1/sys/health HTTP/1.1\r\n")
            self.slow.append(sock)
        self.closed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._feed, daemon=True)
        self._thread.start()

    def _feed(self):
        n = 0
        while not self._stop.wait(self.interval):
            n += 1
            for sock in list(self.slow):
                try:
                    sock.sendall(f"X-Slow-{n}: {n}\r\n".encode())
                except OSError:
                    self.closed += 1
                    self.slow.remove(sock)

    def stop(self):
        self._stop.set()
        self._thread.join()
        for sock in self.slow + self.idle_new + self.idle:
            sock.close()


def run(slow: int, idle_new: int, idle: int, rounds: int, interval: float) -> dict:
    server = HTTPServer(_app).start()
    try:
        host, port = server.url.rsplit("//", 1)[1].rsplit(":", 1)
        addr = (host, int(port))
        for _ in range(3):
            health(addr)
        base = [health(addr) for _ in range(rounds)]
        load = Load(addr, slow, idle_new, idle, interval)
        try:
            time.sleep(0.5)
            loaded = []
            for _ in range(rounds):
                loaded.append(health(addr))
                time.sleep(0.5)
            closed = load.closed
        finally:
            load.stop()
    finally:
        server.stop()
    return {"baseline_median_ms": median(base) * 1000, "loaded_median_ms": median(loaded) * 1000,
            "loaded_max_ms": max(loaded) * 1000, "ratio": median(loaded) / median(base),
            "slow_closed_by_server": closed, "connections": slow + idle_new + idle}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slow", type=int, default=20)
    parser.add_argument("--idle-new", type=int, default=20)
    parser.add_argument("--idle", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--interval", type=float, default=2.0)
    args = parser.parse_args(argv)
    result = run(args.slow, args.idle_new, args.idle, args.rounds, args.interval)
    for key, value in result.items():
        print(f"{key:24} {value:.1f}" if isinstance(value, float) else f"{key:24} {value}")


if __name__ == "__main__":
    main()
