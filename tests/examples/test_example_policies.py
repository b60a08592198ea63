"""The Vault policies the examples use, loaded into a real OpenBao with `bao policy write`
(as the vault-setup scripts do) and checked path by path with ``sys/capabilities``: the
consumer policy the setup scripts load grants ``read`` on jenkins/creds/ci-bot and nothing
else of the broker's; the optional self-revoke policy of the shell example grants
``update`` on sys/leases/revoke alone, and no credential."""

from __future__ import annotations

import re

import pytest

from jenkins_broker.vault import find_bao_binary
from tests.support.ci_examples import EXAMPLES, ROOT, SETUP_SCRIPTS, run_script

pytestmark = pytest.mark.integration

CONSUMER = ROOT / "vault-policies" / "jenkins-consumer-ci-bot.hcl"
SELF_REVOKE = EXAMPLES / "shell" / "jenkins-lease-revoke.hcl"

# Paths a CI job might touch, and what each policy may do there (anything else: deny).
PATHS = ["jenkins/creds/ci-bot", "jenkins/creds/deployer", "jenkins/creds/ci-bot/x", "jenkins/creds",
         "jenkins/roles/ci-bot", "jenkins/config", "jenkins/credentials/ci-bot", "jenkins/leases/ci-bot",
         "jenkins/revoke/ci-bot", "jenkins-broker/data/roles/ci-bot", "jenkins-broker/data/secrets/ci-bot",
         "sys/leases/revoke", "sys/leases/revoke/jenkins/creds/ci-bot/abc",
         "sys/leases/revoke-prefix/jenkins/creds/ci-bot", "sys/leases/lookup/jenkins/creds/ci-bot",
         "sys/policies/acl/jenkins-consumer-ci-bot", "auth/token/create"]
GRANTS = {CONSUMER: {"jenkins/creds/ci-bot": ["read"]},
          SELF_REVOKE: {"sys/leases/revoke": ["update"]}}


def test_every_policy_file_of_the_examples_is_checked():
    for script in SETUP_SCRIPTS.values():          # each loads the shipped consumer policy
        text = script.read_text()
        assert "policy=jenkins-consumer-ci-bot\n" in text and "vault-policies/$policy.hcl" in text
    assert set(EXAMPLES.rglob("*.hcl")) | {CONSUMER} == set(GRANTS)


@pytest.mark.parametrize("policy", sorted(GRANTS), ids=lambda p: p.name)
def test_policy_loads_and_grants_only_what_it_says(vault_sandbox, policy):
    name = vault_sandbox.name(policy.stem)
    vault_sandbox.policies.append(name)
    done = run_script([str(find_bao_binary()), "policy", "write", name, str(policy)],
                      {"VAULT_ADDR": vault_sandbox.addr, "VAULT_TOKEN": vault_sandbox.root_token,
                       "HOME": "/nonexistent", "PATH": "/usr/bin:/bin"}, timeout=30)
    assert done.returncode == 0, done.stderr
    token = vault_sandbox.token([name])["client_token"]
    answer = vault_sandbox.client.adapter.post("/v1/sys/capabilities", json={"token": token, "paths": PATHS})
    got = {path: sorted(answer["data"][path]) for path in PATHS}
    want = {path: sorted(GRANTS[policy].get(path, ["deny"])) for path in PATHS}
    assert got == want


def test_the_consumer_policy_is_the_one_line_the_readme_promises():
    rules = re.findall(r'^path "([^"]+)" \{\n  capabilities = (\[[^\]]*\])\n\}', CONSUMER.read_text(), re.M)
    assert rules == [("jenkins/creds/ci-bot", '["read"]')]
