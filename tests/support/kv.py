"""A KV v2 mount that was just enabled refuses requests for a moment: wait until it serves.

Enabling a KV v2 mount (``POST sys/mounts/<path>``) returns at once, but OpenBao, like
Vault, then runs the mount's "upgrade" in a goroutine (``builtin/logical/kv/upgrade.go``:
it writes an upgrade marker, collects the mount's keys and creates the key policy that
encrypts metadata paths). Until that is done, every request to the mount waits 15 ms and,
if the upgrade is still running, gets a 400 "Upgrading from non-versioned to versioned
data. This backend will be unavailable for a brief period and will resume service
shortly." On a busy machine the upgrade takes longer than those 15 ms.
"""

from __future__ import annotations

from jenkins_broker.errors import VaultInvalidRequest
from jenkins_broker.vault.kv import KVv2
from tests.support.waiting import wait_for

UPGRADING = "Upgrading from non-versioned to versioned data"


def wait_until_kv2_ready(kv: KVv2, timeout: float = 10.0) -> None:
    """Wait until the mount of ``kv`` has finished its upgrade (``LIST <mount>/metadata``,
    the cheapest request that goes through the same check, answers); fail after
    ``timeout`` seconds. Any other error propagates."""
    def ready() -> bool:
        try:
            kv.list()
        except VaultInvalidRequest as exc:
            if UPGRADING not in str(exc):
                raise
            return False
        return True
    wait_for(ready, timeout=timeout, interval=0.01,
             what=f"the KV v2 mount {kv.mount}/ to finish its upgrade")
