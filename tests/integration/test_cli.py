"""The command line against the integration stack: administration, mint, leases, revoke, reap, check."""

import json
import logging

import pytest
import requests

from jenkins_broker.commands.cli import main
from jenkins_broker.domain.jenkins_config import StoredCredential

pytestmark = pytest.mark.integration


@pytest.fixture
def cli(stack, monkeypatch, capsys):
    monkeypatch.setenv("VAULT_ADDR", stack.bao.addr)
    monkeypatch.setenv("VAULT_TOKEN", stack.bao.root_token)

    def run(*argv, expect=0):
        code = main(list(argv))
        out, err = capsys.readouterr()
        assert code == expect, err
        return out, err
    return run


def test_roles_and_credentials(cli, monkeypatch, stack):
    uuid, given = stack.jenkins.add_token("ci-bot", name="pasted into a terminal")
    monkeypatch.setenv("SOME_TOKEN", given)
    out, _ = cli("credentials", "write", "cli-cred", "--username", "ci-bot", "--token-env", "SOME_TOKEN")
    assert "cli-cred" in out and given not in out
    # Written means rotated: the broker keeps a token of its own, and the given one is dead.
    stored = json.loads(cli("credentials", "read", "cli-cred", "--json")[0])
    assert stored["kind"] == "token" and stored["username"] == "ci-bot"
    assert stored["token_name"] == "jenkins-broker-credential-cli-cred" and stored["token_uuid"] != uuid
    assert whoami_status(stack, given) == 401
    assert whoami_status(stack, stack.admin_store.get_credential("cli-cred").secret) == 200
    again = json.loads(cli("credentials", "rotate", "cli-cred", "--json")[0])
    assert again["previous_token_uuid"] == stored["token_uuid"] and again["previous_revoked"] is True
    cli("credentials", "delete", "cli-cred")
    out, _ = cli("roles", "write", "cli-made", "jenkins_user=ci-bot", "strategy=user-token",
                 "credential=ci-bot-token", "ttl=10m", "max_live_tokens=2")
    assert "10m" in out
    role = json.loads(cli("roles", "read", "cli-made", "--json")[0])
    assert role["max_live_tokens"] == 2 and role["ttl"] == "10m"
    _, err = cli("roles", "write", "cli-made", "ttl=forever", expect=1)
    assert err.startswith("Error: ttl:")
    assert "cli-made" in json.loads(cli("roles", "list", "--json")[0])
    cli("roles", "delete", "cli-made")
    cli("roles", "read", "cli-made", expect=1)


def whoami_status(stack, token):
    return requests.get(f"{stack.jenkins.url}whoAmI/api/json", auth=("ci-bot", token), timeout=5).status_code


def test_mint_leases_revoke_reap(cli, stack):
    stack.role("cli-mint", ttl="10m")
    minted = json.loads(cli("mint", "cli-mint", "--ttl", "2m", "--json")[0])
    assert minted["lease_duration"] == 120
    auth = ("ci-bot", minted["token"])
    assert requests.get(f"{stack.jenkins.url}whoAmI/api/json", auth=auth, timeout=5).status_code == 200
    rows = json.loads(cli("leases", "cli-mint", "--json")[0])
    assert [r["lease_id"] for r in rows] == [minted["lease_id"]]
    assert rows[0]["requester"].startswith("cli:") and "token" not in rows[0]
    table, _ = cli("leases", "cli-mint")
    assert table.splitlines()[0].split()[:3] == ["LEASE_ID", "USER", "REQUESTER"]
    assert json.loads(cli("revoke", minted["lease_id"], "--json")[0])["revoked"] is True
    assert requests.get(f"{stack.jenkins.url}whoAmI/api/json", auth=auth, timeout=5).status_code == 401
    cli("mint", "cli-mint")
    counts = json.loads(cli("revoke", "--role", "cli-mint", "--json")[0])
    assert counts["revoked"] == 1
    # An orphan: a broker-named token with no lease record (a crash between mint and record).
    _, orphan = stack.jenkins.add_token("ci-bot", name="jenkins-broker-cli-mint-00000000000000000000abcd")
    reaped = json.loads(cli("reap", "--reconcile", "--grace", "0", "--json")[0])
    assert reaped["reconcile"]["revoked"] >= 1
    assert requests.get(f"{stack.jenkins.url}whoAmI/api/json", auth=("ci-bot", orphan),
                        timeout=5).status_code == 401


