"""deploy/kubernetes/ read: its manifests by kind, the environment the broker's pod gets,
and what the code says the broker reads.

:func:`broker_env_names` parses the source, not the running classes' own idea of
themselves: the ``# [JENKINS_BROKER_X]`` comments of ``server/settings.py`` (checked
against the fields of ``BrokerSettings``), the names of ``vault.settings.ENV_NAMES``, and
``JENKINS_BROKER_VAULT_SECRET_ID_FILE``, which ``VaultSettings.from_env`` reads besides.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
KUBE = ROOT / "deploy" / "kubernetes"
PACKAGE = ROOT / "plugin" / "jenkins_broker"
BROKER_MANIFESTS = ("namespace.yaml", "serviceaccount.yaml", "configmap.yaml", "deployment.yaml",
                    "service.yaml", "poddisruptionbudget.yaml", "networkpolicy.yaml")
CI_POD = "ci-pod-vault-agent.yaml"
INJECTOR = "vault.hashicorp.com/"


def documents(name: str, text: str | None = None) -> list[dict[str, Any]]:
    """The YAML documents of ``deploy/kubernetes/<name>`` (or of ``text``)."""
    source = (KUBE / name).read_text(encoding="utf-8") if text is None else text
    return [doc for doc in yaml.safe_load_all(source) if doc]


def all_documents() -> list[tuple[str, dict[str, Any]]]:
    """(file, document) for every manifest: the broker's and the CI pod's."""
    return [(name, doc) for name in (*BROKER_MANIFESTS, CI_POD) for doc in documents(name)]


def one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [doc for _, doc in all_documents()
             if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)]
    assert len(found) == 1, f"{len(found)} {kind} manifests named {name or 'anything'}"
    return found[0]


def broker_container(deployment: dict[str, Any]) -> dict[str, Any]:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container


def pod_environment(deployment: dict[str, Any], configmaps: list[dict[str, Any]]) -> dict[str, str]:
    """The broker container's environment: its ``envFrom`` ConfigMaps, then its ``env``."""
    by_name = {cm["metadata"]["name"]: cm.get("data") or {} for cm in configmaps}
    container = broker_container(deployment)
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        assert set(source) == {"configMapRef"}, f"envFrom other than a ConfigMap: {source}"
        env.update(by_name[source["configMapRef"]["name"]])
    for item in container.get("env") or []:
        env[item["name"]] = item.get("value", "")
    return env


def port_number(container: dict[str, Any], port: int | str) -> int:
    """A probe's or Service's ``port``: a number, or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    named = {p["name"]: p["containerPort"] for p in container.get("ports") or [] if "name" in p}
    assert port in named, f"no container port named {port}"
    return named[port]


def labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# -- what the broker reads ----------------------------------------------------------------

def settings_comment_names(source: str | None = None) -> dict[str, str]:
    """{field: variable} from the ``name: type = default  # [VARIABLE] ...`` lines of the
    BrokerSettings class in server/settings.py."""
    text = source if source is not None else (PACKAGE / "server" / "settings.py").read_text(encoding="utf-8")
    return dict(re.findall(r"^\s+(\w+): [^#\n]+#\s*\[(JENKINS_BROKER_[A-Z0-9_]+)\]", text, re.M))


def vault_env_names(source: str | None = None) -> dict[str, str]:
    """{field: variable} of the ``ENV_NAMES`` mapping of vault/settings.py, read with ast."""
    text = source if source is not None else (PACKAGE / "vault" / "settings.py").read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(text)):
        if (isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Dict)
                and any(isinstance(t, ast.Name) and t.id == "ENV_NAMES"
                        for t in (node.targets if isinstance(node, ast.Assign) else [node.target]))):
            return {ast.literal_eval(k): ast.literal_eval(v)
                    for k, v in zip(node.value.keys, node.value.values) if k is not None}
    raise AssertionError("no ENV_NAMES mapping in vault/settings.py")


def broker_env_names() -> set[str]:
    """Every environment variable `jenkins-broker serve` reads (see the module docstring)."""
    from jenkins_broker.server.settings import BrokerSettings
    comments = settings_comment_names()
    fields = {f.name for f in dataclasses.fields(BrokerSettings)}
    assert set(comments) == fields, "a BrokerSettings field without its # [VARIABLE] comment, or one too many"
    vault = vault_env_names()
    secret_file = "JENKINS_BROKER_VAULT_SECRET_ID_FILE"
    assert f'"{secret_file}"' in (PACKAGE / "vault" / "settings.py").read_text(encoding="utf-8")
    return set(comments.values()) | set(vault.values()) | {secret_file}


def script_default(script: str, variable: str) -> str:
    """The default ``deploy/kubernetes/vault-setup.sh`` gives ``${VARIABLE:-default}``."""
    found = re.search(rf"^\w+=\$\{{{variable}:-(.+)\}}$", (KUBE / script).read_text(encoding="utf-8"), re.M)
    assert found, f"{script} has no default for {variable}"
    return found.group(1)
