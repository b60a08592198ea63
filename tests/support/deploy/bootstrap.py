"""Checks of the bootstrap one-shot: the compose service runs deploy/bootstrap.sh, and
every ``jenkins-broker`` call in that script is one the CLI accepts, with valid roles."""

from __future__ import annotations

import subprocess
import tempfile

from tests.support.deploy.compose import mounts
from tests.support.deploy.facts import cli_rejects
from tests.support.deploy.files import Deploy, norm, script_commands


def check_bootstrap_service(d: Deploy) -> list[str]:
    """bootstrap runs deploy/bootstrap.sh, mounted from the repository."""
    service, problems = d.service("bootstrap"), []
    entry = d.service("bootstrap").get("entrypoint") or []
    script = next((a for a in (entry if isinstance(entry, list) else entry.split())
                   if a.endswith(".sh")), None)
    source = mounts(service).get(norm(script)) if script else None
    if not source or norm(source) != "deploy/bootstrap.sh":
        problems.append(f"bootstrap must run deploy/bootstrap.sh (mounted), runs {script}"
                        f" from {source}")
    return problems


def check_bootstrap_script(d: Deploy) -> list[str]:
    from jenkins_broker.domain.roles import build_role
    from jenkins_broker.errors import BrokerError
    text = d.text("deploy/bootstrap.sh")
    if text is None:
        return ["deploy/bootstrap.sh is missing"]
    problems = []
    with tempfile.NamedTemporaryFile("w", suffix=".sh") as tmp:
        tmp.write(text)
        tmp.flush()
        syntax = subprocess.run(["bash", "-n", tmp.name], capture_output=True, text=True)
    if syntax.returncode:
        problems.append(f"bash -n: {syntax.stderr.strip()}")
    calls = script_commands(text)
    problems += [why for argv in calls if (why := cli_rejects(argv))]
    for argv in calls:
        if argv[:2] == ["roles", "write"] and len(argv) > 2:
            fields = dict(a.split("=", 1) for a in argv[3:] if "=" in a)
            try:
                build_role(argv[2], fields)
            except BrokerError as exc:
                problems.append(f"roles write {argv[2]}: {exc}")
    done = {tuple(a[:2]) if a[:1] in (["config"], ["credentials"], ["roles"]) else tuple(a[:1])
            for a in calls}
    for step in (("bootstrap",), ("config", "write"), ("credentials", "write"),
                 ("roles", "write"), ("check",)):
        if step not in done:
            problems.append(f"deploy/bootstrap.sh never runs jenkins-broker {' '.join(step)}")
    if "ci.env" not in text:
        problems.append("deploy/bootstrap.sh writes no CI token (ci.env)")
    return problems
