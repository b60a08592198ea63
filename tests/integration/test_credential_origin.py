"""A stored credential goes only to the Jenkins origin it is bound to, end to end.

Real OpenBao, the fake Jenkins, ``jenkins-broker serve`` processes (one or two replicas
on the same Vault), the CLI as a subprocess, and a listener of the test's own: a tiny
HTTP server that answers everything as a Jenkins would (``X-Jenkins``, ``{}``) and
records every request it gets, headers and body, on any path (``/whoAmI``,
``/crumbIssuer``, ``/user/.../descriptorByName/...``, anything).

The credentials "stored before origins were recorded" are KV records written by hand,
in the shape an older broker wrote them (``StoredCredential.to_record`` without
``origin``), at ``jenkins-broker/data/credentials/<name>``.

The brokers run the credential check and reconciliation hourly and are started before
any role exists: their passes at start find no role (and cache that list for 5 s), so a
credential is used by the requests a test makes, not by background work. No assertion
depends on that timing; it keeps "first use" meaning the test's first mint.

No token value is printed: assertions on secrets compare booleans, messages name
requests by method, path and header names only.
"""

from __future__ import annotations

import pytest
import requests

from tests.support.origin import (
    PASSWORD,
    accepted_by,
    assert_logs_clean,
    assert_never_sent,
    assert_no_authorization,
    check_rows,
    cli_ok,
    errors,
    kv_origin,
    kv_record,
    mint,
    minted,
    move_url,
    origin_of,
    public,
    refused_for_move,
    stored_secret,
    wait_refused,
    write_pre_origin,
)

pytestmark = pytest.mark.integration

# -- 1 -----------------------------------------------------------------------------------

def test_a_credential_stored_before_origins_mints_and_is_bound_at_its_first_mint(ostack, brokers):
    jenkins = ostack.jenkins
    broker = brokers.start()
    uuid, secret = jenkins.add_token("ci-bot", name="stored by an older broker")
    write_pre_origin(ostack, "pre-origin", "ci-bot", "token", secret, token_uuid=uuid)
    before, version = kv_record(ostack, "pre-origin")
    before_public = public(before)
    assert "origin" not in before_public
    role = ostack.role("upgraded", credential="pre-origin")
    ci = ostack.consumer(role)

    data = minted(broker, role, ci)
    works = accepted_by(jenkins, data["username"], data["token"])
    assert works, "Jenkins refuses the token minted with the pre-origin credential"
    assert data["jenkins_url"] == jenkins.url

    after, bound_version = kv_record(ostack, "pre-origin")
    after_public = public(after)
    assert after_public == {**before_public, "origin": origin_of(jenkins.url)}
    # One check-and-set write (which moves an inline secret to its own path on the way).
    assert bound_version == version + 1
    same_secret = stored_secret(ostack, "pre-origin") == secret
    assert same_secret, "binding the origin changed the stored secret"

    # Bound once: later mints neither write again nor stop working.
    minted(broker, role, ci)
    _, version_now = kv_record(ostack, "pre-origin")
    assert version_now == bound_version
    # What the API shows of it: the origin, never the secret.
    shown = requests.get(f"{broker}/v1/jenkins/credentials/pre-origin",
                         headers={"X-Vault-Token": ostack.bao.root_token}, timeout=10)
    assert shown.status_code == 200, errors(shown)
    shown_data = shown.json()["data"]
    assert shown_data["origin"] == origin_of(jenkins.url)
    assert "secret" not in shown_data and "token" not in shown_data
    assert_logs_clean(brokers, secret, data["token"])


# -- 2 -----------------------------------------------------------------------------------

