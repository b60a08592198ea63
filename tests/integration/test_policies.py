"""The policies of vault-policies/, loaded into the real OpenBao and checked path by path.

Each row of a matrix is a Vault path and the exact capabilities the holder must
have there, as OpenBao computes them (`sys/capabilities` for a token holding
the policy, and Vault's default policy, as real tokens do). ``{"deny"}`` means
no access at all.
"""

from pathlib import Path

import pytest

from jenkins_broker.commands.bootstrap import policies_dir

pytestmark = pytest.mark.integration

DENY = {"deny"}
CRUD = {"create", "read", "update", "delete"}

MATRIX = {
    "jenkins-consumer-ci-bot": {
        "jenkins/creds/ci-bot": {"read"},
        "jenkins/creds/deployer": DENY,
        "jenkins/roles/ci-bot": DENY,
        "jenkins/config": DENY,
        "jenkins/leases/ci-bot": DENY,
        "jenkins/revoke/ci-bot": DENY,
        "jenkins-broker/data/credentials/ci-bot": DENY,
        "jenkins-broker/data/secrets/ci-bot": DENY,
        "jenkins-broker/data/leases/ci-bot/x": DENY,
        "sys/leases/revoke": DENY,
        "sys/leases/revoke-prefix/jenkins/creds/ci-bot": DENY,
        "sys/leases/lookup/jenkins/creds/ci-bot": DENY,
        # From Vault's default policy, which every token carries: renew and look up own leases.
        "sys/leases/renew": {"update"},
        "sys/leases/lookup": {"update"},
        "sys/metrics": DENY,
    },
    "jenkins-broker": {
        "jenkins-broker/data/leases/ci-bot/abc": CRUD,
        "jenkins-broker/data/roles/ci-bot": CRUD,
        "jenkins-broker/data/config": CRUD,
        "jenkins-broker/data/credentials/ci-bot": CRUD,
        "jenkins-broker/data/secrets/ci-bot": CRUD,
        # Moving secrets an older broker stored inline out of credentials/, for good.
        "jenkins-broker/destroy/credentials/ci-bot": {"update"},
        "jenkins-broker/destroy/secrets/ci-bot": DENY,
        "jenkins-broker/data/shared/ci-bot": CRUD,
        "jenkins-broker/metadata/leases/ci-bot": {"list", "delete"},
        "jenkins/creds/ci-bot": {"create", "update", "delete"},  # writes shared creds, never reads them
        "auth/token/renew-self": {"update"},
        "auth/token/lookup-self": {"read"},
        # Leases follow their caller's token: look callers up by accessor, never by token.
        "auth/token/lookup-accessor": {"update"},
        "sys/capabilities-accessor": {"update"},
        "auth/token/lookup": DENY,
        "sys/metrics": DENY,
        "auth/token/revoke-accessor": DENY,
        "auth/token/revoke": DENY,
        "sys/capabilities": DENY,
        "sys/policies/acl/jenkins-broker": DENY,
        "sys/mounts/jenkins": DENY,
        "sys/auth/approle": DENY,
        "auth/approle/role/jenkins-broker": DENY,
        "auth/token/create": DENY,
        "secret/data/anything": DENY,
        "sys/leases/revoke-prefix/jenkins/creds/ci-bot": DENY,
        "jenkins/roles/ci-bot": DENY,
    },
    "jenkins-admin": {
        "jenkins/config": {"create", "read", "update"},
        "jenkins/roles/ci-bot": CRUD | {"list"},
        "jenkins/roles": {"list"},
        "jenkins/credentials/ci-bot": CRUD | {"list"},
        "jenkins/rotate-credential/ci-bot": {"update"},
        "jenkins-broker/data/roles/ci-bot": CRUD,
        "jenkins-broker/data/credentials/ci-bot": CRUD,  # no secret there
        # Secrets are written, never read back.
        "jenkins-broker/data/secrets/ci-bot": {"create", "update"},
        "jenkins-broker/metadata/secrets/ci-bot": {"delete"},
        "jenkins-broker/destroy/credentials/ci-bot": DENY,
        "jenkins-broker/data/config": {"create", "read", "update"},
        "jenkins/creds/ci-bot": DENY,
        "jenkins/leases/ci-bot": DENY,
        "jenkins/revoke/ci-bot": DENY,
        "jenkins-broker/data/leases/ci-bot/x": DENY,
        "sys/leases/revoke": DENY,
        "sys/metrics": {"read"},  # the broker's /metrics and health details
    },
    "jenkins-auditor": {
        "jenkins/leases/ci-bot": {"read", "list"},
        "jenkins/revoke/ci-bot": {"update"},
        "sys/leases/lookup": {"update"},
        "sys/leases/lookup/jenkins/creds/ci-bot": {"list", "sudo"},
        "sys/leases/lookup/jenkins/creds": {"list", "sudo"},
        "sys/leases/revoke": {"update"},
        "sys/leases/revoke-prefix/jenkins/creds/ci-bot": {"update", "sudo"},
        "sys/leases/revoke-force/jenkins/creds/ci-bot": {"update", "sudo"},
        "sys/leases/revoke/jenkins/creds/ci-bot/abc": {"update"},
        "sys/leases/revoke-force/database/creds/app": DENY,
        "jenkins-broker/data/leases/ci-bot/x": {"read"},
        "jenkins-broker/metadata/leases/ci-bot": {"list"},
        "jenkins/creds/ci-bot": DENY,
        "jenkins-broker/data/credentials/ci-bot": DENY,
        "jenkins-broker/data/secrets/ci-bot": DENY,
        "jenkins-broker/data/config": DENY,
        "jenkins/config": DENY,
        "jenkins/roles/ci-bot": DENY,
        "jenkins-broker/data/roles/ci-bot": DENY,
        "sys/metrics": {"read"},  # the broker's /metrics and health details
    },
}


