"""deploy/kubernetes/ checked without a cluster: every manifest against the Kubernetes API
schemas (kubernetes-validate, Kubernetes 1.30, strict: an unknown field fails), and against
the code: the broker's environment names only variables `jenkins-broker serve` reads and
is accepted by its own settings classes, the probes and the Service reach the port it
listens on, the pod runs as the image's user with the restricted security context, and
the CI pod's injector annotations name jenkins/creds/ci-bot and roles vault-setup.sh makes.
Running them against Vault is in test_kubernetes_vault.py."""

from __future__ import annotations

import copy
import re
from urllib.parse import urlsplit

import pytest

from tests.support.ci_examples import CRED_FIELDS
from tests.support.kube_manifests import (
    BROKER_MANIFESTS,
    CI_POD,
    INJECTOR,
    KUBE,
    ROOT,
    all_documents,
    broker_container,
    broker_env_names,
    documents,
    labels_match,
    one,
    pod_environment,
    port_number,
    script_default,
    settings_comment_names,
    vault_env_names,
    yaml,
)

kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate")
K8S_VERSION = "1.30"


def validate(doc: dict) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def deployment() -> dict:
    return one("Deployment", "jenkins-broker")


def environment() -> dict[str, str]:
    return pod_environment(deployment(), [d for _, d in all_documents() if d["kind"] == "ConfigMap"])


# -- schemas ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name, doc", all_documents(), ids=lambda v: v if isinstance(v, str) else v["kind"])
def test_manifest_validates_against_the_kubernetes_schema(name, doc):
    validate(doc)


@pytest.mark.parametrize("break_it", [
    lambda d: d["spec"].__setitem__("replica", 2),                                   # unknown field
    lambda d: d["spec"].__setitem__("replicas", "two"),                              # wrong type
    lambda d: broker_container(d)["securityContext"].__setitem__("readOnlyRootFs", True),
    lambda d: broker_container(d)["readinessProbe"]["httpGet"].pop("port"),          # required
], ids=["unknown-field", "wrong-type", "misspelt-nested", "missing-required"])
def test_the_validation_notices_a_broken_deployment(break_it):
    broken = copy.deepcopy(deployment())
    break_it(broken)
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken)


def test_kustomization_lists_the_broker_manifests_and_not_the_ci_pod():
    kustomization = documents("kustomization.yaml")[0]
    assert kustomization["resources"] == list(BROKER_MANIFESTS)
    assert kustomization["namespace"] == "jenkins-broker"
    on_disk = {p.name for p in KUBE.glob("*.yaml")}
    assert on_disk == {*BROKER_MANIFESTS, CI_POD, "kustomization.yaml"}
    for name, doc in all_documents():
        assert doc["metadata"].get("namespace", doc["metadata"]["name"]) in ("jenkins-broker", "ci"), name


# -- the broker's environment -------------------------------------------------------------------

def test_settings_comments_are_parsed_and_name_each_field():
    comments = settings_comment_names()
    assert comments["listen"] == "JENKINS_BROKER_LISTEN" and len(comments) > 20
    assert vault_env_names()["k8s_role"] == "JENKINS_BROKER_VAULT_K8S_ROLE"
    assert settings_comment_names("    x: int = 1  # [JENKINS_BROKER_X] y\n") == {"x": "JENKINS_BROKER_X"}


def test_pod_environment_names_only_variables_the_broker_reads():
    env = environment()
    assert set(env) - broker_env_names() == set()
    assert "VAULT_TOKEN" not in env and not any("SECRET" in k for k in env)   # nothing secret in a ConfigMap


