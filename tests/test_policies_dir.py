"""`jenkins-broker bootstrap` finds the policies of a checkout without being told."""

from pathlib import Path

from jenkins_broker.commands.bootstrap import policies_dir

REPO = Path(__file__).resolve().parents[1]


def test_a_checkout_finds_its_own_vault_policies(monkeypatch):
    monkeypatch.delenv("JENKINS_BROKER_POLICIES_DIR", raising=False)
    found = policies_dir()
    assert found == REPO / "vault-policies" and (found / "jenkins-broker.hcl").is_file()
