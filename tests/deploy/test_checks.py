"""Every check of tests/support/deploy passes on the deployment files as they are, and
notices each file broken in memory by one text replacement (``MUTATIONS``): no check can
silently pass everything."""

from __future__ import annotations

import re

import pytest

from tests.support.deploy import CHECKS
from tests.support.deploy.files import PLUGIN_DOCKERFILE, Deploy


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_check_passes(name):
    assert CHECKS[name](Deploy()) == []


# (check, file, old text or "re:" regex, new text, occurrence): each breaks one file.
MUTATIONS = [
    ("services", "docker-compose.yml", "\n  broker:\n", "\n  brokr:\n", 0),
    ("services", "docker-compose.yml", 'restart: "no"', "restart: always", 0),
    ("services", "docker-compose.yml", "disable: true", "disable: false", 0),
    ("images_pinned", "docker-compose.yml", "hashicorp/vault:2.1.1", "hashicorp/vault:latest", 0),
    ("images_pinned", "docker-compose.yml", "hashicorp/vault:2.1.1", "hashicorp/vault:2", 0),
    ("images_pinned", "deploy/jenkins/Dockerfile", "jenkins:2.568.2-jdk21", "jenkins:lts-jdk21",
     0),
    ("images_pinned", "Dockerfile", "python:3.12.13-slim-bookworm AS build",
     "python:3.12-slim AS build", 0),
    ("images_pinned", "Dockerfile", "\nFROM python:3.12.13-slim-bookworm\n",
     "\nFROM python:${PY}\n", 0),
    ("healthchecks", "docker-compose.yml", "vault status", "vault version", 0),
    ("healthchecks", "docker-compose.yml", "8080/login", "8080/", 0),
    ("healthchecks", "docker-compose.yml", r"re:(?s)(  broker:.*?)healthcheck:", r"\1hc_off:", 0),
    ("depends_on", "docker-compose.yml", "service_completed_successfully", "service_started", 0),
    ("depends_on", "docker-compose.yml", "condition: service_healthy",
     "condition: service_started", 1),
    ("environment", "docker-compose.yml", "JENKINS_BROKER_LISTEN: 0.0.0.0:8400",
     "JENKINS_BROKER_LISTENS: 0.0.0.0:8400", 0),
    ("environment", "docker-compose.yml", "JENKINS_BROKER_LISTEN: 0.0.0.0:8400",
     "JENKINS_BROKER_LISTEN: 0.0.0.0:8400\n      VAULT_TOKEN: x", 0),
    ("environment", "docker-compose.yml", "VAULT_ADDR: http://vault:8200",
     "VAULT_ADDR: http://vault:8200\n      VAULT_SKIP_VERIFY: maybe", 1),
    ("environment", "docker-compose.yml", "JENKINS_ADMIN_PASSWORD: $", "JENKINS_ADMIN_PASS: $", 1),
    ("environment", "docker-compose.yml", "JENKINS_BROKER_LISTEN: 0.0.0.0:8400",
     "JENKINS_BROKER_LISTEN: 127.0.0.1:8400", 0),
    ("environment", "Dockerfile", "ENV JENKINS_BROKER_POLICIES_DIR",
     "ENV JENKINS_BROKER_POLICY_DIR", 0),
    ("loopback_ports", "docker-compose.yml", '"127.0.0.1:8400:8400"', '"8400:8400"', 0),
    ("loopback_ports", "docker-compose.yml", '"127.0.0.1:8200:8200"', '"0.0.0.0:8200:8200"', 0),
    ("shared_volume", "docker-compose.yml", "broker-run:/run/jenkins-broker:ro",
     "other-run:/run/jenkins-broker:ro", 0),
    ("shared_volume", "docker-compose.yml", ". /run/jenkins-broker/broker.env && ", "", 0),
    ("shared_volume", "deploy/bootstrap.sh", '"$run_dir/broker.env"', '"$run_dir/other.env"', 0),
    ("shared_volume", "docker-compose.yml", "jenkins-home:/var/jenkins_home",
     "./jh:/var/jenkins_home", 0),
    ("bootstrap_service", "docker-compose.yml", "./deploy/bootstrap.sh:", "./deploy/other.sh:", 0),
    ("bootstrap_script", "deploy/bootstrap.sh", 'step "check"', 'step "check', 0),
    ("bootstrap_script", "deploy/bootstrap.sh", "roles write ci-bot", "role write ci-bot", 0),
    ("bootstrap_script", "deploy/bootstrap.sh", "--password-env", "--password-from", 0),
    ("bootstrap_script", "deploy/bootstrap.sh", "strategy=admin-rest", "strategy=admin_rest", 0),
    ("bootstrap_script", "deploy/bootstrap.sh", "config write --url", "config write --uri", 0),
    ("bootstrap_script", "deploy/bootstrap.sh", "\njenkins-broker check\n", "\n", 0),
    ("broker_dockerfile", "Dockerfile", "USER 10001:10001", "USER root", 0),
    ("broker_dockerfile", "Dockerfile", "EXPOSE 8400", "EXPOSE 8401", 0),
    ("broker_dockerfile", "Dockerfile", r"re:HEALTHCHECK [^\n]*\\\n[^\n]*\n", "", 0),
    ("broker_dockerfile", "Dockerfile", "/v1/sys/health", "/v1/health", -1),
    ("broker_dockerfile", "Dockerfile", 'ENTRYPOINT ["jenkins-broker"]',
     'ENTRYPOINT ["jenkins-brokr"]', 0),
    ("broker_dockerfile", "Dockerfile", 'CMD ["serve"]', 'CMD ["demo"]', 0),
    ("broker_dockerfile", "Dockerfile", "pip install /tmp/wheels/*.whl",
     'pip install "$(echo /tmp/wheels/*.whl)[dev]"', 0),
    ("broker_dockerfile", "Dockerfile", "python -m pip install /tmp/wheels/*.whl",
     "python -m pip download /tmp/wheels/*.whl", 0),
    ("broker_dockerfile", "Dockerfile", "JENKINS_BROKER_POLICIES_DIR=/opt/jenkins-broker/",
     "JENKINS_BROKER_POLICIES_DIR=/srv/", 0),
    ("broker_dockerfile", ".dockerignore", "\ndeploy\n", "\ndeploy\nplugin\n", 0),
    ("broker_dockerfile", ".dockerignore", "\n.env\n*.env\n**/*.env\n", "\n", 0),
    ("jenkins", "docker-compose.yml",
     "-Djenkins.security.ApiTokenProperty.adminCanGenerateNewTokens=true", "", 0),
    ("jenkins", "deploy/jenkins/Dockerfile", "CASC_JENKINS_CONFIG=/usr/share/jenkins/casc/casc",
     "CASC_JENKINS_CONFIG=/var/jenkins_home/casc", 0),
    ("jenkins", "deploy/jenkins/plugins.txt", "matrix-auth:3.2.10", "matrix-auth:latest", 0),
    ("jenkins", "deploy/jenkins/plugins.txt", "configuration-as-code:2117",
     "# configuration-as-code:2117", 0),
    ("casc", "deploy/jenkins/casc.yaml", "- id: ci-bot", "- id: cibot", 0),
    ("casc", "deploy/jenkins/casc.yaml", "allowsSignup: false", "allowsSignup: true", 0),
    ("casc", "deploy/jenkins/casc.yaml", '"${JENKINS_ADMIN_PASSWORD}"', '"admin"', 0),
    ("casc", "deploy/jenkins/casc.yaml", "- Overall/Administer", "- Overall/Read", 0),
    ("casc", "deploy/jenkins/casc.yaml", "- Overall/Read", "- Overall/Administer", 0),
    ("casc", "deploy/jenkins/casc.yaml", "name: ci-bot\n", "name: anonymous\n", 0),
    ("casc", "docker-compose.yml", "JENKINS_CI_BOT_PASSWORD: $", "JENKINS_CIBOT_PASSWORD: $", 0),
    ("env_example", "deploy/.env.example", "VAULT_DEV_ROOT_TOKEN=", "# VAULT_DEV_ROOT_TOKEN=", 0),
    ("services", "docker-compose.yml", 'profiles: ["plugin"]', 'profiles: ["plugins"]', 1),
    ("services", "docker-compose.yml", r're:\n    profiles: \["plugin"\]', "", 0),
    ("images_pinned", PLUGIN_DOCKERFILE, "FROM hashicorp/vault:2.1.1 AS plugin",
     "FROM hashicorp/vault:latest AS plugin", 0),
    ("plugin_profile", PLUGIN_DOCKERFILE, "\nFROM hashicorp/vault:2.1.1\n",
     "\nFROM hashicorp/vault:2.1.0\n", 0),
    ("plugin_profile", PLUGIN_DOCKERFILE, "apk add --no-cache python3", "true", 1),
    ("plugin_profile", PLUGIN_DOCKERFILE, "--python /usr/bin/python3", "--python /usr/local/bin/python", 0),
    ("plugin_profile", PLUGIN_DOCKERFILE, "plugin build --output", "plugin build --outptu", 0),
    ("plugin_profile", PLUGIN_DOCKERFILE, "/plugins/ /vault/plugins/", "/plugins/ /vault/plugin/", 0),
    ("plugin_profile", "docker-compose.yml", "-dev-plugin-dir=/vault/plugins", "-dev", 0),
    ("plugin_profile", "docker-compose.yml", "dockerfile: deploy/vault-plugin/Dockerfile",
     "dockerfile: Dockerfile", 1),
    ("plugin_profile", "docker-compose.yml", "VAULT_ADDR: http://vault-plugin:8200",
     "VAULT_ADDR: http://vault:8200", 0),
    ("plugin_profile", "docker-compose.yml", "condition: service_healthy", "condition: service_started", 2),
    ("plugin_profile", "docker-compose.yml", "./deploy/plugin-bootstrap.sh:", "./deploy/bootstrap.sh:", 0),
    ("plugin_profile", "deploy/plugin-bootstrap.sh", "secret jenkins", "secret jenkins-broker", 0),
    ("plugin_profile", "deploy/plugin-bootstrap.sh", "plugin_dir=/vault/plugins", "plugin_dir=/plugins", 0),
    ("plugin_profile", "deploy/plugin-bootstrap.sh", "vault secrets enable", "vault secrets list", 0),
    ("plugin_profile", "deploy/plugin-bootstrap.sh", "vault write jenkins/config",
     "vault read jenkins/config", 0),
    ("plugin_profile", "deploy/plugin-bootstrap.sh", "strategy=admin-rest", "strategy=admin", 0),
    ("plugin_profile", "deploy/plugin-bootstrap.sh", "${VAULT_TOKEN:?", "${VAULT_ROOT_TOKEN:?", 0),
    ("docs", "docs/docker-compose.md", "compose --profile plugin up", "compose --profile=plugin up", -1),
    ("docs", "docs/docker-compose.md", "dev mode", "development", -1),
    ("docs", "docs/docker-compose.md", "exec -T broker", "exec -T brokr", 0),
]


def _break(text: str, old: str, new: str, occurrence: int) -> str:
    """``text`` with the ``occurrence``-th ``old`` (all if -1; a regex if it starts
    with ``re:``) replaced by ``new``; fails if ``old`` is not there."""
    if old.startswith("re:"):
        broken, count = re.subn(old[3:], new, text, count=1)
        assert count, f"pattern {old!r} not found"
        return broken
    assert text.count(old) > max(occurrence, 0), f"{old!r} not found"
    if occurrence == -1:
        return text.replace(old, new)
    head, *tail = text.split(old)
    return old.join([head] + tail[:occurrence]) + new + old.join(tail[occurrence:])


@pytest.mark.parametrize("check, path, old, new, occurrence", MUTATIONS,
                         ids=[f"{m[0]}-{i}" for i, m in enumerate(MUTATIONS)])
def test_check_catches(check, path, old, new, occurrence):
    broken = Deploy({path: _break(Deploy().text(path), old, new, occurrence)})
    assert CHECKS[check](broken), f"{check} did not notice {old!r} -> {new!r} in {path}"


def test_every_check_has_a_breaking_case():
    assert {m[0] for m in MUTATIONS} == set(CHECKS)
