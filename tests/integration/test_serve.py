"""`jenkins-broker serve` as operators run it: a process configured from the environment."""

import os
import subprocess
import sys

import pytest
import requests

from tests.support import free_port, stop_process, wait_for

pytestmark = pytest.mark.integration


def test_serve_from_the_environment_then_stop_on_sigterm(stack, tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_", "JENKINS_"))}
    env.update(VAULT_ADDR=stack.bao.addr, JENKINS_BROKER_VAULT_AUTH="approle",
               JENKINS_BROKER_VAULT_ROLE_ID=stack.role_id,
               JENKINS_BROKER_VAULT_SECRET_ID=stack.secret_id,
               JENKINS_BROKER_LISTEN=f"127.0.0.1:{port}", JENKINS_BROKER_LOG_LEVEL="INFO")
    log = open(tmp_path / "serve.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "jenkins_broker.commands.cli", "serve"], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        def healthy():
            try:
                return requests.get(f"{url}/v1/sys/health", timeout=2).status_code == 200
            except requests.ConnectionError:
                assert proc.poll() is None, "serve exited early"
                return False
        wait_for(healthy, timeout=30, interval=0.1, what="serve to answer /v1/sys/health")
        stack.role("served")
        resp = requests.get(f"{url}/v1/jenkins/creds/served", timeout=10,
                            headers={"X-Vault-Token": stack.consumer("served")})
        assert resp.status_code == 200 and resp.json()["data"]["username"] == "ci-bot"
        assert requests.get(f"{url}/v1/jenkins/creds/served", timeout=10).status_code == 403
    finally:
        stop_process(proc, 20)
    log.seek(0)
    text = log.read()
    assert proc.returncode == 0, text
    assert "serving on http://127.0.0.1" in text and "stopping" in text
    assert resp.json()["data"]["token"] not in text
