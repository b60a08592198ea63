"""examples/shell/jenkins-token.sh against a real OpenBao, the broker and the fake Jenkins:
broker mode (a fresh token, its lease revoked at exit, also when the command fails or the
script is stopped), shared mode (the shared token, left alone), and the other revocation
modes. The command the script runs keeps what it was given in files of the test's own
directory (mode 600); no token value is printed."""

from __future__ import annotations

import hashlib
import subprocess

import pytest
import requests

from tests.support import stop_process, wait_for
from tests.support.ci_examples import EXAMPLES, SHELL_SCRIPT, run_script, shown

pytestmark = pytest.mark.integration

REVOKE_POLICY = EXAMPLES / "shell" / "jenkins-lease-revoke.hcl"
# The command given to the script: it keeps the token, lease id and user in files.
KEEP = ('umask 077; printf %s "$JENKINS_TOKEN" > "$OUT/token"; '
        'printf %s "$JENKINS_TOKEN_LEASE_ID" > "$OUT/lease"; printf %s "$JENKINS_USER" > "$OUT/user"')


def whoami(st, token: str) -> int:
    return requests.get(st.jenkins.url + "whoAmI/api/json", auth=("ci-bot", token), timeout=10).status_code


def in_jenkins(st, lease_id: str) -> bool:
    """Whether Jenkins still holds the token minted under ``lease_id`` (named after it)."""
    suffix = lease_id.rsplit("/", 1)[-1]
    return any(t["name"].endswith(suffix) for t in st.jenkins.tokens("ci-bot"))


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture(scope="module")
def revoking_token(ex_stack):
    """A Vault token with the consumer policy and the example's self-revoke policy."""
    ex_stack.bao.client().sys.create_or_update_acl_policy(
        "jenkins-lease-revoke", REVOKE_POLICY.read_text(encoding="utf-8"))
    return ex_stack.token("jenkins-consumer-ci-bot", "jenkins-lease-revoke")


def kept(out) -> dict[str, str]:
    return {name: (out / name).read_text() for name in ("token", "lease", "user")}


def test_broker_mode_token_works_and_its_lease_is_revoked_at_exit(ex_stack, env_for, tmp_path,
                                                                   revoking_token):
    env = env_for(VAULT_ADDR=ex_stack.broker_url, VAULT_TOKEN=revoking_token, OUT=str(tmp_path))
    done = run_script([str(SHELL_SCRIPT), "-w", "-t", "10m", "--", "sh", "-c", KEEP], env)
    assert done.returncode == 0, shown(done)
    got = kept(tmp_path)
    assert got["user"] == "ci-bot" and got["lease"].startswith("jenkins/creds/ci-bot/")
    assert "whoAmI: ci-bot, authenticated" in done.stderr and f"revoked lease {got['lease']}" in done.stderr
    # Revoked before the script exited: Jenkins no longer has it, and the record is gone.
    assert not in_jenkins(ex_stack, got["lease"])
    assert whoami(ex_stack, got["token"]) == 401
    assert got["lease"].rsplit("/", 1)[1] not in ex_stack.admin_store.list_leases("ci-bot")
    leaked = got["token"] in done.stdout + done.stderr
    assert not leaked, "the script printed the token"


def test_a_failing_command_keeps_its_status_and_the_lease_is_still_revoked(ex_stack, env_for, tmp_path,
                                                                           revoking_token):
    env = env_for(VAULT_ADDR=ex_stack.broker_url, VAULT_TOKEN=revoking_token, OUT=str(tmp_path))
    done = run_script([str(SHELL_SCRIPT), "sh", "-c", KEEP + "; exit 7"], env)
    assert done.returncode == 7, shown(done)
    assert whoami(ex_stack, kept(tmp_path)["token"]) == 401


