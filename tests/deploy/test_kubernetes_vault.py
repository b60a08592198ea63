"""deploy/kubernetes/ run without a cluster, against a real OpenBao, the fake Jenkins and a
stand-in Kubernetes TokenReview API (tests/support/kubeapi.py, HTTPS with a CA of its
own, as Vault outside the cluster sees an API server):

* vault-setup.sh, run as written (KUBERNETES_HOST and KUBERNETES_CA_CERT_FILE pointing at
  the stand-in), makes the two Kubernetes auth roles;
* `jenkins-broker serve` with exactly the ConfigMap's environment (but for VAULT_ADDR, the
  listen address on loopback and the JWT path, which point at this machine) logs in to
  Vault with a projected token shaped as the Deployment's volume makes it, answers the
  readiness probe's path, and mints;
* the CI pod's injector flow: a `bao agent` configured as the injector configures its init
  container for the pod's annotations (Kubernetes auto-auth with the annotated role and
  auth path, the annotated template, exit after auth), with the pod's service-account token,
  renders the file, and the job container's own script, run on it, calls Jenkins.

Not run: Kubernetes itself, the injector's webhook, kubelet probes, the NetworkPolicy."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from tests.support import free_port, stop_process, wait_for
from tests.support.baoprocs import BaoProcess, hcl, template_stanza, vault_stanza
from tests.support.ci_examples import clean_env, run_script, shown, tool_dir
from tests.support.kube_manifests import INJECTOR, KUBE, broker_container, one, pod_environment
from tests.support.kubeapi import KubeAPIStandIn
from tests.support.stack import standard_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def kstack():
    with standard_stack() as st:
        st.role("ci-bot", ttl="15m", max_ttl="1h", shared=True)
        wait_for(lambda: st.admin_store.read_shared("ci-bot"), timeout=30, what="the shared token")
        yield st


@pytest.fixture(scope="module")
def kube_api(kstack, tmp_path_factory):
    """The stand-in API server, and vault-setup.sh run against the stack's Vault (twice)."""
    where = tmp_path_factory.mktemp("k8s-setup")
    with KubeAPIStandIn().running() as api:
        ca = where / "cluster-ca.pem"
        ca.write_text(api.ca_pem)
        env = clean_env(tool_dir(where / "bin"), where / "home", VAULT_ADDR=kstack.bao.addr,
                        VAULT_TOKEN=kstack.bao.root_token, KUBERNETES_HOST=api.url,
                        KUBERNETES_CA_CERT_FILE=str(ca))
        for _ in range(2):
            done = run_script([str(KUBE / "vault-setup.sh")], env)
            assert done.returncode == 0, shown(done)
        yield api


def deployment() -> dict:
    return one("Deployment", "jenkins-broker")


def projected_audience() -> str:
    [volume] = [v for v in deployment()["spec"]["template"]["spec"]["volumes"] if "projected" in v]
    return volume["projected"]["sources"][0]["serviceAccountToken"]["audience"]


@pytest.fixture(scope="module")
def pod_broker(kstack, kube_api, tmp_path_factory):
    """`jenkins-broker serve` with the pod's environment; yields (url, log path)."""
    where = tmp_path_factory.mktemp("broker-pod")
    env = pod_environment(deployment(), [one("ConfigMap", "jenkins-broker")])
    namespace = deployment()["metadata"]["namespace"]
    account = deployment()["spec"]["template"]["spec"]["serviceAccountName"]
    jwt = where / "token"
    jwt.write_text(kube_api.service_account_token(namespace, account, [projected_audience()]))
    port = free_port()
    env.update(VAULT_ADDR=kstack.bao.addr, JENKINS_BROKER_LISTEN=f"127.0.0.1:{port}",
               JENKINS_BROKER_VAULT_K8S_JWT_PATH=str(jwt), PATH="/usr/bin:/bin", HOME=str(where))
    log_path = where / "broker.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "jenkins_broker.commands.cli", "serve"], env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        probe = broker_container(deployment())["readinessProbe"]["httpGet"]["path"]

        def ready():
            assert proc.poll() is None, f"the broker exited: {log_path.read_text()[-2000:]}"
            try:
                return requests.get(url + probe, timeout=2).status_code == 200
            except requests.ConnectionError:
                return False
        wait_for(ready, timeout=45, what="the pod's broker to answer its readiness probe")
        yield url, log_path
    finally:
        stop_process(proc)


def test_vault_setup_binds_the_broker_role_to_its_service_account(kstack, kube_api):
    client = kstack.bao.client()
    role = client.auth.kubernetes.read_role("jenkins-broker")
    assert role["bound_service_account_names"] == ["jenkins-broker"]
    assert role["bound_service_account_namespaces"] == ["jenkins-broker"]
    assert role["audience"] == "vault" and role["token_policies"] == ["jenkins-broker"]
    ci = client.auth.kubernetes.read_role("ci-bot")
    assert (ci["bound_service_account_names"], ci["bound_service_account_namespaces"]) == (["ci-bot"], ["ci"])
    assert ci["token_policies"] == ["jenkins-consumer-ci-bot"]


