"""examples/github-actions/ and examples/gitlab-ci/ against a real OpenBao, the broker and
the fake Jenkins, with a stand-in OIDC issuer (tests/support/oidc.py) in place of GitHub's
and GitLab's: Vault fetches the issuer's discovery document and keys from it, as it would
from theirs, so each vault-setup.sh runs as written with only the issuer's URL changed (its
GITHUB_OIDC_ISSUER / GITLAB_URL setting).

Then each CI file is carried out as its CI system does it:
* GitHub: hashicorp/vault-action (v3) logs in with ``POST auth/<path>/login {role, jwt}``,
  reads each path once (``GET /v1/<path>``, cached for every key of it), exports the keys
  and the token (``exportToken``); then the job's ``run`` steps run with ``bash -e``.
* GitLab: for each entry of ``secrets:`` the runner logs in with the job's ID token
  (``VAULT_AUTH_PATH``, ``VAULT_AUTH_ROLE``) and reads ``<engine path>/<path>`` (the kv-v1
  engine: a plain read), taking ``field``; then the ``script`` lines run with ``sh -e``.
The JWTs carry the claims those systems put in them (the ones the roles bind and map).
A JWT for another repository, branch or project is refused.
"""

from __future__ import annotations

import pytest
import requests

from tests.support import wait_for
from tests.support.ci_examples import (
    EXAMPLES,
    SETUP_SCRIPTS,
    clean_env,
    curl_credentials,
    expand,
    run_script,
    shown,
    tool_dir,
    vault_action_secrets,
)
from tests.support.oidc import IssuerStandIn

pytestmark = pytest.mark.integration
yaml = pytest.importorskip("yaml")

REPO, OWNER = "my-org/my-repo", "my-org"
PROJECT_ID, AUDIENCE = "4242", "https://vault.example.com"


def whoami(st, token: str) -> int:
    return requests.get(st.jenkins.url + "whoAmI/api/json", auth=("ci-bot", token), timeout=10).status_code


@pytest.fixture(scope="module")
def issuer():
    with IssuerStandIn().running() as fake:
        yield fake


@pytest.fixture(scope="module")
def jwt_roles(ex_stack, issuer, tmp_path_factory):
    """Both vault-setup scripts run (twice each: safe to repeat) against the stack's Vault,
    with the stand-in issuer."""
    where = tmp_path_factory.mktemp("oidc-setup")
    base = clean_env(tool_dir(where / "bin"), where / "home", VAULT_ADDR=ex_stack.bao.addr,
                     VAULT_TOKEN=ex_stack.bao.root_token)
    settings = {"github-actions": {"GITHUB_REPOSITORY": REPO, "GITHUB_OIDC_ISSUER": issuer.url},
                "gitlab-ci": {"GITLAB_PROJECT_ID": PROJECT_ID, "JWT_AUDIENCE": AUDIENCE,
                              "GITLAB_URL": issuer.url + "/"}}
    for name, extra in settings.items():
        for _ in range(2):
            done = run_script([str(SETUP_SCRIPTS[name])], {**base, **extra})
            assert done.returncode == 0, shown(done)
    return ex_stack


def login(url: str, mount: str, role: str, jwt: str) -> requests.Response:
    return requests.post(f"{url}/v1/auth/{mount}/login", json={"role": role, "jwt": jwt}, timeout=10)


# -- GitHub Actions -------------------------------------------------------------------------

def github_claims(audience: str, **overrides) -> dict:
    """The claims of a GitHub Actions OIDC token for a push to main of REPO."""
    return {"aud": audience, "sub": f"repo:{REPO}:ref:refs/heads/main", "repository": REPO,
            "repository_owner": OWNER, "repository_id": "1", "ref": "refs/heads/main",
            "ref_type": "branch", "actor": "octocat", "workflow": "Jenkins token from Vault",
            "run_id": "77", "event_name": "push", **overrides}


def run_workflow(st, issuer, vault_addr: str, env_for, claims: dict | None = None) -> tuple[list, str]:
    """The workflow's job as GitHub runs it; returns the results of its run steps and the
    Vault token vault-action got."""
    workflow = yaml.safe_load((EXAMPLES / "github-actions" / "jenkins-token.yml").read_text())
    [job] = workflow["jobs"].values()
    context = {"vars.VAULT_ADDR": vault_addr, "vars.TARGET_JENKINS_URL": st.jenkins.url,
               "github.repository_owner": OWNER}
    inputs = expand(job["steps"][0]["with"], context)
    jwt = issuer.jwt(claims or github_claims(inputs["jwtGithubAudience"]))
    answer = login(inputs["url"], inputs["path"], inputs["role"], jwt)
    assert answer.status_code == 200, answer.text
    token = answer.json()["auth"]["client_token"]
    exported: dict[str, str] = {}
    cache: dict[str, dict] = {}
    for path, key, name in vault_action_secrets(inputs["secrets"]):
        if path not in cache:
            read = requests.get(f"{inputs['url']}/v1/{path}", headers={"X-Vault-Token": token}, timeout=15)
            assert read.status_code == 200, read.status_code
            cache[path] = read.json()["data"]
        exported[name] = cache[path][key]
    if str(inputs["exportToken"]).lower() == "true":
        exported["VAULT_TOKEN"] = token
    results = []
    for step in job["steps"][1:]:
        env = env_for(**exported, **expand(step.get("env") or {}, context))
        results.append(run_script(["bash", "-e", "-c", step["run"]], env))
    return results, token


