"""The short-lifetime promise against failures and against the token's holder (issue 11).

Each test is one way a Jenkins token could outlive what its lease or its caller
allow, tried as the attacker or the failure would: a revocation asked for while
Jenkins fails, the broker killed after claiming one, ten revocations of one lease
at once. Real OpenBao, the fake Jenkins, the broker in-process (or as killed
processes).
"""

from __future__ import annotations

import logging
import signal
import threading
import time

import pytest
import requests

from jenkins_broker.fakejenkins import FakeJenkins, FakeUser
from jenkins_broker.observability import AUDIT_LOGGER
from jenkins_broker.vault import BaoDevServer
from tests.support import stop_process, wait_for
from tests.support.stack import running_stack, spawn_broker

pytestmark = pytest.mark.integration

# Retries 0.2 s doubling to 1 s: a test sees several attempts within seconds.
FAST = dict(resync_interval=1, reconcile_interval=1, orphan_grace=1, retry_base=0.2, retry_cap=1,
            claim_timeout=1, credential_check_interval=1, token_check_interval=1)


@pytest.fixture(scope="module")
def lstack():
    jenkins = FakeJenkins([FakeUser("admin", "adminpw", admin=True), FakeUser("ci-bot", "botpw")],
                          version="2.555.1")
    with running_stack(BaoDevServer(), jenkins, FAST, timeout=1.5,
                       passwords={"admin-password": ("admin", "adminpw")}) as st:
        yield st


@pytest.fixture(autouse=True)
def _jenkins_healthy(lstack):
    yield
    lstack.jenkins.set_fault(None)
    lstack.jenkins.latency = 0.0


def whoami(st, token):
    return requests.get(f"{st.jenkins.url}whoAmI/api/json", auth=("ci-bot", token), timeout=5).status_code


def put(st, path, token, body=None, base=None):
    return requests.put(f"{base or st.broker_url}/v1/{path}", json=body,
                        headers={"X-Vault-Token": token}, timeout=15)


def ask_revocation(st, how, role, lease_id, auditor):
    """Ask for a revocation the way an auditor would: one lease, a prefix, the incident button."""
    if how == "lease":
        return put(st, "sys/leases/revoke", auditor, {"lease_id": lease_id})
    if how == "prefix":
        return put(st, f"sys/leases/revoke-prefix/jenkins/creds/{role}", auditor)
    return requests.post(f"{st.broker_url}/v1/jenkins/revoke/{role}", headers={"X-Vault-Token": auditor},
                         timeout=15)


# -- 1. Asked-for revocation is revocation done ---------------------------------------------

@pytest.mark.parametrize("how", ["lease", "prefix", "incident"])
def test_a_failed_asked_for_revocation_is_retried_at_once_and_the_lease_cannot_be_renewed(lstack, how):
    role = lstack.role(f"asked-{how}", ttl="1h", max_ttl="2h")
    ci, auditor = lstack.consumer(role), lstack.token("jenkins-auditor")
    minted = lstack.mint(role, ci).json()
    lease_id, token = minted["lease_id"], minted["data"]["token"]
    lstack.jenkins.set_fault("error500")
    asked = ask_revocation(lstack, how, role, lease_id, auditor)
    assert asked.status_code >= 500 or asked.json()["data"]["failed"] == 1, asked.text

    # The holder cannot stretch the token's life while the revocation is pending.
    renewed = put(lstack, "sys/leases/renew", ci, {"lease_id": lease_id, "increment": "2h"})
    assert renewed.status_code == 400, renewed.text
    assert "being revoked" in renewed.json()["errors"][0]
    looked = put(lstack, "sys/leases/lookup", ci, {"lease_id": lease_id}).json()["data"]
    assert looked["renewable"] is False and looked["state"] == "revoking"

    recovered = time.monotonic()
    lstack.jenkins.set_fault(None)
    # Retried from the request with the configured backoff (cap 1 s), not at expiry (1 h).
    wait_for(lambda: whoami(lstack, token) == 401, timeout=10, interval=0.05,
             what="the revocation to be retried once Jenkins answers")
    print(f"\nfigure: Jenkins recovered -> revocation done in {time.monotonic() - recovered:.2f}s")
    wait_for(lambda: lstack.admin_store.list_leases(role) == [], timeout=5, what="record deleted")


