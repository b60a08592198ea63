"""What the tests of ``examples/`` share: the files, running their shell as the CI system
would, and reading the CI files (Jenkinsfiles, GitHub Actions and GitLab CI YAML).

A CI system cannot run here, so each example is run the way its CI system would run it,
as far as that system's documented behaviour goes:

* :func:`run_script` runs a shell script or a script body with a clean environment: only
  what the CI system would set, a ``PATH`` holding ``vault`` (the OpenBao CLI under
  Vault's name, as a CI image would have it) and a ``curl`` that keeps what it reads on
  stdin (the ``user = "name:token"`` config the examples pass) in a file of the test's own
  directory, so a test can check the token a script used without any output showing it.
* Jenkinsfiles: the bodies of their ``sh '''...'''`` steps (:func:`sh_blocks`), the
  ``environment {}`` values, and the variables ``withCredentials``, ``withEnv`` and
  ``withVault`` bind.
* :func:`expand` resolves the ``${{ vars.X }}`` / ``${{ github.X }}`` expressions of a
  GitHub workflow from a context, and fails on any other expression.
* :func:`shell_names` lists the variables a script reads, so a test can check that each is
  set by the CI file or by the script itself.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from jenkins_broker.vault import find_bao_binary
from tests.support.fronts import redact
from tests.support.processes import stop_process

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SHELL_SCRIPT = EXAMPLES / "shell" / "jenkins-token.sh"
SETUP_SCRIPTS = {"jenkins": EXAMPLES / "jenkins" / "vault-setup.sh",
                 "github-actions": EXAMPLES / "github-actions" / "vault-setup.sh",
                 "gitlab-ci": EXAMPLES / "gitlab-ci" / "vault-setup.sh"}
#: The fields of ``jenkins/creds/<role>`` in every mode (README, "HTTP API" and "Vault layout").
CRED_FIELDS = {"username", "token", "token_name", "jenkins_url", "expires_at"}


# -- running ------------------------------------------------------------------------

def tool_dir(where: Path) -> Path:
    """A directory for ``PATH`` holding ``vault`` (the ``bao`` binary) and the ``curl`` shim;
    each call of the shim appends what it read on stdin to ``curl-stdin.log`` beside it."""
    where.mkdir(parents=True, exist_ok=True)
    bao, curl = find_bao_binary(), shutil.which("curl")
    assert bao and curl, "the examples' tests need the bao binary and curl"
    (where / "vault").symlink_to(bao)
    log = where / "curl-stdin.log"
    shim = where / "curl"
    shim.write_text(f'#!/bin/sh\numask 077\nstdin=$(cat; echo .)\nprintf "%s\\n" "${{stdin%.}}" >> "{log}"\n'
                    f'printf "%s" "${{stdin%.}}" | exec "{curl}" "$@"\n', encoding="utf-8")
    shim.chmod(0o755)
    return where


def curl_credentials(tools: Path) -> list[tuple[str, str]]:
    """(user, token) of every ``user = "user:token"`` line the curl shim has read so far."""
    log = tools / "curl-stdin.log"
    text = log.read_text(encoding="utf-8") if log.exists() else ""
    return re.findall(r'^user = "([^":]+):([^"]+)"', text, re.M)


def clean_env(tools: Path, home: Path, **values: str) -> dict[str, str]:
    """An environment with nothing of the test runner's but the system ``PATH`` (after
    ``tools``): ``HOME`` is an empty directory, so no ``~/.vault-token`` stands in."""
    home.mkdir(parents=True, exist_ok=True)
    return {"PATH": f"{tools}:/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
            **values}


def run_script(argv: list[str], env: dict[str, str], *, stdin: str | None = None,
               timeout: float = 90) -> subprocess.CompletedProcess:
    """Run ``argv`` with exactly ``env`` (no standard input unless ``stdin``, as in CI) in a
    session of its own, and stop that whole process group by its pid when it is done or on
    any failure (a timeout included), so nothing it started outlives the test. Its output,
    with anything token-shaped masked, goes into assertion messages through :func:`shown`."""
    proc = subprocess.Popen(argv, env=env, text=True, start_new_session=True,
                            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    finally:
        stop_process(proc)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def shown(done: subprocess.CompletedProcess, *secrets: str) -> str:
    """A finished process's exit status and output for an assertion message, tokens masked."""
    return redact(f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}", *secrets)


def script_file(body: str, where: Path, name: str = "step.sh") -> Path:
    """``body`` written as an executable file (a Jenkins ``sh`` step runs its script so:
    a first line ``#!...`` is its interpreter)."""
    path = where / name
    path.write_text(body if body.startswith("#!") else "#!/bin/sh -e\n" + body, encoding="utf-8")
    path.chmod(0o700)
    return path


# -- shell --------------------------------------------------------------------------

_SPECIAL = {"HOME", "PATH", "IFS", "PWD", "OPTARG", "OPTIND"}