def test_after_the_url_moves_to_a_listener_the_bound_credential_is_refused_and_never_sent(
        ostack, brokers, listener):
    jenkins = ostack.jenkins
    broker = brokers.start()
    uuid, secret = jenkins.add_token("ci-bot", name="stored by an older broker")
    write_pre_origin(ostack, "moved-cred", "ci-bot", "token", secret, token_uuid=uuid)
    role = ostack.role("moved", credential="moved-cred")
    ci = ostack.consumer(role)
    minted(broker, role, ci)
    old, new = origin_of(jenkins.url), origin_of(listener.url)
    origin = kv_origin(ostack, "moved-cred")
    assert origin == old

    written = move_url(ostack, listener.url)
    error = wait_refused(broker, role, ci, old, new, written)
    assert old in error and new in error
    assert "write the credential again" in error and "moved-cred" in error
    echoed = secret in error
    assert not echoed, "the refusal echoes the secret"
    for _ in range(3):  # it stays refused: nothing falls back to sending it
        refused = refused_for_move(mint(broker, role, ci), old, new)
        assert refused
    origin = kv_origin(ostack, "moved-cred")
    assert origin == old  # not bound again to the new origin

    status, rows = check_rows(ostack)
    assert status != 0
    row = rows.get(f"role {role}", "")
    assert row.startswith("FAIL") and f"moved from {old} to {new}" in row, rows
    assert rows.get("jenkins", "").startswith("ok") and listener.url in rows["jenkins"], rows

    # The listener was reached (check asked it for its version) and got no credential at all.
    seen = listener.requests()
    assert seen, "the listener was never asked anything: the URL did not point at it"
    assert_no_authorization(listener)
    assert_never_sent(listener, secret, "the bound credential")
    assert_logs_clean(brokers, secret)


# -- 3 -----------------------------------------------------------------------------------

def test_a_pre_origin_credential_first_used_while_the_url_points_at_a_listener_is_bound_there(
        ostack, brokers, listener):
    """By design (``check_origin``): a credential stored without an origin is bound to the
    origin configured at its first use, here the listener, and sent there, as the broker
    before origins would have done. Pinned so that a change of that rule is deliberate.
    A credential written with an origin is still never sent to the listener."""
    jenkins = ostack.jenkins
    broker = brokers.start()
    cli_ok(ostack, "credentials", "write", "with-origin", "--username", "ci-bot",
           "--password-env", "CI_BOT_PASSWORD", env={"CI_BOT_PASSWORD": PASSWORD})
    origin = kv_origin(ostack, "with-origin")
    assert origin == origin_of(jenkins.url)
    uuid, legacy_secret = jenkins.add_token("ci-bot", name="stored by an older broker")
    write_pre_origin(ostack, "never-used", "ci-bot", "token", legacy_secret, token_uuid=uuid)
    bound_role = ostack.role("written-with-origin", strategy="user-password", credential="with-origin")
    legacy_role = ostack.role("first-used-at-listener", credential="never-used")
    ci_bound, ci_legacy = ostack.consumer(bound_role), ostack.consumer(legacy_role)
    old, new = origin_of(jenkins.url), origin_of(listener.url)

    written = move_url(ostack, listener.url)
    wait_refused(broker, bound_role, ci_bound, old, new, written)
    assert_never_sent(listener, PASSWORD, "the credential written with an origin")

    got = mint(broker, legacy_role, ci_legacy)
    assert got.status_code != 200  # the listener is no Jenkins: the mint itself fails
    origin = kv_origin(ostack, "never-used")
    assert origin == new
    sent = listener.received(legacy_secret)
    assert sent, f"the pre-origin credential was not sent to the configured listener: {listener.summary()}"

    status, rows = check_rows(ostack)  # check, too, refuses to try the bound one there
    assert status != 0
    row = rows.get(f"role {bound_role}", "")
    assert row.startswith("FAIL") and f"moved from {old} to {new}" in row, rows

    # The credential written with an origin never reached the listener, by any path.
    assert_never_sent(listener, PASSWORD, "the credential written with an origin")
    assert_logs_clean(brokers, PASSWORD, legacy_secret)
