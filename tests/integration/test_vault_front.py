"""Broker mode is a Vault front: the Vault CLI and hvac, pointed at the broker, do what they
do against OpenBao itself (logins, token lookups, status, capabilities, cubbyhole,
wrapping, other mounts), and reads of jenkins/creds/<role> still mint."""

import json

import hvac
import pytest
import requests

from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def test_the_vault_cli_works_pointed_at_the_broker(stack):
    ci = stack.consumer("front-role")
    stack.role("front-role")
    status = stack.bao_json("status", token="")
    assert status["sealed"] is False and status["initialized"] is True
    assert status["version"] == stack.bao_json("status", token="", addr=stack.bao.addr)["version"]

    login = stack.bao_cli("login", "-no-store", "-format=json", ci, token="")
    assert json.loads(login.stdout)["auth"]["policies"] == ["consumer-front-role", "default"]
    looked = stack.bao_json("token lookup", token=ci)
    assert looked["data"]["policies"] == ["consumer-front-role", "default"]
    caps = stack.bao_cli("token", "capabilities", "jenkins/creds/front-role", token=ci)
    assert caps.stdout.strip() == "read"

    # Another mount, written and read through the broker, is Vault's.
    root = stack.bao.root_token
    stack.bao_cli("write", "cubbyhole/front", "value=kept", token=root)
    assert stack.bao_json("read", "cubbyhole/front", token=root)["data"]["value"] == "kept"

    # And the broker's own path still mints, under a lease the broker answers for.
    minted = stack.bao_json("read", "jenkins/creds/front-role", token=ci)
    assert minted["lease_id"].startswith("jenkins/creds/front-role/")
    looked = stack.bao_json("lease lookup", minted["lease_id"], token=ci)
    assert looked["data"]["id"] == minted["lease_id"]


def test_hvac_pointed_at_the_broker(stack):
    ci = stack.consumer("front-hvac")
    stack.role("front-hvac")
    client = hvac.Client(url=stack.broker_url, token=ci)
    try:
        assert client.is_authenticated() is True
        assert client.sys.is_sealed() is False
        assert client.auth.token.lookup_self()["data"]["policies"] == ["consumer-front-hvac",
                                                                       "default"]
        minted = client.read("jenkins/creds/front-hvac")
        assert minted["data"]["username"] == "ci-bot"
        assert hvac.Client(url=stack.broker_url, token="s.not-a-token").is_authenticated() is False
    finally:
        client.adapter.close()


def test_a_wrapping_token_made_through_the_broker_unwraps_in_vault(stack):
    root = stack.bao.root_token
    wrapped = stack.bao_json("write", "-wrap-ttl=60s", "sys/wrapping/wrap", "payload=hello",
                             token=root)
    wrap_token = wrapped["wrap_info"]["token"]
    unwrapped = requests.post(f"{stack.bao.addr}/v1/sys/wrapping/unwrap",
                              headers={"X-Vault-Token": wrap_token}, timeout=5)
    assert unwrapped.status_code == 200 and unwrapped.json()["data"] == {"payload": "hello"}


def test_errors_come_from_vault_as_vault_gives_them(stack):
    # A bogus token on a path the broker does not own: Vault's own answer, byte for byte.
    direct = requests.get(f"{stack.bao.addr}/v1/auth/token/lookup-self",
                          headers={"X-Vault-Token": "s.bogus"}, timeout=5)
    front = requests.get(f"{stack.broker_url}/v1/auth/token/lookup-self",
                         headers={"X-Vault-Token": "s.bogus"}, timeout=5)
    assert (front.status_code, front.json()) == (direct.status_code, direct.json())
    missing = requests.get(f"{stack.broker_url}/v1/no-such-mount/x",
                           headers={"X-Vault-Token": stack.bao.root_token}, timeout=5)
    assert missing.status_code == 404 == requests.get(
        f"{stack.bao.addr}/v1/no-such-mount/x", headers={"X-Vault-Token": stack.bao.root_token},
        timeout=5).status_code


def test_vaults_openapi_document_through_the_broker_is_vaults(stack):
    """The broker answered Vault's document path with its own document, so a client (the
    UI, a code generator) saw no mount but jenkins/; it is Vault's to answer. The broker's
    document is at /openapi.yaml."""
    root = {"X-Vault-Token": stack.bao.root_token}
    direct = requests.get(f"{stack.bao.addr}/v1/sys/internal/specs/openapi", headers=root, timeout=10)
    front = requests.get(f"{stack.broker_url}/v1/sys/internal/specs/openapi", headers=root, timeout=10)
    assert front.status_code == direct.status_code == 200
    assert front.json()["paths"].keys() == direct.json()["paths"].keys()
    assert "/sys/health" in front.json()["paths"] and "/v1/jenkins/creds/{role}" not in front.json()["paths"]
    assert requests.get(f"{stack.broker_url}/openapi.yaml", timeout=10).text.startswith("openapi:")


