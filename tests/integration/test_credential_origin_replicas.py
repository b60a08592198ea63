"""A stored credential goes only to the Jenkins origin it is bound to, across replicas and
when it is written again (the setup is the one of test_credential_origin.py, in
tests/support/origin.py)."""

from __future__ import annotations

import time

import pytest
import requests

from tests.support import wait_for
from tests.support.origin import (
    PASSWORD,
    PROMISE,
    SLACK,
    accepted_by,
    assert_logs_clean,
    assert_never_sent,
    assert_no_authorization,
    cli_ok,
    errors,
    kv_origin,
    kv_record,
    mint,
    minted,
    move_url,
    origin_of,
    refused_for_move,
    stored_secret,
    wait_refused,
    write_pre_origin,
)

pytestmark = pytest.mark.integration

# -- 4 -----------------------------------------------------------------------------------

def test_a_replica_that_never_used_the_credential_refuses_it_after_the_move_within_5_seconds(
        ostack, brokers, listener):
    jenkins = ostack.jenkins
    replica_a, replica_b = brokers.start(), brokers.start()
    uuid, secret = jenkins.add_token("ci-bot", name="stored by an older broker")
    write_pre_origin(ostack, "shared-pre-origin", "ci-bot", "token", secret, token_uuid=uuid)
    cli_ok(ostack, "credentials", "write", "b-own", "--username", "ci-bot",
           "--password-env", "CI_BOT_PASSWORD", env={"CI_BOT_PASSWORD": PASSWORD})
    role = ostack.role("two-replicas", credential="shared-pre-origin")
    warm = ostack.role("b-warm-up", strategy="user-password", credential="b-own")
    ci, ci_warm = ostack.consumer(role), ostack.consumer(warm)

    minted(replica_a, role, ci)  # replica A uses it first: bound to the configured Jenkins
    old, new = origin_of(jenkins.url), origin_of(listener.url)
    origin = kv_origin(ostack, "shared-pre-origin")
    assert origin == old
    # Replica B holds the Jenkins connection in its cache (another role's mint), never this
    # credential: after the move it has to learn the binding from Vault.
    minted(replica_b, warm, ci_warm)

    written = move_url(ostack, listener.url)
    for broker in (replica_b, replica_a):
        error = wait_refused(broker, role, ci, old, new, written)
        assert "write the credential again" in error
    origin = kv_origin(ostack, "shared-pre-origin")
    assert origin == old
    assert_no_authorization(listener)
    assert_never_sent(listener, secret, "the credential bound by replica A")
    assert_logs_clean(brokers, secret)


# -- 5 -----------------------------------------------------------------------------------

