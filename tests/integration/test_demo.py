"""The README's quickstart: `jenkins-broker demo`, then the CI user's commands in another shell."""

import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests

from jenkins_broker.vault import find_bao_binary
from tests.support import alive, stop_process, wait_for

pytestmark = pytest.mark.integration


def _exports(path):
    return dict(re.findall(r"^export (\w+)='([^']*)'$", Path(path).read_text(), re.M))



def test_demo_end_to_end(tmp_path):
    bao = find_bao_binary()
    if not bao:
        pytest.skip("OpenBao binary `bao` not found")
    env_file = tmp_path / "demo.env"
    log = open(tmp_path / "demo.log", "w+")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_", "JENKINS_"))}
    demo = subprocess.Popen([sys.executable, "-m", "jenkins_broker.commands.cli", "demo", "--ttl", "4s",
                             "--env-file", str(env_file)], stdout=subprocess.PIPE, stderr=log,
                            text=True, env=env, start_new_session=True)
    bao_pid = None
    try:
        wait_for(lambda: env_file.exists() and "CI_VAULT_TOKEN" in env_file.read_text(), timeout=60,
                 what="the demo's env file")
        exports = _exports(env_file)
        assert set(exports) == {"VAULT_ADDR", "VAULT_TOKEN", "JENKINS_URL", "JENKINS_BROKER_ADDR",
                                "CI_VAULT_TOKEN"}
        bao_pid = int(re.search(r"OpenBao is up at \S+ \(pid (\d+)\)", log_text(log)).group(1))

        def bao_read(addr):
            out = subprocess.run([bao, "read", "-format=json", "jenkins/creds/ci-bot"], text=True,
                                 capture_output=True, timeout=30,
                                 env={**env, "VAULT_ADDR": addr, "VAULT_TOKEN": exports["CI_VAULT_TOKEN"]})
            assert out.returncode == 0, out.stderr
            return json.loads(out.stdout)["data"]

        def works(token):
            return requests.get(exports["JENKINS_URL"] + "whoAmI/api/json", auth=("ci-bot", token),
                                timeout=5).status_code

        hint_runs_in_a_fresh_shell(log_text(log), tmp_path)
        shared = bao_read(exports["VAULT_ADDR"])
        fresh = [bao_read(exports["JENKINS_BROKER_ADDR"]) for _ in range(2)]
        assert fresh[0]["token"] != fresh[1]["token"]
        for secret in (shared, *fresh):
            assert works(secret["token"]) == 200
        for secret in (shared, *fresh):
            ends = datetime.strptime(secret["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=timezone.utc).timestamp()
            wait_for(lambda: works(secret["token"]) == 401,  # noqa: B023  (called at once)
                     timeout=15, what="revocation at expiry")
            assert time.time() - ends < 2.0, "revoked more than 2 s after the lease ended"
    finally:
        stop_process(demo, 30)
    assert demo.returncode == 0, log_text(log)
    assert bao_pid is not None and not alive(bao_pid), "the demo left OpenBao running"


def hint_runs_in_a_fresh_shell(text, tmp_path):
    """What the demo tells a user to type in another shell runs there as printed: a shell
    whose PATH has only the system's directories (not this virtualenv's) and nothing set.
    The curl line is left out (curl may not be on a machine with only Python); the token
    it would use must be set."""
    lines = text.split("In another shell", 1)[1].splitlines()[1:]
    hint = [line.strip().split("   #", 1)[0] for line in lines if line.startswith("    ")]
    assert hint and any(line.startswith("TOKEN=") for line in hint), text
    script = "set -e\n" + "\n".join(h for h in hint if not h.startswith("curl")) + (
        '\ntest -n "$TOKEN" && echo token-set\n')
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.rstrip().endswith("token-set"), out.stderr[-2000:]


def log_text(log):
    log.flush()
    log.seek(0)
    return log.read()