def test_the_root_list_of_lease_prefixes_has_the_brokers_as_vaults_has_the_engines(stack):
    """`bao list sys/leases/lookup/` through the broker showed Vault's prefixes only: an
    operator browsing the leases from the root never found jenkins/ (plugin mode has it)."""
    stack.role("front-roots")
    stack.bao_json("read", "jenkins/creds/front-roots", token=stack.consumer("front-roots"))
    root = stack.bao.root_token
    direct = stack.bao_json("list", "sys/leases/lookup/", token=root, addr=stack.bao.addr)
    through = stack.bao_json("list", "sys/leases/lookup/", token=root)
    assert "jenkins/" not in direct and set(through) == set(direct) | {"jenkins/"}
    assert through == sorted(through)
    assert stack.bao_json("list", "sys/leases/lookup/jenkins/", token=root) == ["creds/"]
    assert "front-roots/" in stack.bao_json("list", "sys/leases/lookup/jenkins/creds/", token=root)
    # Vault's policy decides first: a token without sudo there gets Vault's own refusal.
    plain = {"X-Vault-Token": stack.consumer("front-roots")}
    refused = requests.request("LIST", f"{stack.broker_url}/v1/sys/leases/lookup/", headers=plain, timeout=5)
    vaults = requests.request("LIST", f"{stack.bao.addr}/v1/sys/leases/lookup/", headers=plain, timeout=5)
    assert (refused.status_code, refused.json()) == (vaults.status_code, vaults.json()) and vaults.status_code == 403
    # Wrapped, it is Vault's answer as it is (nothing the broker could add to).
    wrapped = requests.request("LIST", f"{stack.broker_url}/v1/sys/leases/lookup/", timeout=5,
                               headers={"X-Vault-Token": root, "X-Vault-Wrap-TTL": "30s"})
    assert wrapped.status_code == 200 and wrapped.json()["wrap_info"]["creation_path"] == "sys/leases/lookup/"


# -- Vault's details, on the broker's own paths ------------------------------------------

def live_tokens(stack):
    return len(stack.jenkins.tokens("ci-bot"))


def test_a_read_without_a_token_is_403_as_vault_answers(stack):
    stack.role("front-403")
    for path in ("jenkins/creds/front-403", "jenkins/roles/front-403", "jenkins/config"):
        broker = requests.get(f"{stack.broker_url}/v1/{path}", timeout=5)
        vault = requests.get(f"{stack.bao.addr}/v1/secret/data/x", timeout=5)
        assert broker.status_code == vault.status_code == 403, path
        assert broker.json()["errors"][0].startswith("permission denied")
    out = stack.bao_cli("read", "jenkins/creds/front-403", token="", check=False)
    assert out.returncode == 2 and "permission denied" in out.stderr


def test_path_help_answers_help_and_never_mints(stack):
    ci = stack.consumer("front-help")
    stack.role("front-help")
    before = live_tokens(stack)
    out = stack.bao_cli("path-help", "jenkins/creds/front-help", token=ci)
    assert "jenkins/creds/" in out.stdout and "token" in out.stdout.lower()
    raw = requests.get(f"{stack.broker_url}/v1/jenkins/creds/front-help", params={"help": "1"},
                       headers={"X-Vault-Token": ci}, timeout=5)
    assert raw.status_code == 200 and set(raw.json()) >= {"help", "openapi"}
    assert raw.json().get("data") is None and raw.json().get("lease_id", "") == ""
    # As Vault: help needs a token, and one that may do something there.
    assert requests.get(f"{stack.broker_url}/v1/jenkins/creds/front-help", params={"help": "1"},
                        timeout=5).status_code == 403
    assert requests.get(f"{stack.broker_url}/v1/jenkins/creds/front-help", params={"help": "1"},
                        headers={"X-Vault-Token": stack.token("default")},
                        timeout=5).status_code == 403
    assert live_tokens(stack) == before
    head = requests.head(f"{stack.broker_url}/v1/jenkins/creds/front-help",
                         headers={"X-Vault-Token": ci}, timeout=5)
    assert head.status_code == 405 and live_tokens(stack) == before


