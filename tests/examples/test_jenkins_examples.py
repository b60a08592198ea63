"""examples/jenkins/ against a real OpenBao, the broker and the fake Jenkins: vault-setup.sh
makes the AppRole; the Jenkinsfile's `sh` step runs with what Jenkins would give it (its
environment block, the credentials withCredentials binds) in broker and shared mode; the
vault-plugin Jenkinsfile's read is done as the HashiCorp Vault plugin does it (an AppRole
login, one GET of the path for all its secretValues) and its `sh` step runs with them.

The token a step used is read back from the curl shim's log (tests/support/ci_examples);
no token value is printed."""

from __future__ import annotations

import re

import pytest
import requests

from tests.support import wait_for
from tests.support.ci_examples import (
    EXAMPLES,
    SETUP_SCRIPTS,
    clean_env,
    curl_credentials,
    groovy_environment,
    run_script,
    script_file,
    sh_blocks,
    shown,
    tool_dir,
    with_vault,
)

pytestmark = pytest.mark.integration

JENKINSFILE = (EXAMPLES / "jenkins" / "Jenkinsfile").read_text(encoding="utf-8")
PLUGIN_JENKINSFILE = (EXAMPLES / "jenkins" / "Jenkinsfile.vault-plugin").read_text(encoding="utf-8")


def whoami(st, token: str) -> int:
    return requests.get(st.jenkins.url + "whoAmI/api/json", auth=("ci-bot", token), timeout=10).status_code


@pytest.fixture(scope="module")
def approle(ex_stack, tmp_path_factory):
    """vault-setup.sh run (twice: it is safe to repeat) with the root token against Vault;
    returns (role_id, secret_id), the secret_id made as the script says."""
    where = tmp_path_factory.mktemp("jenkins-setup")
    env = clean_env(tool_dir(where / "bin"), where / "home", VAULT_ADDR=ex_stack.bao.addr,
                    VAULT_TOKEN=ex_stack.bao.root_token)
    for _ in range(2):
        done = run_script([str(SETUP_SCRIPTS["jenkins"])], env)
        assert done.returncode == 0, shown(done)
    role_id = re.search(r"^role_id: (\S+)$", done.stdout, re.M)
    assert role_id, done.stdout
    command = re.search(r"\((umask 077; vault write -f -field=secret_id \S+ )> secret-id.txt\)",
                        done.stdout)
    assert command, done.stdout
    made = run_script(["sh", "-c", command.group(1)], env)
    assert made.returncode == 0, shown(made)
    return role_id.group(1), made.stdout.strip()


def jenkins_step_env(env_for, st, vault_addr: str, role_id: str, secret_id: str) -> dict[str, str]:
    """What the `sh` step sees: the pipeline's environment block (VAULT_ADDR and the other
    Jenkins' URL replaced by the test's), withCredentials' two strings, withEnv's TARGET_JOB."""
    values = groovy_environment(JENKINSFILE)
    values.update(VAULT_ADDR=vault_addr, TARGET_JENKINS_URL=st.jenkins.url, VAULT_ROLE_ID=role_id,
                  VAULT_SECRET_ID=secret_id, TARGET_JOB="")
    return env_for(**values)


def test_setup_makes_an_approle_whose_tokens_hold_only_the_consumer_policy(ex_stack, approle):
    role = ex_stack.bao.client().auth.approle.read_role("jenkins-ci-bot")["data"]
    assert role["token_policies"] == ["jenkins-consumer-ci-bot"]
    assert role["token_max_ttl"] == 1800


def test_jenkinsfile_step_in_broker_mode(ex_stack, approle, env_for, tools, tmp_path):
    env = jenkins_step_env(env_for, ex_stack, ex_stack.broker_url, *approle)
    [block] = sh_blocks(JENKINSFILE)
    done = run_script([str(script_file(block, tmp_path))], env)
    assert done.returncode == 0, shown(done)
    assert '"name":"ci-bot"' in done.stdout
    [(user, token)] = curl_credentials(tools)
    assert user == "ci-bot"
    shared = ex_stack.admin_store.read_shared("ci-bot")["token"]
    minted = token != shared
    assert minted, "broker mode read the shared token"
    # The step revoked its own Vault token at exit; the broker then revokes the Jenkins token.
    wait_for(lambda: whoami(ex_stack, token) == 401, timeout=30,
             what="the Jenkins token of the build's revoked Vault token to be revoked")


def test_jenkinsfile_step_in_shared_mode(ex_stack, approle, env_for, tools, tmp_path):
    env = jenkins_step_env(env_for, ex_stack, ex_stack.bao.addr, *approle)
    [block] = sh_blocks(JENKINSFILE)
    done = run_script([str(script_file(block, tmp_path))], env)
    assert done.returncode == 0, shown(done)
    [(_, token)] = curl_credentials(tools)
    same = token == ex_stack.admin_store.read_shared("ci-bot")["token"]
    assert same, "shared mode did not read the shared token"
    assert whoami(ex_stack, token) == 200


def test_jenkinsfile_step_fails_when_the_other_jenkins_refuses(ex_stack, approle, env_for, tmp_path):
    """--fail: a refused call fails the step (here, a Jenkins user the token is not for)."""
    env = jenkins_step_env(env_for, ex_stack, ex_stack.broker_url, *approle)
    env["JENKINS_USER"] = "deployer"
    [block] = sh_blocks(JENKINSFILE)
    done = run_script([str(script_file(block, tmp_path))], env)
    assert done.returncode != 0 and "401" in done.stderr, shown(done)


@pytest.mark.parametrize("mode", ["broker", "shared"])
def test_vault_plugin_jenkinsfile(ex_stack, approle, env_for, tools, tmp_path, mode):
    """As the plugin does it: an AppRole login (its "Vault App Role Credential"), then one
    GET of each vaultSecrets path (engineVersion 1: the path as written), its secretValues
    taken from the answer's data, each required to be non-empty; then the `sh` step."""
    url = ex_stack.broker_url if mode == "broker" else ex_stack.bao.addr
    role_id, secret_id = approle
    login = requests.post(f"{url}/v1/auth/approle/login", json={"role_id": role_id, "secret_id": secret_id},
                          timeout=10)
    assert login.status_code == 200, login.text
    vault_token = login.json()["auth"]["client_token"]
    step = with_vault(PLUGIN_JENKINSFILE)
    values = groovy_environment(PLUGIN_JENKINSFILE)
    values["TARGET_JENKINS_URL"] = ex_stack.jenkins.url
    for secret in step["secrets"]:
        answer = requests.get(f"{url}/v1/{secret['path']}", headers={"X-Vault-Token": vault_token},
                              timeout=15)
        assert answer.status_code == 200, answer.status_code
        data = answer.json()["data"]
        for env_var, key in secret["values"].items():
            assert data.get(key), f"{key} missing from {secret['path']}"
            values[env_var] = data[key]
    [block] = sh_blocks(PLUGIN_JENKINSFILE)
    done = run_script([str(script_file(block, tmp_path))], env_for(**values))
    assert done.returncode == 0, shown(done)
    assert '"name":"ci-bot"' in done.stdout
    [(user, token)] = curl_credentials(tools)
    assert user == "ci-bot" and whoami(ex_stack, token) == 200
    requests.post(f"{url}/v1/auth/token/revoke-self", headers={"X-Vault-Token": vault_token}, timeout=10)
