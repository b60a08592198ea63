"""The OpenAPI document against the broker: it matches the app's routes, it is what
the broker serves, and a schemathesis run over every operation of the live broker
(real OpenBao, fake Jenkins) finds no 5xx and no answer outside the document.

The run is bounded and reproducible: a fixed seed, ``derandomize``, no example
database. With the root token (every handler runs): the document's examples, the
coverage phase (boundary values, each constraint violated in turn, undocumented
methods) and at most ``MAX_EXAMPLES`` fuzzed cases per operation, positive and
negative. Without a token, or with a malformed or unknown one (10 cases per
operation, four tokens each): nothing protected may succeed. Then a short stateful
run follows the document's links from a mint to lookup, renew and revoke.

Generated role and credential names are random, so they miss the fixture's roles
(mints of unknown roles are 404); the document's examples name ``example-role``
and ``example-credential``, which this module creates, so the examples mint real
tokens. A case that overwrites or deletes the Jenkins connection or one of those
is undone right after it, through the broker's own store.
"""

from __future__ import annotations

import collections
import re
from types import SimpleNamespace
from urllib.parse import unquote

import hypothesis
import pytest
import requests
import schemathesis
import yaml
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from jenkins_broker.domain.jenkins_config import StoredCredential
from jenkins_broker.web import create_app
from jenkins_broker.web.docs import openapi_document, openapi_text
from tests.support.wire import comparable

DOC = openapi_document()
MAX_EXAMPLES = 30
SEED = 20_240_601
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
_METHODS = ("get", "put", "post", "delete", "head", "patch", "options", "trace")
# Flask adds a static-file route to every app built with the default static_folder; the
# broker has no static files (every request there is a 404 in Vault's shape).
# test_no_static_file_route says how to drop it.
_FLASK_STATIC = ("/static/{filename}", "GET")


def _config(max_examples: int, *, coverage: bool) -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "seed": SEED,
        # generation time depends on the machine; only the answers decide the outcome
        "suppress-health-check": ["too_slow", "filter_too_much"],
        "generation": {
            "mode": "all",                      # schema-conforming and schema-violating input
            "max-examples": max_examples,
            "deterministic": True,              # hypothesis derandomize: the same cases every run
            "database": "none",                 # nothing written to .hypothesis/
            "with-security-parameters": False,  # the token is set by each test, not generated
        },
        # examples, then (optionally) coverage: boundary values, each constraint violated in
        # turn, undocumented methods; then fuzzing
        "phases": {"coverage": {"enabled": coverage}, "stateful": {"enabled": False}},
    })


schema = schemathesis.openapi.from_dict(DOC, config=_config(MAX_EXAMPLES, coverage=True))
unauthenticated = schemathesis.openapi.from_dict(DOC, config=_config(10, coverage=False))


# -- the document itself (no OpenBao needed) -----------------------------------------------


def _documented() -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in DOC["paths"].items()
            for method in item if method in _METHODS}


def _routed() -> set[tuple[str, str]]:
    """Every (OpenAPI path, method) the Flask app routes; LIST is documented as GET ?list=true,
    HEAD and OPTIONS (added by Flask to every GET route) only where the document has them."""
    app = create_app(SimpleNamespace())
    documented = _documented()
    out = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods or ():
            method = "GET" if method == "LIST" else method
            if method in ("HEAD", "OPTIONS") and (path, method) not in documented:
                continue
            out.add((path, method))
    return out - {_FLASK_STATIC}


def _protected(operation: dict) -> bool:
    """An operation that needs a token: its security is not empty, and does not list the
    empty requirement ``{}`` that makes a token optional (health: status without one)."""
    security = operation.get("security", DOC["security"])
    return security != [] and {} not in security


def test_the_document_is_valid_openapi():
    schemathesis.openapi.from_dict(DOC).validate()  # raises on any deviation from OpenAPI 3.0
    assert DOC["openapi"].startswith("3.0.")


def test_every_route_is_documented_and_every_documented_operation_is_routed():
    routed, documented = _routed(), _documented()
    assert routed - documented == set(), "routes missing from openapi.yaml"
    assert documented - routed == set(), "operations in openapi.yaml the app does not route"