def test_health_is_vaults_with_the_brokers_readiness(stack):
    direct = requests.get(f"{stack.bao.addr}/v1/sys/health", timeout=5).json()
    front = requests.get(f"{stack.broker_url}/v1/sys/health", timeout=5)
    assert front.status_code == 200
    body = front.json()
    assert body["version"] == direct["version"] and body["cluster_name"] == direct["cluster_name"]
    assert "broker" not in body  # details only to a token that may read sys/metrics
    detailed = requests.get(f"{stack.broker_url}/v1/sys/health", timeout=5,
                            headers={"X-Vault-Token": stack.token("jenkins-auditor")}).json()
    assert detailed["version"] == direct["version"]
    assert detailed["broker"]["ready"] is True and "live_leases" in detailed["broker"]
    # Vault's own query parameters are Vault's to honour.
    coded = requests.get(f"{stack.broker_url}/v1/sys/health", params={"activecode": "299"},
                         timeout=5)
    assert coded.status_code == 299


def test_a_wrapped_mint_answers_only_wrap_info_and_unwraps_once(stack):
    ci = stack.consumer("front-wrap")
    stack.role("front-wrap")
    wrapped = stack.bao_json("read", "-wrap-ttl=60s", "jenkins/creds/front-wrap", token=ci)
    assert wrapped["data"] is None and wrapped["lease_id"] == ""
    info = wrapped["wrap_info"]
    assert info["ttl"] == 60 and info["token"]
    # Unwrapped once, directly against Vault: the secret, with the lease it lives under.
    first = stack.bao_json("unwrap", info["token"], token="", addr=stack.bao.addr)
    data = first["data"]
    assert data["username"] == "ci-bot" and data["lease_id"].startswith("jenkins/creds/front-wrap/")
    assert requests.get(f"{stack.jenkins.url}whoAmI/api/json", auth=("ci-bot", data["token"]),
                        timeout=5).status_code == 200
    looked = stack.bao_json("lease lookup", data["lease_id"], token=ci)
    assert looked["data"]["id"] == data["lease_id"]
    again = stack.bao_cli("unwrap", info["token"], token="", check=False)
    assert again.returncode != 0
    # Through the broker too (a second mint).
    second = stack.bao_json("read", "-wrap-ttl=30s", "jenkins/creds/front-wrap", token=ci)
    through = stack.bao_json("unwrap", second["wrap_info"]["token"], token="")
    assert through["data"]["lease_id"] != data["lease_id"]


def mints(stack, role):
    return stack.services.metrics.registry.get_sample_value(
        "jenkins_broker_mints_total", {"role": role}) or 0.0


@pytest.mark.parametrize("header, said", [
    ("soon", "error parsing X-Vault-Wrap-TTL header: "),
    ("-5", "error parsing X-Vault-Wrap-TTL header: requested wrap ttl cannot be negative"),
    ("5 m", "error parsing X-Vault-Wrap-TTL header: "),
])
def test_a_wrap_ttl_vault_cannot_read_is_refused_before_anything_is_minted(stack, header, said):
    """It minted a token in Jenkins, failed to wrap it, then revoked it: now nothing reaches
    Jenkins, and the answer is Vault's own for such a header."""
    ci = stack.consumer("front-wrap-bad")
    stack.role("front-wrap-bad")
    before = (live_tokens(stack), mints(stack, "front-wrap-bad"))
    resp = requests.get(f"{stack.broker_url}/v1/jenkins/creds/front-wrap-bad",
                        headers={"X-Vault-Token": ci, "X-Vault-Wrap-TTL": header}, timeout=15)
    assert resp.status_code == 400, resp.text
    (error,) = resp.json()["errors"]
    assert error.startswith(said), error
    assert (live_tokens(stack), mints(stack, "front-wrap-bad")) == before
    direct = requests.get(f"{stack.bao.addr}/v1/auth/token/lookup-self",
                          headers={"X-Vault-Token": ci, "X-Vault-Wrap-TTL": header}, timeout=5)
    assert direct.status_code == 400 and direct.json()["errors"][0].startswith(said)


def test_a_wrap_ttl_of_zero_means_no_wrapping_as_in_vault(stack):
    ci = stack.consumer("front-wrap-zero")
    stack.role("front-wrap-zero")
    resp = requests.get(f"{stack.broker_url}/v1/jenkins/creds/front-wrap-zero",
                        headers={"X-Vault-Token": ci, "X-Vault-Wrap-TTL": "0"}, timeout=15)
    assert resp.status_code == 200 and resp.json()["data"]["username"] == "ci-bot"
    assert resp.json()["lease_id"].startswith("jenkins/creds/front-wrap-zero/")