def test_concurrent_revocations_of_one_lease_act_once(lstack, caplog):
    role = lstack.role("revoke-race", ttl="1h")
    ci, auditor = lstack.consumer(role), lstack.token("jenkins-auditor")
    lease_id = lstack.mint(role, ci).json()["lease_id"]
    lstack.jenkins.latency = 0.3  # the first revocation is still in Jenkins while the others arrive
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(
        put(lstack, "sys/leases/revoke", auditor, {"lease_id": lease_id}).status_code)) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [204] * 10
    acted = [r for r in caplog.records if r.name == AUDIT_LOGGER and '"event": "revoke"' in r.getMessage()
             and lease_id in r.getMessage()]
    assert len(acted) == 1, [r.getMessage() for r in acted]


def test_a_broker_killed_after_claiming_an_asked_for_revocation_is_finished_by_its_successor(
        lstack, tmp_path):
    lstack.stop_broker()
    try:
        role = lstack.role("asked-crash", ttl="1h")
        ci, auditor = lstack.consumer(role), lstack.token("jenkins-auditor")
        proc, url = spawn_broker(lstack, tmp_path, FAST, crash_at="revoke:after-claim")
        try:
            minted = requests.get(f"{url}/v1/jenkins/creds/{role}", headers={"X-Vault-Token": ci},
                                  timeout=15).json()
            with pytest.raises(requests.ConnectionError):
                put(lstack, "sys/leases/revoke", auditor, {"lease_id": minted["lease_id"]}, base=url)
            assert proc.wait(10) == -signal.SIGKILL
        finally:
            stop_process(proc, 15)
        assert whoami(lstack, minted["data"]["token"]) == 200
        successor, url = spawn_broker(lstack, tmp_path, FAST)
        try:
            # The claim holds for the longest a revocation can take (8 Jenkins timeouts of 1.5 s);
            # then the successor retries: not at the expiry an hour away.
            renewed = put(lstack, "sys/leases/renew", ci, {"lease_id": minted["lease_id"]}, base=url)
            assert renewed.status_code == 400, renewed.text
            wait_for(lambda: whoami(lstack, minted["data"]["token"]) == 401, timeout=30,
                     what="the successor to finish the revocation")
        finally:
            stop_process(successor, 15)
    finally:
        lstack.start_broker(**FAST)


# -- 4. The shared value is never a dead token -----------------------------------------------

def shared_value(st, role):
    return st.admin_store.read_shared(role)


@pytest.mark.parametrize("how", ["prefix", "incident"])
def test_revoking_the_current_shared_token_publishes_a_fresh_one_at_once(lstack, how):
    role = lstack.role(f"shared-{how}", ttl="1h", shared=True)  # next rotation in 30 minutes
    auditor = lstack.token("jenkins-auditor")
    first = wait_for(lambda: shared_value(lstack, role), what="the first rotation")
    assert whoami(lstack, first["token"]) == 200
    asked = ask_revocation(lstack, how, role, first["lease_id"], auditor)
    assert asked.status_code in (200, 204), asked.text
    assert whoami(lstack, first["token"]) == 401
    # Published before the revocation answered: no reader ever gets the dead token.
    now = shared_value(lstack, role)
    assert now["token"] != first["token"] and whoami(lstack, now["token"]) == 200
    lstack.admin_store.delete_role(role)


