"""No state is created at import: importing any module of the package starts no thread,
builds no thread pool, registers no exit hook and changes no prometheus_client global.

Such state is shared by every broker in the process (the two-replica tests run two in one
process), outlives them, and cannot be closed; it belongs to the object that uses it, built
by the composition root and closed by ``Services.stop``. Checked in a fresh interpreter,
where nothing of the package has been imported yet.
"""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = r'''
import atexit, concurrent.futures, importlib, json, pkgutil, sys, threading

def ours():
    # The code that called the hooked function, if it is the package's.
    caller = sys._getframe(2)
    name = caller.f_globals.get("__name__", "")
    return f"{name}:{caller.f_lineno}" if name.startswith("jenkins_broker") else None

seen = {"atexit": [], "pools": [], "threads": [], "errors": []}

def hook(owner, attr, kind):
    original = getattr(owner, attr)
    def spy(*args, **kwargs):
        where = ours()
        if where:
            seen[kind].append(where)
        return original(*args, **kwargs)
    setattr(owner, attr, spy)

hook(atexit, "register", "atexit")
hook(concurrent.futures.ThreadPoolExecutor, "__init__", "pools")
hook(threading.Thread, "start", "threads")
threads = set(threading.enumerate())

import prometheus_client, prometheus_client.metrics
prometheus = (prometheus_client.metrics._use_created,
              sorted(prometheus_client.REGISTRY._names_to_collectors))

import jenkins_broker
for module in pkgutil.walk_packages(jenkins_broker.__path__, "jenkins_broker.",
                                    onerror=seen["errors"].append):
    if module.name.rpartition(".")[2] != "__main__":
        importlib.import_module(module.name)

seen["new_threads"] = sorted(t.name for t in set(threading.enumerate()) - threads)
seen["prometheus_changed"] = prometheus != (
    prometheus_client.metrics._use_created, sorted(prometheus_client.REGISTRY._names_to_collectors))
seen["modules"] = sorted(m for m in sys.modules if m.startswith("jenkins_broker"))
print(json.dumps(seen))
'''


def test_importing_every_module_creates_no_process_wide_state():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert len(seen.pop("modules")) > 50  # the walk did import the package
    assert seen == {"atexit": [], "pools": [], "threads": [], "errors": [], "new_threads": [],
                    "prometheus_changed": False}
