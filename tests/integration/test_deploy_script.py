"""The Python that deploy/bootstrap.sh runs to issue the Compose CI token, against a real
OpenBao: it issues a token once, keeps it while it is good, and never prints its value."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "bootstrap.sh"


def _embedded_python() -> str:
    found = re.search(r"python - \"\$run_dir/ci\.env\" <<'PY'\n(.*?)\nPY\n", SCRIPT.read_text(), re.S)
    assert found, "deploy/bootstrap.sh no longer issues the CI token with an embedded script"
    return found.group(1)


def test_the_ci_token_is_issued_once_and_kept(bao_server, vault_sandbox, tmp_path):
    vault_sandbox.client.sys.create_or_update_acl_policy(
        "jenkins-consumer-ci-bot", 'path "jenkins/creds/ci-bot" { capabilities = ["read"] }\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "JENKINS_BROKER_"))}
    env.update(VAULT_ADDR=bao_server.addr, VAULT_TOKEN=bao_server.root_token)
    out = tmp_path / "ci.env"
    runs = [subprocess.run([sys.executable, "-c", _embedded_python(), str(out)], env=env,
                           capture_output=True, text=True, timeout=60) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
    assert runs[0].stdout.startswith("created") and runs[1].stdout.startswith("unchanged")
    token = re.search(r"CI_VAULT_TOKEN='([^']+)'", out.read_text()).group(1)
    assert token not in runs[0].stdout + runs[0].stderr + runs[1].stdout + runs[1].stderr
    data = vault_sandbox.client.auth.token.lookup(token)["data"]
    assert set(data["policies"]) - {"default"} == {"jenkins-consumer-ci-bot"}