def test_writing_the_credential_again_for_the_new_url_makes_mints_work_there(
        ostack, brokers, jenkins2):
    jenkins = ostack.jenkins
    replica_a, replica_b = brokers.start(), brokers.start()
    uuid, secret = jenkins.add_token("ci-bot", name="stored by an older broker")
    write_pre_origin(ostack, "via-api", "ci-bot", "token", secret, token_uuid=uuid)
    write_pre_origin(ostack, "via-cli", "ci-bot", "password", PASSWORD)
    api_role = ostack.role("rewritten-api", credential="via-api")
    cli_role = ostack.role("rewritten-cli", strategy="user-password", credential="via-cli")
    consumers = {api_role: ostack.consumer(api_role), cli_role: ostack.consumer(cli_role)}
    for role, ci in consumers.items():
        minted(replica_a, role, ci)
    old, new = origin_of(jenkins.url), origin_of(jenkins2.url)

    written = move_url(ostack, jenkins2.url)
    for broker in (replica_a, replica_b):
        for role, ci in consumers.items():
            wait_refused(broker, role, ci, old, new, written)

    # Through the broker API (replica A, which has seen the move): a token of the new
    # Jenkins, which the broker rotates there at once.
    given_uuid, given = jenkins2.add_token("ci-bot", name="for the new URL")
    answer = requests.post(f"{replica_a}/v1/jenkins/credentials/via-api",
                           headers={"X-Vault-Token": ostack.bao.root_token},
                           json={"username": "ci-bot", "token": given}, timeout=30)
    assert answer.status_code == 200, errors(answer)
    result = answer.json()["data"]
    assert result["rotated"] is True and result["previous_token_uuid"] == given_uuid, result
    record, _ = kv_record(ostack, "via-api")
    origin = record.get("origin")
    assert origin == new
    rotated = stored_secret(ostack, "via-api") != given
    assert rotated, "the given token was stored instead of the broker's own"
    given_works = accepted_by(jenkins2, "ci-bot", given)
    assert not given_works, "the rotation left the given token live"
    # Through the CLI, straight to Vault.
    cli_ok(ostack, "credentials", "write", "via-cli", "--username", "ci-bot",
           "--password-env", "CI_BOT_PASSWORD", env={"CI_BOT_PASSWORD": PASSWORD})
    rewritten = time.monotonic()
    origin = kv_origin(ostack, "via-cli")
    assert origin == new

    minted_tokens = []
    for broker in (replica_a, replica_b):
        for role, ci in consumers.items():
            def works(broker=broker, role=role, ci=ci):
                got = mint(broker, role, ci)
                return got.status_code == 200 and got.json()["data"]
            data = wait_for(works, timeout=max(PROMISE + SLACK - (time.monotonic() - rewritten), 0.5),
                            interval=0.2, what=f"{broker} to mint role {role} on the new Jenkins")
            minted_tokens.append(data["token"])
            assert data["jenkins_url"] == jenkins2.url
            on_new = accepted_by(jenkins2, data["username"], data["token"])
            on_old = accepted_by(jenkins, data["username"], data["token"])
            assert on_new and not on_old, f"role {role} on {broker}: new {on_new}, old {on_old}"
    assert_logs_clean(brokers, secret, given, stored_secret(ostack, "via-api"), *minted_tokens)


# -- a credential written again through a replica that has not seen the move yet -------

def test_a_credential_written_again_right_after_the_url_is_restored_never_reaches_the_old_origin(
        ostack, brokers, listener):
    """Someone with ``jenkins/config`` write moves the URL to their listener through a
    replica; the bound credential is refused there. The administrator moves the URL back
    with the CLI and, as the refusal says, writes a fresh token through the broker at once.
    That token is for the real Jenkins and must never reach the listener. The replica's
    cache lifetime is raised to 60 s only to make its window deterministic; the default 5 s
    leaves the same window, shorter."""
    jenkins = ostack.jenkins
    broker = brokers.start(cache_seconds=60)
    root = {"X-Vault-Token": ostack.bao.root_token}
    cli_ok(ostack, "credentials", "write", "recovered", "--username", "ci-bot",
           "--password-env", "CI_BOT_PASSWORD", env={"CI_BOT_PASSWORD": PASSWORD})
    role = ostack.role("recovery", strategy="user-password", credential="recovered")
    ci = ostack.consumer(role)
    real, theirs = origin_of(jenkins.url), origin_of(listener.url)

    moved = requests.post(f"{broker}/v1/jenkins/config", headers=root, json={"url": listener.url},
                          timeout=10)
    assert moved.status_code in (200, 204), errors(moved)
    refused = refused_for_move(mint(broker, role, ci), real, theirs)
    assert refused

    move_url(ostack, jenkins.url)  # the administrator puts it back, straight to Vault
    _, fresh = jenkins.add_token("ci-bot", name="written again after the incident")
    answer = requests.post(f"{broker}/v1/jenkins/credentials/recovered", headers=root,
                           json={"username": "ci-bot", "token": fresh}, timeout=30)
    assert_never_sent(listener, fresh, "the token written for the restored URL")
    assert answer.status_code == 200, errors(answer)
    origin = kv_origin(ostack, "recovered")
    assert origin == real
    assert_logs_clean(brokers, PASSWORD, fresh)