def test_no_static_file_route():
    rules = {rule.rule for rule in create_app(SimpleNamespace()).url_map.iter_rules()}
    assert not any(rule.startswith("/static") for rule in rules)


def test_every_operation_documents_its_errors_in_vaults_shape():
    for path, item in DOC["paths"].items():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            protected = _protected(operation)
            codes = set(operation["responses"])
            if protected:
                assert {"403", "503"} <= codes and "401" not in codes, f"{method} {path}"
            for code, answer in operation["responses"].items():
                if code.startswith(("4", "5")) and method != "head":
                    ref = answer.get("$ref", "")
                    content = DOC["components"]["responses"][ref.rsplit("/", 1)[1]] if ref else answer
                    media = content["content"]["application/json"]["schema"]
                    assert media in ({"$ref": "#/components/schemas/Errors"},
                                     {"$ref": "#/components/schemas/Health"}), f"{code} {method} {path}"


def test_the_document_is_served_without_a_token():
    client = create_app(SimpleNamespace()).test_client()
    as_yaml = client.get("/openapi.yaml")
    assert as_yaml.status_code == 200 and as_yaml.mimetype == "application/yaml"
    assert as_yaml.get_data(as_text=True) == openapi_text()
    assert yaml.safe_load(as_yaml.get_data(as_text=True)) == DOC


# -- the live broker ------------------------------------------------------------------------


class Baseline:
    """What the fuzzing must not break: the Jenkins connection, the example credential and
    role. Restored through the broker's own store (which refreshes its cache)."""

    def __init__(self, stack):
        self.stack = stack
        store = stack.admin_store
        uuid, token = stack.jenkins.add_token("ci-bot", name="example-credential")
        store.put_credential(StoredCredential("example-credential", "ci-bot", "token", token,
                                              token_uuid=uuid))
        stack.role("example-role", credential="example-credential", ttl="10m")
        self.config = store.get_jenkins_config()
        self.credentials = {name: store.get_credential(name) for name in store.list_credentials()}
        self.roles = {name: store.get_role(name) for name in store.list_roles()}

    def restore_after(self, case) -> None:
        if case.method.upper() in ("GET", "HEAD"):
            return
        services = self.stack.services
        name = unquote(str((case.path_parameters or {}).get("name", "")))
        if case.path == "/v1/jenkins/config":
            services.store.put_jenkins_config(self.config)
            services.gateway.reset()
        elif case.path in ("/v1/jenkins/credentials/{name}", "/v1/jenkins/rotate-credential/{name}") \
                and name in self.credentials:
            stored = self.credentials[name]
            if stored.kind == "token":
                # A fuzzed rotation may have revoked the stored token: store a fresh one.
                uuid, token = self.stack.jenkins.add_token(stored.username, name=f"baseline-{name}")
                stored = StoredCredential(name, stored.username, "token", token, token_uuid=uuid)
            services.store.put_credential(stored)
            services.gateway.reset()
        elif case.path == "/v1/jenkins/roles/{name}" and name in self.roles:
            services.store.put_role(self.roles[name])


@pytest.fixture(scope="module")
def baseline(stack):
    return Baseline(stack)


@pytest.fixture(scope="module")
def http():
    with requests.Session() as session:
        yield session


def _vault_errors(response) -> list:
    body = response.json()
    assert list(body) == ["errors"] and isinstance(body["errors"], list), response.text
    assert all(isinstance(e, str) and e for e in body["errors"]), response.text
    return body["errors"]


def _checked(case, response, stack, http, headers) -> bool:
    """Validate the broker's answer against the document and return True; or, for a
    request the broker passed to Vault, return False. Broker mode is a Vault front: a
    lease endpoint naming a lease that is not the broker's (or a path-style id with an
    encoded "/") is Vault's to answer, outside this document; such an answer is the very
    one OpenBao gives to the same request. So is a path parameter with a line break, which
    no route of the broker's matches."""
    if "/sys/leases/" in case.path or any(
            "%0a" in str(value).lower() for value in (case.path_parameters or {}).values()):
        direct = case.call(base_url=stack.bao.addr, session=http, timeout=30, headers=headers)
        if comparable(response.status_code, response.content) == comparable(
                direct.status_code, direct.content):
            return False
    case.validate_response(response, checks=CHECKS)
    return True


