"""How fast the short-lifetime promises act, at the default settings:
``python -m benchmarks.lifetime`` (about two minutes).

Issue 11's figures, measured against ``jenkins-broker serve`` (a process, default
settings), the real OpenBao and the fake Jenkins:

a. Jenkins recovering -> a failed asked-for revocation done, after outages of
   0, 5 and 20 s (bounded by the backoff step in progress: 1 s doubling);
b. a holder's own token (made with its leased token) -> revoked (one
   reconciliation interval, 60 s, at the most);
c. ``vault token revoke`` -> 401 in Jenkins (one token check interval, 5 s).

These are latencies set by intervals and backoff, so they are printed as
measured, not as ratios; the cost side is ``python -m benchmarks.tokenwatch``.
"""

from __future__ import annotations

import time

import requests

from tests.support import wait_for

from .stack import broker_process, running_stack

GENERATE = "user/ci-bot/descriptorByName/jenkins.security.ApiTokenProperty/generateNewToken"


def main() -> int:
    with running_stack(jenkins_in_process=True, latency_ms=0) as stack, \
            broker_process(stack, "lifetime") as broker, requests.Session() as http:
        jenkins = stack.fake

        def works(token: str) -> bool:
            return http.get(f"{stack.jenkins_url}whoAmI/api/json", auth=("ci-bot", token),
                            timeout=5).status_code == 200

        def mint(role: str, token: str) -> dict:
            return http.get(f"{broker.url}/v1/jenkins/creds/{role}", headers={"X-Vault-Token": token},
                            timeout=15).json()

        role = stack.role("lifetime", ttl="1h", max_ttl="2h")
        ci, auditor = stack.consumer(role), stack.token("jenkins-auditor")
        for outage in (0, 5, 20):
            lease = mint(role, ci)
            jenkins.set_fault("error500")
            http.put(f"{broker.url}/v1/sys/leases/revoke", json={"lease_id": lease["lease_id"]},
                     headers={"X-Vault-Token": auditor}, timeout=15)
            time.sleep(outage)  # the outage being simulated, not a wait for a server
            jenkins.set_fault(None)
            started = time.monotonic()
            wait_for(lambda: not works(lease["data"]["token"]),  # noqa: B023  (called at once)
                     120, "the revocation", interval=0.02)
            print(f"a. Jenkins back after a {outage:>2} s outage -> revoked in "
                  f"{time.monotonic() - started:.2f} s")

        leased = mint(role, ci)["data"]["token"]
        own = http.post(f"{stack.jenkins_url}{GENERATE}", data={"newTokenName": "mine"},
                        auth=("ci-bot", leased), timeout=5).json()["data"]["tokenValue"]
        started = time.monotonic()
        wait_for(lambda: not works(own), 120, "the foreign token to be revoked", interval=0.1)
        print(f"b. a holder's own token -> revoked in {time.monotonic() - started:.2f} s "
              "(reconciliation every 60 s)")

        for _ in range(3):
            caller = stack.token(f"consumer-{role}")
            token = mint(role, caller)["data"]["token"]
            started = time.monotonic()
            stack.root.auth.token.revoke(caller)
            wait_for(lambda: not works(token),  # noqa: B023  (called at once)
                     60, "the caller's tokens to be revoked", interval=0.05)
            print(f"c. vault token revoke -> 401 in Jenkins in {time.monotonic() - started:.2f} s "
                  "(token checks every 5 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