def test_pod_environment_is_a_kubernetes_login_the_broker_accepts():
    from jenkins_broker.server.settings import BrokerSettings
    from jenkins_broker.vault.settings import VaultSettings
    env = environment()
    broker = BrokerSettings.from_env(env)                # raises ConfigError on a bad value
    vault = VaultSettings.from_env(env)
    assert vault.auth_method == "kubernetes"
    assert f'"auth/$mount/role/{vault.k8s_role}"' in (KUBE / "vault-setup.sh").read_text()
    assert vault.k8s_mount == script_default("vault-setup.sh", "K8S_MOUNT")
    assert urlsplit(vault.addr).scheme == "https"
    assert broker.host == "0.0.0.0", "in a pod the broker must listen on the pod's address"
    # The JWT path is the projected token of the pod (audience vault, as the Vault role).
    spec = deployment()["spec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in broker_container(deployment())["volumeMounts"]}
    tokens = {f"{mounts[v['name']]}/{s['serviceAccountToken']['path']}": s["serviceAccountToken"]
              for v in spec["volumes"] if "projected" in v for s in v["projected"]["sources"]
              if "serviceAccountToken" in s}
    assert vault.k8s_jwt_path in tokens
    assert tokens[vault.k8s_jwt_path]["audience"] == "vault"
    assert "audience=vault" in (KUBE / "vault-setup.sh").read_text()


# -- ports, probes, security ---------------------------------------------------------------------

def test_probes_and_service_reach_the_port_the_broker_listens_on():
    from jenkins_broker.server.settings import BrokerSettings
    container = broker_container(deployment())
    listen = BrokerSettings.from_env(environment()).port
    [port] = container["ports"]
    assert port["containerPort"] == listen
    ready = container["readinessProbe"]["httpGet"]
    assert urlsplit(ready["path"]).path == "/v1/sys/health"
    assert port_number(container, ready["port"]) == listen and ready.get("scheme", "HTTP") == "HTTP"
    # Liveness does not ask Vault: a TCP check of the same port (see the manifest's comment).
    for probe in ("livenessProbe", "startupProbe"):
        assert set(container[probe]) - {"periodSeconds", "timeoutSeconds", "failureThreshold",
                                        "initialDelaySeconds", "successThreshold"} == {"tcpSocket"}
        assert port_number(container, container[probe]["tcpSocket"]["port"]) == listen
    service = one("Service", "jenkins-broker")
    [service_port] = service["spec"]["ports"]
    assert port_number(container, service_port["targetPort"]) == listen
    assert labels_match(service["spec"]["selector"], deployment()["spec"]["template"]["metadata"]["labels"])


def test_readiness_asks_vault_health_with_standby_nodes_counted_healthy():
    path = broker_container(deployment())["readinessProbe"]["httpGet"]["path"]
    query = dict(p.split("=") for p in urlsplit(path).query.split("&"))
    assert query == {"standbyok": "true", "perfstandbyok": "true"}


def test_pod_runs_as_the_images_user_with_a_restricted_security_context():
    spec = deployment()["spec"]["template"]["spec"]
    pod, container = spec["securityContext"], broker_container(deployment())
    user = re.search(r"^USER (\d+):(\d+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert user and (pod["runAsUser"], pod["runAsGroup"]) == (int(user.group(1)), int(user.group(2)))
    assert pod["runAsNonRoot"] is True and pod["seccompProfile"] == {"type": "RuntimeDefault"}
    ctx = container["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is True and ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]} and ctx["runAsNonRoot"] is True
    assert spec["automountServiceAccountToken"] is False
    assert set(container["resources"]) == {"requests", "limits"}
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]
    expose = re.search(r"^EXPOSE (\d+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert expose and int(expose.group(1)) == container["ports"][0]["containerPort"]


def test_two_replicas_a_budget_of_one_and_the_service_account_vault_knows():
    spec = deployment()["spec"]
    assert spec["replicas"] == 2
    assert labels_match(spec["selector"]["matchLabels"], spec["template"]["metadata"]["labels"])
    pdb = one("PodDisruptionBudget")["spec"]
    assert pdb["minAvailable"] == 1 and labels_match(pdb["selector"]["matchLabels"], spec["template"]["metadata"]["labels"])
    account = spec["template"]["spec"]["serviceAccountName"]
    assert account == one("ServiceAccount", account)["metadata"]["name"]
    assert account == script_default("vault-setup.sh", "BROKER_SERVICE_ACCOUNT")
    assert deployment()["metadata"]["namespace"] == script_default("vault-setup.sh", "BROKER_NAMESPACE")


def test_network_policy_lets_ci_in_and_the_broker_out_to_vault_jenkins_and_dns():
    policy = one("NetworkPolicy")["spec"]
    labels = deployment()["spec"]["template"]["metadata"]["labels"]
    assert labels_match(policy["podSelector"]["matchLabels"], labels)
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    [rule] = policy["ingress"]
    listen = broker_container(deployment())["ports"][0]["containerPort"]
    assert rule["ports"] == [{"protocol": "TCP", "port": listen}]
    assert all("namespaceSelector" in peer for peer in rule["from"])
    egress = {(p["protocol"], p["port"]) for r in policy["egress"] for p in r["ports"]}
    vault_port = urlsplit(environment()["VAULT_ADDR"]).port
    assert egress == {("TCP", vault_port), ("TCP", 8080), ("UDP", 53), ("TCP", 53)}


# -- the CI pod ----------------------------------------------------------------------------------

def test_ci_pod_injector_annotations_render_jenkins_creds_ci_bot_through_the_broker():
    pod = one("Pod", "ci-job-example")
    notes = {k[len(INJECTOR):]: v for k, v in pod["metadata"]["annotations"].items() if k.startswith(INJECTOR)}
    assert notes["agent-inject"] == "true" and notes["agent-pre-populate-only"] == "true"
    assert notes["role"] == script_default("vault-setup.sh", "CI_ROLE")
    assert notes["auth-path"] == "auth/" + script_default("vault-setup.sh", "K8S_MOUNT")
    secrets = {k[len("agent-inject-secret-"):]: v for k, v in notes.items() if k.startswith("agent-inject-secret-")}
    assert secrets == {"jenkins": "jenkins/creds/ci-bot"}
    template = notes["agent-inject-template-jenkins"]
    assert re.findall(r'secret "([^"]+)"', template) == ["jenkins/creds/ci-bot"]
    assert set(re.findall(r"\.Data\.(\w+)", template)) <= CRED_FIELDS
    service = one("Service", "jenkins-broker")
    url = urlsplit(notes["service"])
    assert url.hostname == f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc"
    assert url.port == service["spec"]["ports"][0]["port"]
    assert pod["spec"]["serviceAccountName"] == script_default("vault-setup.sh", "CI_SERVICE_ACCOUNT")
    assert pod["metadata"]["namespace"] == script_default("vault-setup.sh", "CI_NAMESPACE")
    [container] = pod["spec"]["containers"]
    assert ". /vault/secrets/jenkins\n" in container["args"][0]
    assert container["securityContext"]["runAsUser"]        # agent-run-as-same-user needs it


def test_documents_parse_as_yaml_streams():
    for name in (*BROKER_MANIFESTS, CI_POD, "kustomization.yaml"):
        assert list(yaml.safe_load_all((KUBE / name).read_text())), name


def test_docs_name_every_file_and_say_what_was_not_run():
    text = (ROOT / "docs" / "kubernetes.md").read_text(encoding="utf-8")
    for path in sorted(KUBE.iterdir()):
        assert f"(../deploy/kubernetes/{path.name})" in text, f"docs/kubernetes.md does not link {path.name}"
    probe = broker_container(deployment())["readinessProbe"]["httpGet"]["path"]
    for needle in ("No Kubernetes cluster", "Not verified", probe, "kubectl apply -k deploy/kubernetes/",
                   "liveness", "vault.hashicorp.com/service", "agent-pre-populate-only"):
        assert needle in text, f"docs/kubernetes.md never says {needle!r}"
