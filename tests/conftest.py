"""Fixtures shared by every test module.

The fixtures themselves live in ``tests/fixtures/``, one module per external
system: ``jenkins.py`` (the fake Jenkins, in-process on a free port) and
``vault.py`` (a real ``bao server -dev`` on a free port).
"""

import collections
import os

import pytest

pytest_plugins = ["tests.fixtures.jenkins", "tests.fixtures.vault"]

# Settings a developer's shell may carry; a test must never pick them up by accident.
_LEAKY_PREFIXES = ("VAULT_", "BAO_", "JENKINS_", "CI_VAULT_")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith(_LEAKY_PREFIXES):
            monkeypatch.delenv(name)


def pytest_collection_modifyitems(items):
    """Give each schemathesis operation its own node id, and refuse two items with one id.

    schemathesis names an item after its operation (``test_x[GET /v1/...]``), but on pytest 9
    the node id is built from the test's name alone, so every operation of a test shared one
    id; pytest-xdist's per-file scheduling keys work by node id and silently ran one of them.
    """
    for item in items:
        label = getattr(item, "operation_label", None)
        if label and not item.nodeid.endswith("]") and hasattr(item, "_id"):
            from _pytest.nodes import NodeId  # pytest >= 9, where ``_id`` holds the node id

            item._id = NodeId.parse(f"{item.nodeid}[{label}]")
    counts = collections.Counter(item.nodeid for item in items)
    shared = sorted(nodeid for nodeid, n in counts.items() if n > 1)
    if shared:
        raise pytest.UsageError("tests share a node id, so some would not run in parallel: "
                                + ", ".join(shared[:5]))
