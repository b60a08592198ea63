"""The broker end to end: real OpenBao, the fake Jenkins, the unmodified `bao` CLI.

The broker runs with its AppRole and the jenkins-broker policy only.
"""

import time

import pytest
import requests

from tests.support import wait_for
from tests.support.stack import STACK_SETTINGS

pytestmark = pytest.mark.integration


def whoami(stack, user, token):
    return requests.get(f"{stack.jenkins.url}whoAmI/api/json", auth=(user, token), timeout=5)


def test_bao_read_through_the_broker_mints_a_new_working_token_each_time(stack):
    stack.role("cli-role", ttl="1h")
    ci = stack.consumer("cli-role")
    first = stack.bao_json("read", "jenkins/creds/cli-role", token=ci)
    second = stack.bao_json("read", "jenkins/creds/cli-role", token=ci)
    assert first["lease_id"] != second["lease_id"] and first["data"]["token"] != second["data"]["token"]
    assert first["lease_id"].startswith("jenkins/creds/cli-role/") and first["lease_duration"] == 3600
    for secret in (first, second):
        assert whoami(stack, "ci-bot", secret["data"]["token"]).json()["name"] == "ci-bot"

    looked = stack.bao_json("lease lookup", first["lease_id"], token=ci)
    assert looked["data"]["id"] == first["lease_id"] and looked["data"]["renewable"] is True
    renewed = stack.bao_json("lease renew", "-increment=120", first["lease_id"], token=ci)
    assert renewed["lease_duration"] == 120

    # A consumer may not revoke; a token with the auditor policy may, with the stock CLI.
    denied = stack.bao_cli("lease", "revoke", first["lease_id"], token=ci, check=False)
    assert denied.returncode != 0 and "permission denied" in denied.stderr
    auditor = stack.token("jenkins-auditor")
    listed = stack.bao_json("list", "sys/leases/lookup/jenkins/creds/cli-role", token=auditor)
    assert {first["lease_id"].rsplit("/", 1)[1], second["lease_id"].rsplit("/", 1)[1]} <= set(listed)
    stack.bao_cli("lease", "revoke", first["lease_id"], token=auditor)
    assert whoami(stack, "ci-bot", first["data"]["token"]).status_code == 401
    assert whoami(stack, "ci-bot", second["data"]["token"]).status_code == 200
    stack.bao_cli("lease", "revoke", "-prefix", "jenkins/creds/cli-role", token=auditor)
    assert whoami(stack, "ci-bot", second["data"]["token"]).status_code == 401


def test_error_shapes(stack):
    stack.role("shapes")
    ci = stack.consumer("shapes")
    root = stack.bao.root_token
    cases = [(stack.mint("shapes", ""), 403), (stack.mint("shapes", stack.token("default")), 403),
             (stack.mint("nope", root), 404), (stack.mint("shapes", "not-a-real-token"), 403),
             (stack.mint("shapes", ci, ttl="forever"), 400)]
    for resp, status in cases:
        assert resp.status_code == status, resp.text
        assert list(resp.json()) == ["errors"] and resp.json()["errors"][0]


@pytest.mark.parametrize("strategy,credential,user", [
    ("user-token", "ci-bot-token", "ci-bot"),
    ("user-password", "ci-bot-password", "ci-bot"),
    ("admin-script", "admin", "deployer"),
    ("admin-rest", "admin", "deployer"),
    ("legacy", "deployer", "deployer"),
])
def test_every_strategy_mints_and_expiry_revokes_within_two_seconds(stack, strategy, credential, user):
    role = stack.role(f"s-{strategy}", strategy=strategy, credential=credential, jenkins_user=user,
                      ttl=3)
    ci = stack.consumer(role)
    resp = stack.mint(role, ci)
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert data["username"] == user and whoami(stack, user, data["token"]).status_code == 200
    expires = time.time() + resp.json()["lease_duration"]
    wait_for(lambda: whoami(stack, user, data["token"]).status_code == 401, timeout=10,
             what=f"{strategy} token revoked")
    assert time.time() - expires < 2.0
    # The record goes right after Jenkins confirms (the token dies first).
    wait_for(lambda: stack.services.store.list_leases(role) == [], timeout=5, what="the record deleted")


def test_shared_mode_rotation_read_from_vault_itself(stack):
    role = stack.role("shared-ci", ttl=4, shared=True)
    ci = stack.consumer(role)
    wait_for(lambda: stack.admin_store.read_shared(role), what="first rotation")
    via_vault = stack.bao_json("read", f"jenkins/creds/{role}", addr=stack.bao.addr, token=ci)
    assert via_vault["data"]["username"] == "ci-bot"
    assert via_vault["data"]["ttl"] == "2s"  # shown by `vault read` as refresh_interval
    token = via_vault["data"]["token"]
    assert whoami(stack, "ci-bot", token).status_code == 200
    # Rotated every 2s; each value lives until its own lease ends, then dies.
    wait_for(lambda: stack.admin_store.read_shared(role)["token"] != token, timeout=6, what="rotation")
    assert whoami(stack, "ci-bot", token).status_code == 200
    wait_for(lambda: whoami(stack, "ci-bot", token).status_code == 401, timeout=6, what="old token revoked")
    stack.admin_store.delete_role(role)  # stop rotating


