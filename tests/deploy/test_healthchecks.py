"""The health checks of the deployment, run rather than read: the broker image's
HEALTHCHECK against a stand-in broker, and the compose file's as Python source."""

from __future__ import annotations

import subprocess

import pytest

from tests.support import serving
from tests.support.deploy.files import Deploy, exec_form, final_stage


@pytest.mark.parametrize("status, healthy", [(200, True), (503, False)])
def test_dockerfile_healthcheck_command_probes_the_listen_port(status, healthy):
    """The image's HEALTHCHECK, run as Docker would, against a stand-in broker."""
    import http.server
    import os
    import sys

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            self.send_response(status if self.path == "/v1/sys/health" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    checks = [i.args for i in final_stage(Deploy().dockerfile("Dockerfile"))
              if i.cmd == "HEALTHCHECK"]
    command = exec_form(checks[-1].partition(" CMD ")[2])
    assert command and command[0] == "python"
    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    with serving(server):
        env = {**os.environ, "JENKINS_BROKER_LISTEN": f"0.0.0.0:{server.server_port}"}
        env.pop("JENKINS_BROKER_TLS_CERT", None)
        done = subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True,
                              timeout=30)
    assert (done.returncode == 0) is healthy, done.stderr


def test_compose_broker_healthcheck_is_valid_python():
    test = Deploy().service("broker")["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    compile(test[3], "healthcheck", "exec")