def test_suspending_a_role_refuses_mints_removes_the_shared_value_and_revokes_everything(lstack):
    role = lstack.role("suspend-me", ttl="1h", shared=True)
    ci, auditor = lstack.consumer(role), lstack.token("jenkins-auditor")
    shared = wait_for(lambda: shared_value(lstack, role), what="the first rotation")
    leased = lstack.mint(role, ci).json()["data"]["token"]
    answer = requests.post(f"{lstack.broker_url}/v1/jenkins/revoke/{role}", json={"suspend": True},
                           headers={"X-Vault-Token": auditor}, timeout=15)
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["revoked"] == 2 and answer.json()["data"]["suspended"] is True
    assert whoami(lstack, shared["token"]) == 401 and whoami(lstack, leased) == 401
    assert shared_value(lstack, role) is None
    refused = lstack.mint(role, ci)
    assert refused.status_code == 403 and "suspended" in refused.json()["errors"][0], refused.text
    wait_for(lambda: lstack.services.rotator.tick() is not None, what="a rotator pass")
    assert shared_value(lstack, role) is None
    # An administrator lifts the suspension; mints and the shared value come back.
    lstack.role(role, ttl="1h", shared=True, disabled=False)
    wait_for(lambda: lstack.mint(role, ci).status_code == 200, timeout=10, what="mints again")
    wait_for(lambda: shared_value(lstack, role), timeout=10, what="the shared value again")
    lstack.admin_store.delete_role(role)


# -- 3. Leases follow the caller's Vault token, as in Vault ------------------------------------

def test_a_lease_is_capped_at_the_callers_token_ttl_at_mint_and_at_renewal(lstack):
    role = lstack.role("token-ttl", ttl="1h", max_ttl="2h")
    lstack.consumer(role)
    ci = lstack.token(f"consumer-{role}", ttl="20s")
    minted = lstack.mint(role, ci).json()
    assert 15 <= minted["lease_duration"] <= 20, minted
    renewed = put(lstack, "sys/leases/renew", ci, {"lease_id": minted["lease_id"], "increment": "1h"}).json()
    assert 10 <= renewed["lease_duration"] <= 20, renewed
    assert any("token" in w for w in renewed["warnings"]), renewed


def test_revoking_the_callers_vault_token_revokes_its_jenkins_tokens_within_seconds(lstack):
    role = lstack.role("token-revoked", ttl="1h")
    lstack.consumer(role)
    ci = lstack.token(f"consumer-{role}")
    other = lstack.token(f"consumer-{role}")
    tokens = [lstack.mint(role, ci).json()["data"]["token"] for _ in range(3)]
    kept = lstack.mint(role, other).json()["data"]["token"]
    revoked_at = time.monotonic()
    lstack.bao.client().auth.token.revoke(ci)
    wait_for(lambda: all(whoami(lstack, t) == 401 for t in tokens), timeout=10, interval=0.1,
             what="the revoked token's Jenkins tokens to be revoked")
    print(f"\nfigure: vault token revoke -> 401 in Jenkins in {time.monotonic() - revoked_at:.2f}s")
    assert whoami(lstack, kept) == 200  # another caller's lease is untouched


def test_revoking_a_parent_token_revokes_the_childrens_jenkins_tokens(lstack):
    role = lstack.role("token-parent", ttl="1h")
    lstack.consumer(role)
    root = lstack.bao.client()
    root.sys.create_or_update_acl_policy("child-tokens", 'path "auth/token/create" '
                                         '{ capabilities = ["create", "update"] }\n')
    parent = lstack.token(f"consumer-{role}", "child-tokens")
    child = lstack.bao.client()
    child.token = parent
    child_token = child.auth.token.create(policies=[f"consumer-{role}"], ttl="1h")["auth"]["client_token"]
    token = lstack.mint(role, child_token).json()["data"]["token"]
    lstack.bao.client().auth.token.revoke(parent)
    wait_for(lambda: whoami(lstack, token) == 401, timeout=10, interval=0.1,
             what="the child's Jenkins token to be revoked")


def test_a_read_spends_one_use_of_a_use_limited_token(lstack):
    role = lstack.role("token-uses", ttl="1h")
    lstack.consumer(role)
    two = lstack.bao.client().auth.token.create(policies=[f"consumer-{role}"], ttl="1h",
                                                num_uses=2)["auth"]["client_token"]
    first = lstack.mint(role, two)
    assert first.status_code == 200, first.text
    # One use left: the token still works in Vault, and the lease lives.
    assert lstack.bao.client().auth.token.lookup(two)["data"]["num_uses"] == 1
    assert whoami(lstack, first.json()["data"]["token"]) == 200
    # Its last use: identifying it ends it, and a lease cannot outlive it; refused, and why.
    last = lstack.mint(role, two)
    assert last.status_code == 403 and "one use left" in last.json()["errors"][0], last.text