def test_github_role_binds_the_repository_and_branch(jwt_roles, issuer):
    audience = f"https://github.com/{OWNER}"
    ok = login(jwt_roles.broker_url, "jwt", "github-jenkins-ci-bot", issuer.jwt(github_claims(audience)))
    assert ok.status_code == 200, ok.text
    assert ok.json()["auth"]["policies"] == ["default", "jenkins-consumer-ci-bot"]
    assert ok.json()["auth"]["metadata"]["actor"] == "octocat"
    for bad in (github_claims(audience, repository="my-org/other"),
                github_claims(audience, ref="refs/heads/feature"),
                github_claims("sigstore")):                 # vault-action's default audience
        refused = login(jwt_roles.broker_url, "jwt", "github-jenkins-ci-bot", issuer.jwt(bad))
        assert refused.status_code == 400, refused.text


def test_github_workflow_in_broker_mode(jwt_roles, issuer, env_for, tools):
    st = jwt_roles
    (call, revoke), vault_token = run_workflow(st, issuer, st.broker_url, env_for)
    assert call.returncode == 0 and '"name":"ci-bot"' in call.stdout, shown(call)
    assert revoke.returncode == 0, shown(revoke)
    [(user, token)] = curl_credentials(tools)
    fresh = token != st.admin_store.read_shared("ci-bot")["token"]
    assert user == "ci-bot" and fresh
    # The last step revoked the job's Vault token; the broker then revokes its Jenkins token.
    gone = requests.get(f"{st.bao.addr}/v1/auth/token/lookup-self", headers={"X-Vault-Token": vault_token},
                        timeout=10)
    assert gone.status_code == 403
    wait_for(lambda: whoami(st, token) == 401, timeout=30, what="the job's Jenkins token revoked")


def test_github_workflow_in_shared_mode(jwt_roles, issuer, env_for, tools):
    st = jwt_roles
    (call, revoke), _ = run_workflow(st, issuer, st.bao.addr, env_for)
    assert call.returncode == 0 and revoke.returncode == 0, shown(call) + shown(revoke)
    [(_, token)] = curl_credentials(tools)
    same = token == st.admin_store.read_shared("ci-bot")["token"]
    assert same and whoami(st, token) == 200


# -- GitLab CI --------------------------------------------------------------------------------

def gitlab_claims(audience: str, **overrides) -> dict:
    """The claims of a GitLab CI ID token for a job on protected branch main of PROJECT_ID."""
    return {"aud": audience, "sub": "project_path:grp/proj:ref_type:branch:ref:main",
            "project_id": PROJECT_ID, "project_path": "grp/proj", "namespace_id": "7",
            "namespace_path": "grp", "user_login": "alice", "user_email": "alice@example.com",
            "pipeline_id": "1001", "job_id": "2002", "ref": "main", "ref_type": "branch",
            "ref_protected": "true", "ref_path": "refs/heads/main", **overrides}


def run_gitlab_job(st, issuer, server_url: str, env_for, claims: dict | None = None):
    config = yaml.safe_load((EXAMPLES / "gitlab-ci" / ".gitlab-ci.yml").read_text())
    variables = {**config["variables"], "VAULT_SERVER_URL": server_url,
                 "TARGET_JENKINS_URL": st.jenkins.url}
    job = config["call-jenkins"]
    id_tokens = {name: issuer.jwt(claims or gitlab_claims(spec["aud"]))
                 for name, spec in job["id_tokens"].items()}
    values = dict(variables)
    for name, secret in job["secrets"].items():
        jwt = id_tokens[secret["token"].lstrip("$")]
        answer = login(server_url, variables["VAULT_AUTH_PATH"], variables["VAULT_AUTH_ROLE"], jwt)
        assert answer.status_code == 200, answer.text
        engine, vault = secret["vault"]["engine"], secret["vault"]
        read = requests.get(f"{server_url}/v1/{engine['path']}/{vault['path']}",
                            headers={"X-Vault-Token": answer.json()["auth"]["client_token"]}, timeout=15)
        assert read.status_code == 200, read.status_code
        values[name] = read.json()["data"][vault["field"]]
    return [run_script(["sh", "-e", "-c", line], env_for(**values)) for line in job["script"]]


def test_gitlab_role_binds_the_project_and_protected_branch(jwt_roles, issuer):
    ok = login(jwt_roles.broker_url, "jwt-gitlab", "gitlab-jenkins-ci-bot", issuer.jwt(gitlab_claims(AUDIENCE)))
    assert ok.status_code == 200, ok.text
    assert ok.json()["auth"]["metadata"]["user_login"] == "alice"
    for bad in (gitlab_claims(AUDIENCE, project_id="1"), gitlab_claims(AUDIENCE, ref="feature"),
                gitlab_claims(AUDIENCE, ref_protected="false"), gitlab_claims("https://other")):
        refused = login(jwt_roles.broker_url, "jwt-gitlab", "gitlab-jenkins-ci-bot", issuer.jwt(bad))
        assert refused.status_code == 400, refused.text


@pytest.mark.parametrize("mode", ["broker", "shared"])
def test_gitlab_job(jwt_roles, issuer, env_for, tools, mode):
    st = jwt_roles
    results = run_gitlab_job(st, issuer, st.broker_url if mode == "broker" else st.bao.addr, env_for)
    for done in results:
        assert done.returncode == 0 and '"name":"ci-bot"' in done.stdout, shown(done)
    [(user, token)] = curl_credentials(tools)
    shared = token == st.admin_store.read_shared("ci-bot")["token"]
    assert user == "ci-bot" and shared == (mode == "shared")
    assert whoami(st, token) == 200       # GitLab never revokes: the token ends with its lease