def test_a_mint_whose_wrapping_vault_refuses_leaves_no_token(stack):
    """A caller whose policy denies sys/wrapping/wrap: the token was minted, cannot be
    handed out, and is revoked at once."""
    stack.consumer("front-wrap-fail")
    stack.role("front-wrap-fail")
    client = stack.bao.client()
    client.sys.create_or_update_acl_policy("no-wrapping", 'path "sys/wrapping/wrap" { capabilities = ["deny"] }\n')
    denied = stack.token("consumer-front-wrap-fail", "no-wrapping")
    before = live_tokens(stack)
    resp = requests.get(f"{stack.broker_url}/v1/jenkins/creds/front-wrap-fail",
                        headers={"X-Vault-Token": denied, "X-Vault-Wrap-TTL": "60s"}, timeout=15)
    assert resp.status_code == 403, resp.text
    assert resp.json()["errors"] and "lease_id" not in resp.json()
    assert live_tokens(stack) == before
    assert mints(stack, "front-wrap-fail") == 1.0  # minted, then withdrawn
    leases = requests.request("LIST", f"{stack.broker_url}/v1/sys/leases/lookup/jenkins/creds/"
                              "front-wrap-fail", headers={"X-Vault-Token": stack.bao.root_token},
                              timeout=5)
    assert leases.status_code == 404 or leases.json()["data"]["keys"] == []


def test_the_brokers_other_answers_are_wrapped_as_vault_wraps_them(stack):
    """It answered a role read asked with -wrap-ttl in plain text; Vault wraps any answer
    with data. Through the broker: only wrap_info, and the data unwraps once."""
    stack.role("front-wrap-admin")
    root = stack.bao.root_token
    plain = stack.bao_json("read", "jenkins/roles/front-wrap-admin", token=root)
    wrapped = stack.bao_json("read", "-wrap-ttl=45s", "jenkins/roles/front-wrap-admin", token=root)
    assert wrapped["data"] is None and wrapped["wrap_info"]["ttl"] == 45
    assert stack.bao_json("unwrap", wrapped["wrap_info"]["token"], token="")["data"] == plain["data"]

    def listed_plainly():  # a replica's role list is cached for up to 5 s
        resp = requests.request("LIST", f"{stack.broker_url}/v1/jenkins/roles",
                                headers={"X-Vault-Token": root}, timeout=5)
        return resp.status_code == 200 and "front-wrap-admin" in resp.json()["data"]["keys"]
    wait_for(listed_plainly, timeout=10, what="the role in the broker's list")
    listed = stack.bao_json("list", "-wrap-ttl=45s", "jenkins/roles", token=root)
    unwrapped = requests.post(f"{stack.bao.addr}/v1/sys/wrapping/unwrap", timeout=5,
                              headers={"X-Vault-Token": listed["wrap_info"]["token"]})
    assert "front-wrap-admin" in unwrapped.json()["data"]["keys"]
    # A write that answers no data is not wrapped (nor is anything else without data).
    written = stack.bao_cli("write", "-wrap-ttl=45s", "jenkins/roles/front-wrap-admin", "ttl=20m", token=root)
    assert "wrapping_token" not in written.stdout
    wait_for(lambda: stack.bao_json("read", "jenkins/roles/front-wrap-admin", token=root)["data"]["ttl"] == "20m",
             timeout=10, what="the role written under -wrap-ttl")


def test_revoke_force_drops_the_records_even_when_jenkins_refuses(stack):
    ci = stack.consumer("front-force")
    stack.role("front-force")
    minted = [stack.bao_json("read", "jenkins/creds/front-force", token=ci) for _ in range(2)]
    root = stack.bao.root_token
    stack.jenkins.set_fault("error500")
    try:
        stack.bao_cli("lease", "revoke", "-force", "-prefix", "jenkins/creds/front-force",
                      token=root)
    finally:
        stack.jenkins.set_fault(None)
    for secret in minted:
        gone = stack.bao_cli("lease", "lookup", secret["lease_id"], token=root, check=False)
        assert gone.returncode != 0
    tokens = [secret["data"]["token"] for secret in minted]
    assert all(whoami(stack, token) == 200 for token in tokens)  # Jenkins refused: still live
    # Left to reconciliation, which revokes them as orphans (past the stack's 1 s grace).

    def revoked():
        stack.services.reconciler.run()
        return all(whoami(stack, token) == 401 for token in tokens)
    wait_for(revoked, timeout=20, interval=0.5, what="reconciliation to revoke the tokens")


def whoami(stack, token):
    return requests.get(f"{stack.jenkins.url}whoAmI/api/json", auth=("ci-bot", token),
                        timeout=5).status_code
