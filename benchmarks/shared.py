"""Figure 6: in shared mode, ``vault read jenkins/creds/<role>`` is a plain KV v1 read.

The broker (running) rotates a shared role's credential into ``jenkins/creds/<role>``.
A copy of that value is written to another KV v1 mount (``kv1-bench/other``). A
token allowed to read both reads them alternately over HTTP, as ``vault read``
does (``GET /v1/<path>``); the figure is the ratio of the median latencies.
The broker is not on this path at all: Vault answers.
"""

from __future__ import annotations

import time

from tests.support import wait_for

from .common import Figure, median, percentile
from .stack import Stack, session


def shared_read(stack: Stack, *, n: int, warmup: int = 50) -> Figure:
    role = stack.role("shared-bench", ttl="10m", shared=True)
    store = stack.admin_store
    value = wait_for(lambda: store.read_shared(role), 30, "the broker's first shared rotation",
                     interval=0.1)
    root = stack.root
    if "kv1-bench/" not in root.sys.list_mounted_secrets_engines()["data"]:
        root.sys.enable_secrets_engine("kv", path="kv1-bench", options={"version": "1"})
    root.secrets.kv.v1.create_or_update_secret(path="other", secret=dict(value),
                                               mount_point="kv1-bench")
    root.sys.create_or_update_acl_policy("bench-reader", (
        f'path "jenkins/creds/{role}" {{ capabilities = ["read"] }}\n'
        'path "kv1-bench/other" { capabilities = ["read"] }\n'))
    token = stack.token("bench-reader")
    http = session(2)
    headers = {"X-Vault-Token": token}
    paths = {"shared": f"{stack.bao.addr}/v1/jenkins/creds/{role}",
             "other": f"{stack.bao.addr}/v1/kv1-bench/other"}

    def read(url: str) -> float:
        start = time.perf_counter()
        resp = http.get(url, headers=headers, timeout=10)
        elapsed = time.perf_counter() - start
        if resp.status_code != 200:
            raise RuntimeError(f"reading {url} answered {resp.status_code}")
        return elapsed
    for _ in range(warmup):
        read(paths["shared"])
        read(paths["other"])
    times: dict[str, list[float]] = {"shared": [], "other": []}
    for i in range(n):
        for key in (("shared", "other") if i % 2 == 0 else ("other", "shared")):
            times[key].append(read(paths[key]))
    http.close()
    ratio = median(times["shared"]) / median(times["other"])
    return Figure.make(
        "shared_read", "6. shared read jenkins/creds/<role> / other KV v1 read", ratio, "0.9..1.1",
        measured=f"p50 {median(times['shared']) * 1e3:.3f} ms vs {median(times['other']) * 1e3:.3f} ms "
                 f"(p99 {percentile(times['shared'], 99) * 1e3:.3f} vs "
                 f"{percentile(times['other'], 99) * 1e3:.3f}); n={n}; no broker on the path",
        details={"n": n, "shared_ms_p50": median(times["shared"]) * 1e3,
                 "other_ms_p50": median(times["other"]) * 1e3,
                 "value_keys": sorted(value)})