@pytest.mark.integration
def test_the_live_broker_serves_this_document(stack, http):
    served = http.get(f"{stack.broker_url}/openapi.yaml", timeout=10)
    assert served.status_code == 200 and served.text == openapi_text()


@pytest.mark.integration
@schema.parametrize()
def test_every_operation_with_the_root_token(case, stack, baseline, http):
    """Root passes every capability check, so each handler runs on the generated input."""
    headers = {"X-Vault-Token": stack.bao.root_token}
    try:
        response = case.call(base_url=stack.broker_url, session=http, timeout=30, headers=headers)
    finally:
        baseline.restore_after(case)
    if not _checked(case, response, stack, http, headers):
        assert response.status_code < 500, response.text  # Vault's own answer
        return
    if response.status_code >= 400 and case.method != "HEAD":
        errors = response.json()["errors"]
        # Only an empty LIST answers with no message (404 {"errors": []}, as in Vault).
        assert errors or response.status_code == 404, response.text


_TOKENS = {
    "none": {},
    "malformed": {"X-Vault-Token": "not a token"},
    "unknown": {"X-Vault-Token": "hvs.NotATokenVaultKnowsAbout0000"},
    "bearer-unknown": {"Authorization": "Bearer hvs.NotATokenVaultKnowsAbout0000"},
}


@pytest.mark.integration
@unauthenticated.parametrize()
def test_no_protected_operation_without_a_valid_token(case, stack, baseline, http):
    """Without a token, or with a malformed or unknown one, 403 in Vault's shape (as Vault). Routing
    and a few checks of the input itself come first: 404 for a path no route matches (a
    line break in a parameter), 400 for a bad name, 405 for a plain GET on a list-only
    path. Never a success, never a 5xx. Open operations answer as usual."""
    # (A method the document does not have counts as protected: it must be refused too.)
    operation = DOC["paths"][case.path].get(case.method.lower(), {})
    protected = _protected(operation)
    for kind, headers in _TOKENS.items():
        try:
            response = case.call(base_url=stack.broker_url, session=http, timeout=30, headers=headers)
        finally:
            baseline.restore_after(case)
        if not _checked(case, response, stack, http, headers):
            assert 400 <= response.status_code < 500, f"{kind}: {response.status_code}"
            continue  # Vault's own answer, which refused it too
        if protected:
            assert response.status_code in (403, 400, 404, 405), f"{kind}: {response.status_code}"
            _vault_errors(response)
        else:
            assert response.status_code not in (401, 403), f"{kind}: {response.status_code}"


@pytest.mark.integration
def test_lease_lifecycle_through_the_documents_links(stack, baseline):
    """Stateful: the links of a mint's answer (lookup, renew, revoke with its lease_id)
    followed on live leases, so those answers are checked against the document too."""
    config = schemathesis.Config.from_dict({
        "seed": SEED, "base-url": stack.broker_url,
        "suppress-health-check": ["too_slow", "filter_too_much"],
        "headers": {"X-Vault-Token": stack.bao.root_token},
        "generation": {"mode": "positive", "deterministic": True, "database": "none",
                       "with-security-parameters": False},
    })
    lifecycle = schemathesis.openapi.from_dict(DOC, config=config).include(
        operation_id=["mintRead", "mintPost", "mintPut", "lookupPut", "renewPut", "revokePut"])
    seen: collections.Counter = collections.Counter()

    class Lifecycle(lifecycle.as_state_machine()):
        def validate_response(self, response, case, **kwargs):
            seen[(case.operation.label, response.status_code)] += 1
            case.validate_response(response, checks=CHECKS)

    Lifecycle.run(settings=hypothesis.settings(max_examples=20, stateful_step_count=6, deadline=None,
                                               derandomize=True, database=None))
    for label, status in (("PUT /v1/sys/leases/lookup", 200), ("PUT /v1/sys/leases/renew", 200),
                          ("PUT /v1/sys/leases/revoke", 204)):
        assert seen[(label, status)], f"no {status} from {label} in {dict(seen)}"