def test_batch_tokens_have_no_accessor_and_are_capped_by_ttl(lstack):
    role = lstack.role("token-batch", ttl="1h")
    lstack.consumer(role)
    batch = lstack.bao.client().auth.token.create(policies=[f"consumer-{role}"], ttl="30s",
                                                  type="batch")["auth"]["client_token"]
    minted = lstack.mint(role, batch)
    assert minted.status_code == 200, minted.text
    assert minted.json()["lease_duration"] <= 30


# -- 2. The broker owns the Jenkins users its roles name ---------------------------------------

GENERATE = "user/ci-bot/descriptorByName/jenkins.security.ApiTokenProperty/generateNewToken"


def holder_mints_its_own(st, leased, name="mine"):
    """What a holder can do with a leased token: make itself one that never expires."""
    made = requests.post(f"{st.jenkins.url}{GENERATE}", data={"newTokenName": name},
                         auth=("ci-bot", leased), timeout=5)
    assert made.status_code == 200, made.text
    return made.json()["data"]["tokenValue"]


def test_a_token_a_holder_mints_with_its_leased_token_is_revoked(lstack, caplog):
    role = lstack.role("holder", ttl="1h")
    ci = lstack.consumer(role)
    leased = lstack.mint(role, ci).json()["data"]["token"]
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    own = holder_mints_its_own(lstack, leased)
    assert whoami(lstack, own) == 200
    made = time.monotonic()
    wait_for(lambda: whoami(lstack, own) == 401, timeout=15, interval=0.1,
             what="the holder's own token to be revoked")
    print(f"\nfigure: foreign token detected and revoked in {time.monotonic() - made:.2f}s")
    assert whoami(lstack, leased) == 200  # the lease itself lives on
    assert lstack.mint(role, ci).status_code == 200  # and the broker's credential too
    lines = [r.getMessage() for r in caplog.records if r.name == AUDIT_LOGGER
             and '"foreign-token-revoked"' in r.getMessage()]
    assert lines and '"token_name": "mine"' in lines[0] and '"jenkins_user": "ci-bot"' in lines[0]
    assert own not in "".join(lines)


def test_a_forged_name_does_not_hide_a_foreign_token(lstack):
    role = lstack.role("forger", ttl="1h")
    ci = lstack.consumer(role)
    minted = lstack.mint(role, ci).json()
    leased = minted["data"]["token"]
    # The exact name of its own live lease token, and a broker credential's name.
    twin = holder_mints_its_own(lstack, leased, name=minted["data"]["token_name"])
    fake_credential = holder_mints_its_own(lstack, leased, name="jenkins-broker-credential-ci-bot-token")
    wait_for(lambda: whoami(lstack, twin) == 401 and whoami(lstack, fake_credential) == 401, timeout=15,
             interval=0.1, what="the forged tokens to be revoked")
    assert whoami(lstack, leased) == 200


def test_report_mode_audits_and_keeps_the_token(lstack, caplog):
    role = lstack.role("people-use-it", ttl="1h", jenkins_user="admin", strategy="admin-script",
                       credential="admin-password", foreign_tokens="report")
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    uuid, value = lstack.jenkins.add_token("admin", name="a person's token")
    wait_for(lambda: any('"foreign-token-found"' in r.getMessage() and uuid in r.getMessage()
                         for r in caplog.records if r.name == AUDIT_LOGGER), timeout=15,
             what="the foreign token to be reported")
    assert requests.get(f"{lstack.jenkins.url}whoAmI/api/json", auth=("admin", value),
                        timeout=5).status_code == 200
    lstack.admin_store.delete_role(role)


def health(st):
    return requests.get(f"{st.broker_url}/v1/sys/health", headers={"X-Vault-Token": st.bao.root_token}, timeout=5).json()