def test_check(cli):
    out, _ = cli("check")
    lines = out.splitlines()
    assert lines[0].split() == ["CHECK", "OK", "DETAIL"]
    assert all(" ok " in line for line in lines[1:]), out
    assert any(line.startswith("jenkins") and "2.555.1" in line for line in lines)


def test_check_accepts_a_credential_whose_user_differs_only_in_case(cli, stack):
    # Jenkins compares ids case-insensitively and whoAmI names the stored id ("ci-bot"):
    # `check`, the broker's token check and the engine's config check apply one rule.
    _, token = stack.jenkins.add_token("ci-bot", name="upper-case credential")
    stack.admin_store.put_credential(StoredCredential("upper-cred", "CI-BOT", "token", token))
    role = stack.role("upper-case", jenkins_user="CI-Bot", credential="upper-cred")
    try:
        out, _ = cli("check")
        row = [line for line in out.splitlines() if line.startswith(f"role {role}")]
        assert row and " ok " in row[0] and "logs in as CI-BOT" in row[0], out
    finally:
        stack.admin_store.delete_role(role)
        stack.admin_store.delete_credential("upper-cred")


def test_usage_errors_exit_2(cli):
    with pytest.raises(SystemExit) as exc:
        main(["revoke"])
    assert exc.value.code == 2


def test_no_token_value_in_any_log_line(stack, caplog):
    """Mint, renew and revoke through the broker with every logger at DEBUG: no token value anywhere."""
    role = stack.role("log-check", ttl=2)
    ci = stack.consumer(role)
    values = []
    with caplog.at_level(logging.DEBUG):
        for _ in range(3):
            secret = stack.mint(role, ci).json()
            values.append(secret["data"]["token"])
            requests.put(f"{stack.broker_url}/v1/sys/leases/renew", headers={"X-Vault-Token": ci},
                         json={"lease_id": secret["lease_id"], "increment": 1}, timeout=5)
        from tests.support import wait_for
        wait_for(lambda: not stack.services.store.list_leases(role), timeout=10, what="reaping")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert '"event": "revoke"' in text  # the audit lines were captured
    for value in values:
        assert value not in text and value[2:] not in text
    assert ci not in text


def test_auditor_lists_and_kills_through_the_broker(stack, monkeypatch, capsys):
    """With JENKINS_BROKER_ADDR set, `leases` and `revoke` act through the broker with the
    caller's token: an auditor (no access to Jenkins credentials) can see and kill tokens."""
    role = stack.role("audited")
    alice, bob = stack.consumer(role), stack.consumer(role)
    minted = {who: [stack.mint(role, tok).json() for _ in range(2)] for who, tok in
              (("alice", alice), ("bob", bob))}
    auditor = stack.token("jenkins-auditor")
    monkeypatch.setenv("JENKINS_BROKER_ADDR", stack.broker_url)
    monkeypatch.setenv("VAULT_TOKEN", auditor)
    monkeypatch.delenv("VAULT_ADDR", raising=False)

    def run(*argv, expect=0):
        code = main(list(argv))
        out, err = capsys.readouterr()
        assert code == expect, err
        return out, err

    rows = json.loads(run("leases", role, "--json")[0])
    assert len(rows) == 4 and {r["attempts"] for r in rows} == {0}
    assert all(r["requester"].startswith("token-test-") for r in rows)  # Vault adds "token-"
    first = minted["alice"][0]
    run("revoke", first["lease_id"])
    assert requests.get(f"{stack.jenkins.url}whoAmI/api/json", auth=("ci-bot", first["data"]["token"]),
                        timeout=5).status_code == 401
    bob_accessor = stack.bao.client().auth.token.lookup(bob)["data"]["accessor"]
    counts = json.loads(run("revoke", "--role", role, "--requester", bob_accessor, "--json")[0])
    assert counts == {"revoked": 2, "failed": 0, "skipped": 1}
    for secret in minted["bob"]:
        assert requests.get(f"{stack.jenkins.url}whoAmI/api/json", auth=("ci-bot", secret["data"]["token"]),
                            timeout=5).status_code == 401
    # A consumer token may not do any of it.
    monkeypatch.setenv("VAULT_TOKEN", alice)
    _, err = run("revoke", "--role", role, expect=1)
    assert "403" in err and "permission denied" in err


def test_bad_values_are_a_message_not_a_traceback(cli, stack):
    stack.role("cli-bad", ttl="10m")
    _, err = cli("mint", "cli-bad", "--ttl", "abc", expect=1)
    assert err.startswith("Error: --ttl:") and "Traceback" not in err
