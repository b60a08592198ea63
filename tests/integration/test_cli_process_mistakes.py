"""Mistakes with the processes and servers around the CLI: `serve` on a port in use, `bootstrap`
run with a token that is not an administrator's or run again, and a VAULT_ADDR that points at
the wrong server or with the wrong scheme. Each is refused with one line that says what to fix,
never a traceback or the wrong advice."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tests.support.processes import stop_process

pytestmark = pytest.mark.integration


# -- serve: the port is taken ------------------------------------------------------------

def test_serve_on_a_port_in_use_says_which_and_what_to_set(stack, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("VAULT_", "BAO_", "JENKINS_"))}
        env.update(VAULT_ADDR=stack.bao.addr, JENKINS_BROKER_VAULT_AUTH="approle",
                   JENKINS_BROKER_VAULT_ROLE_ID=stack.role_id,
                   JENKINS_BROKER_VAULT_SECRET_ID=stack.secret_id,
                   JENKINS_BROKER_LISTEN=f"127.0.0.1:{port}")
        proc = subprocess.Popen([sys.executable, "-m", "jenkins_broker.commands.cli", "serve"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=60)
        finally:
            stop_process(proc)
    assert proc.returncode == 1, err
    assert "Traceback" not in err and "OSError" not in err
    last = err.strip().splitlines()[-1]
    assert last == (f"Error: port {port} on 127.0.0.1 is in use (another broker, or another "
                    f"program, listens there): stop it, or set JENKINS_BROKER_LISTEN to a free "
                    f"host:port"), err