def test_the_pods_environment_logs_in_with_kubernetes_auth_and_mints(kstack, kube_api, pod_broker):
    url, log_path = pod_broker
    assert "with kubernetes auth (policies default,jenkins-broker" in log_path.read_text()
    assert any(review.get("audiences") == ["vault"] for review in kube_api.reviews)
    consumer = kstack.token("jenkins-consumer-ci-bot")
    answer = requests.get(f"{url}/v1/jenkins/creds/ci-bot", headers={"X-Vault-Token": consumer}, timeout=15)
    assert answer.status_code == 200, answer.text
    token = answer.json()["data"]["token"]
    status = requests.get(kstack.jenkins.url + "whoAmI/api/json", auth=("ci-bot", token), timeout=10).status_code
    assert status == 200


def test_a_token_for_another_audience_or_account_is_refused(kstack, kube_api):
    for token in (kube_api.service_account_token("jenkins-broker", "jenkins-broker", ["https://kubernetes.default.svc"]),
                  kube_api.service_account_token("jenkins-broker", "someone-else", ["vault"])):
        refused = requests.post(f"{kstack.bao.addr}/v1/auth/kubernetes/login",
                                json={"role": "jenkins-broker", "jwt": token}, timeout=10)
        assert refused.status_code == 403, refused.text


def injector_agent_config(pod: dict, address: str, token_path, destination) -> str:
    """What vault-k8s writes for the pod's init container (agent-pre-populate-only):
    exit after auth, Kubernetes auto-auth with the annotated role and path, one template per
    agent-inject-secret-<name>, rendered with the annotated template and permissions."""
    notes = {k[len(INJECTOR):]: v for k, v in pod["metadata"]["annotations"].items() if k.startswith(INJECTOR)}
    assert notes["agent-pre-populate-only"] == "true"
    [name] = [k[len("agent-inject-secret-"):] for k in notes if k.startswith("agent-inject-secret-")]
    auto_auth = (f'auto_auth {{\n  method "kubernetes" {{\n    mount_path = {hcl(notes["auth-path"])}\n'
                 f'    config = {{\n      role = {hcl(notes["role"])}\n      token_path = {hcl(token_path)}\n'
                 "    }\n  }\n}\n")
    return ("exit_after_auth = true\n" + vault_stanza(address) + auto_auth
            + template_stanza(notes[f"agent-inject-template-{name}"], destination / name,
                              notes.get(f"agent-inject-perms-{name}", "0644")))


@pytest.mark.parametrize("mode", ["broker", "shared"])
def test_ci_pod_injector_flow(kstack, kube_api, pod_broker, tmp_path, mode):
    """Broker mode: the service annotation is the broker (here, the pod's broker above); shared
    mode: Vault. One read either way; the job's script then calls Jenkins."""
    pod = one("Pod", "ci-job-example")
    token_path = tmp_path / "sa-token"
    token_path.write_text(kube_api.service_account_token(pod["metadata"]["namespace"],
                                                         pod["spec"]["serviceAccountName"],
                                                         [KubeAPIStandIn.ISSUER]))
    secrets = tmp_path / "vault-secrets"
    secrets.mkdir()
    address = pod_broker[0] if mode == "broker" else kstack.bao.addr
    leases_before = set(kstack.admin_store.list_leases("ci-bot"))
    config = injector_agent_config(pod, address, token_path, secrets)
    with BaoProcess("agent", config, tmp_path / "agent") as agent:
        agent.wait_for(lambda: not agent.running, 30, "the init agent to render and exit", may_exit=True)
        assert agent.proc is not None and agent.proc.returncode == 0, agent.tail()
    rendered = secrets / "jenkins"
    assert oct(rendered.stat().st_mode & 0o777) == "0o400"
    [container] = pod["spec"]["containers"]
    assert container["command"] == ["/bin/sh", "-ec"]
    script = container["args"][0].replace("/vault/secrets/jenkins", str(rendered))
    done = run_script(["/bin/sh", "-ec", script], {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert done.returncode == 0, shown(done)
    assert '"name":"ci-bot"' in done.stdout
    new = set(kstack.admin_store.list_leases("ci-bot")) - leases_before
    lease_line = [ln for ln in rendered.read_text().splitlines() if "JENKINS_TOKEN_LEASE_ID" in ln]
    if mode == "broker":                       # exactly one mint, the one rendered
        assert len(new) == 1 and lease_line and lease_line[0].endswith(f"{new.pop()}'")
    else:
        assert new == set()