def test_a_holder_revoking_the_brokers_credential_is_noticed_at_once(lstack, caplog):
    role = lstack.role("credential-killer", ttl="1h")
    ci = lstack.consumer(role)
    leased = lstack.mint(role, ci).json()["data"]["token"]
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    wait_for(lambda: health(lstack)["broker"]["credentials"].get("ci-bot-token") == "ok", what="a first check")
    # The user's token list shows every uuid; the holder revokes the broker's credential.
    credential = lstack.admin_store.get_credential("ci-bot-token")
    killed = requests.post(f"{lstack.jenkins.url}user/ci-bot/descriptorByName/jenkins.security."
                           "ApiTokenProperty/revoke", data={"tokenUuid": credential.token_uuid},
                           auth=("ci-bot", leased), timeout=5)
    assert killed.status_code == 200
    wait_for(lambda: health(lstack)["broker"]["credentials"]["ci-bot-token"] == "rejected", timeout=10,
             what="the health detail to say so")
    metrics = requests.get(f"{lstack.broker_url}/metrics", headers={"X-Vault-Token": lstack.bao.root_token}, timeout=5).text
    assert 'jenkins_broker_credential_ok{credential="ci-bot-token"} 0.0' in metrics
    assert any('"credential-rejected"' in r.getMessage() for r in caplog.records if r.name == AUDIT_LOGGER)
    # The platform team writes a fresh token: it is rotated at once, and all works again.
    uuid, fresh = lstack.jenkins.add_token("ci-bot", name="new bootstrap")
    admin = lstack.token("jenkins-admin")
    written = requests.post(f"{lstack.broker_url}/v1/jenkins/credentials/ci-bot-token",
                            json={"username": "ci-bot", "token": fresh},
                            headers={"X-Vault-Token": admin}, timeout=15)
    assert written.status_code == 200, written.text
    result = written.json()["data"]
    assert result["rotated"] and result["previous_token_uuid"] == uuid and result["previous_revoked"]
    assert fresh not in written.text and whoami(lstack, fresh) == 401
    wait_for(lambda: health(lstack)["broker"]["credentials"]["ci-bot-token"] == "ok", timeout=10,
             what="the credential to be accepted again")
    assert lstack.mint(role, ci).status_code == 200


# -- 5. Caps hold across replicas --------------------------------------------------------------

def test_max_live_tokens_holds_across_two_replicas(lstack):
    with lstack.replica(**FAST) as (_, other_url):
        role = lstack.role("capped", ttl="1h", max_live_tokens=3)
        ci = lstack.consumer(role)
        lstack.jenkins.latency = 0.2  # every mint is in flight while the others decide
        statuses = []

        def mint(base):
            statuses.append(requests.get(f"{base}/v1/jenkins/creds/{role}", headers={"X-Vault-Token": ci},
                                         timeout=15).status_code)
        threads = [threading.Thread(target=mint, args=(base,))
                   for base in (lstack.broker_url, other_url) for _ in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(statuses) == [200] * 3 + [429] * 7, statuses
        assert len(lstack.admin_store.list_leases(role)) == 3


def test_a_revocation_asked_on_a_replica_that_dies_is_finished_by_another(lstack):
    role = lstack.role("replica-dies", ttl="1h")
    ci, auditor = lstack.consumer(role), lstack.token("jenkins-auditor")
    minted = lstack.mint(role, ci).json()  # the surviving replica knows this lease, due in 1 h
    wait_for(lambda: lstack.services.reaper.known_record(role, minted["lease_id"].rpartition("/")[2]),
             what="the lease in the surviving replica's index")
    with lstack.replica(**FAST) as (_, other_url):
        lstack.jenkins.set_fault("error500")
        asked = put(lstack, "sys/leases/revoke", auditor, {"lease_id": minted["lease_id"]}, base=other_url)
        assert asked.status_code == 502, asked.text
    # The replica that was asked is gone.
    lstack.jenkins.set_fault(None)
    wait_for(lambda: whoami(lstack, minted["data"]["token"]) == 401, timeout=10,
             what="the surviving replica to finish the revocation")
