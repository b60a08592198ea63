"""Paths the broker does not serve are Vault's to answer (broker mode is a Vault front), and
unsupported methods on the broker's own paths are a 405 in Vault's shape."""

from __future__ import annotations

import pytest

from tests.support.bad_input import ROLE
from tests.support.wire import assert_answered_by_vault, assert_vault_error, send

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("path", ["/", "/v1", "/v1/", "/v2/jenkins/creds/x", "/v1/nope", "/v1/jenkins",
                                  "/v1/jenkins/creds", "/v1/jenkins/creds/", "/v1/jenkins/nope/x",
                                  "/v1/sys/leases", "/metrics/x",
                                  "/v1/sys/health/x", "/%00", "/" + "a" * 10_000, "/v1/jenkins/creds/a%0Ab"])
def test_paths_the_broker_does_not_serve_get_vaults_own_answer(env, path):
    for method in ("GET", "PUT"):
        assert_answered_by_vault(env.stack, method, path, env.auth,
                                 b"{}" if method == "PUT" else None)


@pytest.mark.parametrize("method,path", [
    ("DELETE", f"/v1/jenkins/creds/{ROLE}"), ("PATCH", f"/v1/jenkins/roles/{ROLE}"),
    ("BREW", f"/v1/jenkins/creds/{ROLE}"), ("TRACE", "/v1/sys/health"), ("POST", "/v1/sys/health"),
    ("LIST", "/v1/jenkins/config"), ("GET", "/v1/sys/leases/renew"), ("DELETE", "/v1/sys/leases/revoke"),
    ("GET", "/v1/jenkins/roles"), ("GET", "/v1/jenkins/credentials"), ("POST", "/metrics"),
    ("GET", f"/v1/sys/leases/lookup/jenkins/creds/{ROLE}"), ("PUT", f"/v1/jenkins/leases/{ROLE}"),
    ("GET", f"/v1/jenkins/revoke/{ROLE}"), ("DELETE", "/openapi.yaml"),
])
def test_unsupported_methods_are_405_in_vaults_shape(env, method, path):
    answer = send(env.stack, method, path, env.auth)
    errors = assert_vault_error(answer, 405)
    assert errors == ["unsupported operation"]