def test_a_stopped_script_revokes_its_lease(ex_stack, env_for, tmp_path, revoking_token):
    """SIGTERM to the script's process group (as a CI system cancelling a job sends it)."""
    env = env_for(VAULT_ADDR=ex_stack.broker_url, VAULT_TOKEN=revoking_token, OUT=str(tmp_path))
    proc = subprocess.Popen([str(SHELL_SCRIPT), "sh", "-c", KEEP + "; exec sleep 60"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_for(lambda: (tmp_path / "user").exists(), timeout=30, what="the command to start")
        token = kept(tmp_path)["token"]
        assert whoami(ex_stack, token) == 200
    finally:
        stop_process(proc)
    assert proc.returncode == 143
    assert whoami(ex_stack, token) == 401


def test_without_the_revoke_policy_it_says_so_and_the_lease_runs_on(ex_stack, env_for, tmp_path):
    consumer = ex_stack.token("jenkins-consumer-ci-bot")
    env = env_for(VAULT_ADDR=ex_stack.broker_url, VAULT_TOKEN=consumer, OUT=str(tmp_path))
    done = run_script([str(SHELL_SCRIPT), "sh", "-c", KEEP], env)
    assert done.returncode == 0, shown(done)
    assert "needs update on sys/leases/revoke" in done.stderr
    assert "permission denied" in done.stderr
    got = kept(tmp_path)
    assert whoami(ex_stack, got["token"]) == 200 and in_jenkins(ex_stack, got["lease"])
    ex_stack.bao_cli("lease", "revoke", got["lease"], token=ex_stack.bao.root_token)   # tidy up


def test_token_mode_revokes_the_vault_token_and_the_broker_then_its_jenkins_token(ex_stack, env_for,
                                                                                   tmp_path):
    own = ex_stack.token("jenkins-consumer-ci-bot")      # this job's own token, no revoke policy
    env = env_for(VAULT_ADDR=ex_stack.broker_url, VAULT_TOKEN=own, JENKINS_TOKEN_REVOKE="token",
                  OUT=str(tmp_path))
    done = run_script([str(SHELL_SCRIPT), "sh", "-c", KEEP], env)
    assert done.returncode == 0, shown(done)
    assert "revoked this job's Vault token" in done.stderr
    lookup = requests.get(ex_stack.bao.addr + "/v1/auth/token/lookup-self",
                          headers={"X-Vault-Token": own}, timeout=10)
    assert lookup.status_code == 403
    token = kept(tmp_path)["token"]
    wait_for(lambda: whoami(ex_stack, token) == 401, timeout=30,
             what="the broker to revoke the Jenkins token of a revoked Vault token")


def test_keep_leaves_the_lease(ex_stack, env_for, tmp_path, revoking_token):
    env = env_for(VAULT_ADDR=ex_stack.broker_url, VAULT_TOKEN=revoking_token, OUT=str(tmp_path))
    done = run_script([str(SHELL_SCRIPT), "-k", "sh", "-c", KEEP], env)
    assert done.returncode == 0, shown(done)
    got = kept(tmp_path)
    assert whoami(ex_stack, got["token"]) == 200 and "revoked" not in done.stderr
    ex_stack.bao_cli("lease", "revoke", got["lease"], token=ex_stack.bao.root_token)


@pytest.mark.parametrize("names", ["VAULT", "BAO"])
def test_shared_mode_reads_the_shared_token_and_leaves_it(ex_stack, env_for, tmp_path, names):
    """VAULT_ADDR is Vault itself: the KV value the broker rotates; nothing to revoke. With
    BAO_* only, the bao CLI by its own name (VAULT_CLI)."""
    consumer = ex_stack.token("jenkins-consumer-ci-bot")
    env = env_for(**{f"{names}_ADDR": ex_stack.bao.addr, f"{names}_TOKEN": consumer, "OUT": str(tmp_path)})
    if names == "BAO":
        env["VAULT_CLI"] = env["PATH"].split(":")[0] + "/vault"
    done = run_script([str(SHELL_SCRIPT), "-w", "sh", "-c", KEEP], env)
    assert done.returncode == 0, shown(done)
    got = kept(tmp_path)
    assert got["lease"] == "" and "the shared credential" in done.stderr
    same = digest(got["token"]) == digest(ex_stack.admin_store.read_shared("ci-bot")["token"])
    assert same, "the script did not get the shared token"
    assert whoami(ex_stack, got["token"]) == 200          # not revoked: others use it too


def test_a_role_the_token_may_not_read_fails_clearly(ex_stack, env_for, revoking_token):
    env = env_for(VAULT_ADDR=ex_stack.broker_url, VAULT_TOKEN=revoking_token)
    done = run_script([str(SHELL_SCRIPT), "-r", "deployer", "true"], env)
    assert done.returncode == 2, shown(done)
    assert "permission denied" in done.stderr
    assert "could not read jenkins/creds/deployer" in done.stderr
