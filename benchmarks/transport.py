"""What one outgoing call costs the broker's own process, by HTTP client.

The broker's hot path is three calls a mint, each one request on a kept-alive
connection. This measures the client side of one such call, ``POST
sys/capabilities-self`` to a real OpenBao dev server (started here, stopped by its
pid), as CPU time of this process per call (user + system, so the wait for the
server does not count), for:

- ``transport``: :class:`jenkins_broker.transport.Session`, what the broker runs;
- ``vault-client``: :class:`jenkins_broker.vault.VaultClient` on top of it (headers,
  the token, JSON, the error table): what a capability check costs end to end;
- ``urllib3-pool``: a bare urllib3 ``HTTPConnectionPool``, the floor of the library;
- ``requests``: a ``requests.Session``, what the broker used before.

Rounds alternate the clients (A, B, C, D, A, B, ...) so that the machine's load
falls on all alike; each figure is the median over rounds, and the ratios are
against ``urllib3-pool`` measured in the same run.

    python -m benchmarks.transport             # 2,000 calls a round, 5 rounds, ~30 s
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import requests
from urllib3.connectionpool import connection_from_url

from jenkins_broker.transport import Session
from jenkins_broker.vault import BaoDevServer, VaultClient, VaultSettings

PATH = "/v1/sys/capabilities-self"


def _clients(addr: str, token: str) -> dict:
    body = json.dumps({"paths": ["jenkins/creds/ci-bot"]}).encode()
    headers = {"X-Vault-Token": token, "Content-Type": "application/json"}
    session = Session(addr, timeout=10, pool_size=1)
    vault = VaultClient(VaultSettings(addr=addr, token=token), token, pool_size=1)
    pool = connection_from_url(addr, maxsize=1)
    plain = requests.Session()

    def via_transport():
        assert session.request("POST", PATH, body=body, headers=headers).status == 200

    def via_vault_client():
        vault.request("POST", "sys/capabilities-self", json={"paths": ["jenkins/creds/ci-bot"]},
                      action="check")

    def via_pool():
        assert pool.urlopen("POST", PATH, body=body, headers=headers, retries=False).status == 200

    def via_requests():
        assert plain.post(addr + PATH, data=body, headers=headers, timeout=10).status_code == 200

    return {"transport": via_transport, "vault-client": via_vault_client,
            "urllib3-pool": via_pool, "requests": via_requests}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.transport", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000, help="calls per client per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)

    bao = BaoDevServer()
    bao.start()
    try:
        clients = _clients(bao.addr, bao.root_token)
        for call in clients.values():  # warm up: connect, and first-call costs
            for _ in range(50):
                call()
        per_call: dict[str, list[float]] = {name: [] for name in clients}
        for _ in range(args.rounds):
            for name, call in clients.items():
                t0 = time.process_time()
                for _ in range(args.calls):
                    call()
                per_call[name].append((time.process_time() - t0) / args.calls * 1e6)
    finally:
        bao.stop()
    floor = statistics.median(per_call["urllib3-pool"])
    print(f"client CPU per keep-alive call to OpenBao's sys/capabilities-self "
          f"({args.calls} calls x {args.rounds} rounds, median of rounds)")
    for name, values in per_call.items():
        median = statistics.median(values)
        print(f"  {name:<13} {median:7.0f} µs   {median / floor:4.2f} x urllib3-pool")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