def test_a_restarted_broker_revokes_what_expired_while_it_was_down(stack):
    role = stack.role("restart", ttl=2)
    ci = stack.consumer(role)
    secret = stack.mint(role, ci).json()
    token, ends = secret["data"]["token"], time.time() + secret["lease_duration"]
    stack.stop_broker()
    try:
        wait_for(lambda: time.time() > ends + 0.5, timeout=5, what="the lease to end with no broker")
        assert whoami(stack, "ci-bot", token).status_code == 200
    finally:
        stack.start_broker(**STACK_SETTINGS)
    wait_for(lambda: whoami(stack, "ci-bot", token).status_code == 401, timeout=5,
             what="token revoked after restart")


def test_orphaned_token_is_found_by_prefix_and_revoked(stack):
    role = stack.role("orphans")
    uuid, value = stack.jenkins.add_token("ci-bot", name=f"jenkins-broker-{role}-0123456789abcdef01234567")
    _, unrelated = stack.jenkins.add_token("ci-bot", name="somebody's own token")
    # The broker owns ci-bot: a token nothing accounts for is foreign, and revoked too.
    wait_for(lambda: stack.services.reconciler.run() and all(
        whoami(stack, "ci-bot", t).status_code == 401 for t in (value, unrelated)),
        timeout=10, interval=0.5, what="the orphan and the foreign token revoked")


def test_engine_tokens_past_their_lease_deadline_are_revoked_by_reconciliation(stack):
    """Plugin mode's backstop: a token the secrets engine named, whose deadline is past,
    has no Vault lease left, so the broker revokes it; one before its deadline stays when
    the engine is declared to share the broker's users (its own reconciliation then
    accounts for it by uuid). The engine's own credential belongs on a user no broker role
    names: a token named like it here is foreign."""
    from jenkins_broker.domain.reconcile import Reconciler
    stack.role("engine-backstop")  # a broker role naming ci-bot, so ci-bot is scanned
    now = int(time.time())
    _, past = stack.jenkins.add_token("ci-bot", name=f"vault-jenkins-ci-bot-{now - 3600}-0123abcd")
    _, future = stack.jenkins.add_token("ci-bot", name=f"vault-jenkins-ci-bot-{now + 3600}-0123abce")
    _, root = stack.jenkins.add_token("ci-bot", name=f"vault-jenkins-root-{now - 3600}-0123abcf")
    services = stack.services
    Reconciler(services.store, services.gateway, metrics=services.metrics, grace=1,
               index=services.reaper, engine_shares_users=True).run()
    assert whoami(stack, "ci-bot", past).status_code == 401
    assert whoami(stack, "ci-bot", future).status_code == 200
    assert whoami(stack, "ci-bot", root).status_code == 401


def test_health_and_metrics(stack):
    assert requests.get(f"{stack.broker_url}/v1/sys/health", timeout=5).json()["sealed"] is False
    text = requests.get(f"{stack.broker_url}/metrics", headers={"X-Vault-Token": stack.bao.root_token}, timeout=5).text
    assert "jenkins_broker_mints_total" in text and "jenkins_broker_revocation_lag_seconds" in text


def test_a_token_that_loses_its_rights_gets_nothing_even_on_the_fast_path(stack):
    """Repeat mints overlap the capability check with the Jenkins call; a mint whose
    check now says no is revoked before anything is answered."""
    role = stack.role("fastpath")
    client = stack.bao.client()
    client.sys.create_or_update_acl_policy("fastpath", 'path "jenkins/creds/fastpath" { capabilities = ["read"] }')
    ci = stack.token("fastpath")
    first = stack.mint(role, ci)
    second = stack.mint(role, ci)  # within the minute: the fast path
    assert first.status_code == second.status_code == 200
    client.sys.create_or_update_acl_policy("fastpath", 'path "jenkins/creds/other" { capabilities = ["read"] }')
    before = {t["name"] for t in stack.jenkins.tokens("ci-bot")}
    denied = stack.mint(role, ci)
    assert denied.status_code == 403 and "permission denied" in denied.json()["errors"][0]
    made = {t["name"] for t in stack.jenkins.tokens("ci-bot")} - before
    assert not made, "the speculative token was left in Jenkins"
    leases = {f"jenkins/creds/{role}/{s}" for s in stack.services.store.list_leases(role)}
    assert leases == {first.json()["lease_id"], second.json()["lease_id"]}
    # A revoked Vault token is refused at once too.
    client.sys.create_or_update_acl_policy("fastpath", 'path "jenkins/creds/fastpath" { capabilities = ["read"] }')
    assert stack.mint(role, ci).status_code == 200
    client.auth.token.revoke(ci)
    assert stack.mint(role, ci).status_code == 403


def test_a_malformed_lease_record_neither_stops_the_broker_nor_hides_its_token(stack):
    role = stack.role("malformed")
    suffix = "00000000000000000000beef"
    _, value = stack.jenkins.add_token("ci-bot", name=f"jenkins-broker-{role}-{suffix}")
    stack.admin_store.kv.write(f"leases/{role}/{suffix}", {"written": "by hand"})
    stack.stop_broker()
    stack.start_broker(**STACK_SETTINGS)  # loading it must not fail
    wait_for(lambda: (role, suffix) in stack.services.store.malformed, timeout=10,
             what="the malformed record to be noticed at load")
    wait_for(lambda: stack.services.reconciler.run() and whoami(stack, "ci-bot", value).status_code == 401,
             timeout=10, interval=0.5, what="its token revoked by name")
    assert stack.admin_store.list_leases(role) == []