def test_every_shipped_policy_has_a_matrix():
    assert {p.stem for p in policies_dir().glob("*.hcl")} == set(MATRIX)


@pytest.mark.parametrize("policy", sorted(MATRIX))
def test_capability_matrix(vault_sandbox, policy):
    hcl = (Path(policies_dir()) / f"{policy}.hcl").read_text()
    name = vault_sandbox.policy(policy, hcl)
    token = vault_sandbox.token([name])["client_token"]
    client = vault_sandbox.client
    paths = sorted(MATRIX[policy])
    got = client.adapter.post("/v1/sys/capabilities", json={"token": token, "paths": paths})["data"]
    wrong = {p: (sorted(got[p]), sorted(MATRIX[policy][p])) for p in paths
             if set(got[p]) != MATRIX[policy][p]}
    assert not wrong, f"{policy}: path -> (got, expected): {wrong}"


@pytest.mark.parametrize("policy", sorted(set(MATRIX) - {"jenkins-broker"}))
def test_no_shipped_policy_but_the_brokers_reads_stored_secrets(vault_sandbox, policy):
    """Stored secrets live under secrets/ alone; a read of any of them, at any depth, is
    refused to every other shipped policy (the broker's own is the matrix's)."""
    hcl = (Path(policies_dir()) / f"{policy}.hcl").read_text()
    token = vault_sandbox.token([vault_sandbox.policy(policy, hcl)])["client_token"]
    paths = ["jenkins-broker/data/secrets/ci-bot", "jenkins-broker/data/secrets/a/b",
             "jenkins-broker/data/secrets", "jenkins-broker/data/secrets/"]
    got = vault_sandbox.client.adapter.post("/v1/sys/capabilities",
                                            json={"token": token, "paths": paths})["data"]
    assert not {p: got[p] for p in paths if {"read", "root"} & set(got[p])}


def test_the_broker_policy_has_no_sudo_and_no_policy_or_auth_writes():
    text = (Path(policies_dir()) / "jenkins-broker.hcl").read_text()
    hcl = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "path" in hcl and "sudo" not in hcl and "auth/approle" not in hcl
    # Its only sys/ path checks a use-limited caller's capabilities by accessor.
    assert [line for line in hcl.splitlines() if "sys/" in line] == [
        'path "sys/capabilities-accessor" {']


def test_the_end_to_end_broker_holds_only_its_own_policy(stack):
    me = stack.services.store.client.request("GET", "auth/token/lookup-self", action="look up")["data"]
    assert sorted(me["policies"]) == ["default", "jenkins-broker"]