def shell_names(script: str) -> set[str]:
    """Variables ``script`` reads (``$X``, ``${X...}``) and does not set itself (``X=``,
    ``read X``, ``for X in``, ``export X=``)."""
    body = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
    used = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", body))
    assigned = set(re.findall(r"(?:^|[\s;(])([A-Za-z_][A-Za-z0-9_]*)=", body))
    assigned |= set(re.findall(r"\b(?:for|read)\s+([A-Za-z_][A-Za-z0-9_]*)", body))
    return used - assigned - _SPECIAL


# -- Jenkinsfiles -------------------------------------------------------------------

def sh_blocks(jenkinsfile: str) -> list[str]:
    """The scripts of the ``sh '''...'''`` steps. Groovy processes backslash escapes in
    ''' strings (and nothing else: ``$`` is literal), so a script with a backslash would
    not reach the shell as written: the examples use none, and this refuses them."""
    blocks = re.findall(r"\bsh\s+'''(.*?)'''", jenkinsfile, re.S)
    for block in blocks:
        assert "\\" not in block, "a backslash in an sh ''' block is a Groovy escape"
    return blocks


def groovy_environment(jenkinsfile: str) -> dict[str, str]:
    """``NAME = 'value'`` lines of the pipeline's ``environment { }`` block."""
    block = re.search(r"^\s*environment\s*\{(.*?)^\s*\}", jenkinsfile, re.S | re.M)
    assert block, "no environment block"
    return dict(re.findall(r"^\s*([A-Z_][A-Z0-9_]*)\s*=\s*'([^']*)'", block.group(1), re.M))


def bound_variables(jenkinsfile: str) -> set[str]:
    """Names bound by ``withCredentials`` (``variable:``), ``withEnv`` (``"NAME=..."``) and
    ``withVault`` (``envVar:``)."""
    names = set(re.findall(r"\bvariable:\s*'([A-Za-z_]\w*)'", jenkinsfile))
    for entries in re.findall(r"withEnv\(\[(.*?)\]\)", jenkinsfile, re.S):
        names |= set(re.findall(r"""["']([A-Za-z_]\w*)=""", entries))
    names |= set(re.findall(r"\benvVar:\s*'([A-Za-z_]\w*)'", jenkinsfile))
    return names


def groovy_reading(path: Path) -> dict[str, Any] | None:
    """What Groovy itself makes of a Jenkinsfile (``jenkinsfile_dsl.groovy``): its ``sh``
    scripts, environment block and ``withVault`` arguments; None when Groovy or Java is
    not installed (Debian's ``groovy`` package brings both)."""
    groovy, java = shutil.which("groovy"), shutil.which("java")
    if not groovy or not java:
        return None
    java_home = os.environ.get("JAVA_HOME") or str(Path(os.path.realpath(java)).parent.parent)
    done = run_script([groovy, str(Path(__file__).with_name("jenkinsfile_dsl.groovy")), str(path)],
                      {"PATH": "/usr/bin:/bin", "JAVA_HOME": java_home, "HOME": "/tmp"}, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def with_vault(jenkinsfile: str) -> dict[str, Any]:
    """The ``withVault`` step's configuration and secrets, from the Groovy maps."""
    step = re.search(r"withVault\((.*?)\)\s*\{", jenkinsfile, re.S)
    assert step, "no withVault step"
    text = step.group(1)
    config = re.search(r"configuration:\s*\[(.*?)\]", text, re.S)
    assert config
    secrets = []
    for path, engine, values in re.findall(
            r"\[path:\s*'([^']+)',\s*engineVersion:\s*(\d+),\s*secretValues:\s*\[(.*?)\]\]", text, re.S):
        secrets.append({"path": path, "engineVersion": int(engine),
                        "values": dict(re.findall(r"envVar:\s*'(\w+)',\s*vaultKey:\s*'(\w+)'", values))})
    return {"configuration": dict(re.findall(r"(\w+):\s*'?([^,'\]]+)'?", config.group(1))),
            "secrets": secrets}


# -- GitHub Actions -----------------------------------------------------------------

_EXPRESSION = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")


def expand(value: Any, context: dict[str, str]) -> Any:
    """``value`` (a string, list or mapping from the workflow) with every ``${{ name }}``
    replaced from ``context``; an expression that is not a plain name in it fails."""
    if isinstance(value, dict):
        return {k: expand(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, context) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match) -> str:
        assert match.group(1) in context, f"expression {match.group(1)!r} not in the test's context"
        return context[match.group(1)]
    return _EXPRESSION.sub(one, value)


def vault_action_secrets(spec: str) -> list[tuple[str, str, str]]:
    """(path, key, env name) of each entry of hashicorp/vault-action's ``secrets`` input:
    ``path key | NAME ;`` (the ``| NAME`` part optional: then the key upper-cased)."""
    out = []
    for entry in (e.strip() for e in spec.replace("\n", " ").split(";")):
        if not entry:
            continue
        left, _, name = entry.partition("|")
        path, key = left.split()
        out.append((path, key, name.strip() or key.upper()))
    return out


def workflow_triggers(workflow: dict) -> Any:
    """The ``on:`` of a workflow: YAML 1.1 (PyYAML) reads the key ``on`` as True."""
    return workflow.get("on", workflow.get(True))


def is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)
