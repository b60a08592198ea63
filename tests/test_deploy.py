"""The Docker deployment, checked without Docker: docker-compose.yml, the three
Dockerfiles, the JCasC file, deploy/bootstrap.sh, deploy/plugin-bootstrap.sh
and .dockerignore.

Docker cannot run where these tests run, so each file is parsed and compared
with what the code really does: the environment variables the broker reads
(from ``BrokerSettings`` and ``vault.settings.ENV_NAMES``), the subcommands and
options of ``jenkins_broker.commands.cli``, the role fields ``build_role`` accepts.

Every check is a function returning a list of problems. ``test_check_passes``
runs each on the files as they are; ``test_check_catches`` breaks a file in
memory (one text replacement) and asserts that the check notices, so no check
can silently pass everything.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import json
import re
import shlex
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any, Callable
from unittest import mock

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML parses docker-compose.yml and casc.yaml")

ROOT = Path(__file__).resolve().parents[1]
FILES = ("docker-compose.yml", "Dockerfile", ".dockerignore", "deploy/bootstrap.sh",
         "deploy/.env.example", "deploy/jenkins/Dockerfile", "deploy/jenkins/casc.yaml",
         "deploy/jenkins/plugins.txt", "docs/docker-compose.md", "deploy/vault-plugin/Dockerfile",
         "deploy/plugin-bootstrap.sh")
SERVICES = {"vault", "jenkins", "bootstrap", "broker"}              # no profile: always started
PLUGIN_SERVICES = {"vault-plugin", "plugin-bootstrap"}             # profile "plugin" only
PLUGIN_DOCKERFILE = "deploy/vault-plugin/Dockerfile"
PLUGIN_PYTHON = "/usr/bin/python3"       # where Alpine's `apk add python3` puts the interpreter
RUN_DIR = "/run/jenkins-broker"          # the volume bootstrap and broker share

# Read by the broker outside BrokerSettings/VaultSettings fields: name -> module.
READ_ELSEWHERE = {"JENKINS_BROKER_POLICIES_DIR": "commands/bootstrap.py",
                  "JENKINS_BROKER_VAULT_SECRET_ID_FILE": "vault/settings.py"}
# Read by deploy/bootstrap.sh itself, not by the broker.
SCRIPT_ENV = {"bootstrap": {"JENKINS_ADMIN_PASSWORD"}}
JENKINS_PROPERTIES = ("-Djenkins.install.runSetupWizard=false",
                      "-Djenkins.security.ApiTokenProperty.adminCanGenerateNewTokens=true")
# An exact version: at least major.minor.patch, optionally a variant suffix.
EXACT_TAG = re.compile(r"\d+\.\d+\.\d+(?:[.-][A-Za-z0-9_.-]+)?")


# -- parsing ---------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Instr:
    cmd: str
    args: str


def parse_dockerfile(text: str) -> list[Instr]:
    """Instructions, with continuation lines joined and comments dropped."""
    out, pending = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        if full:
            cmd, _, args = full.partition(" ")
            out.append(Instr(cmd.upper(), args.strip()))
    return out


def final_stage(instrs: list[Instr]) -> list[Instr]:
    starts = [i for i, ins in enumerate(instrs) if ins.cmd == "FROM"]
    return instrs[starts[-1]:] if starts else []


def exec_form(args: str) -> list[str] | None:
    try:
        value = json.loads(args)
    except ValueError:
        return None
    return value if isinstance(value, list) else None


def without_flags(args: str) -> tuple[dict[str, str], list[str]]:
    flags: dict[str, str] = {}
    rest: list[str] = []
    for token in shlex.split(args):
        if token.startswith("--") and not rest:
            key, _, value = token[2:].partition("=")
            flags[key] = value
        else:
            rest.append(token)
    return flags, rest


def env_of(instrs: list[Instr]) -> dict[str, str]:
    env = {}
    for ins in instrs:
        if ins.cmd != "ENV":
            continue
        tokens = shlex.split(ins.args)
        if tokens and "=" not in tokens[0]:
            env[tokens[0]] = " ".join(tokens[1:])
        else:
            for token in tokens:
                key, value = token.split("=", 1)
                env[key] = value
    return env


def copies(instrs: list[Instr]) -> list[tuple[dict[str, str], list[str], str]]:
    """(flags, sources, destination) of every COPY/ADD."""
    out = []
    for ins in instrs:
        if ins.cmd in ("COPY", "ADD"):
            flags, rest = without_flags(ins.args)
            out.append((flags, rest[:-1], rest[-1]))
    return out


def norm(path: str) -> str:
    return str(PurePosixPath(path))


def service_env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def as_text(value: Any) -> str:
    return " ".join(value) if isinstance(value, list) else str(value or "")


def literal(value: str) -> bool:
    return "$" not in value


class Deploy:
    """The deployment files, read from disk unless replaced (a broken copy)."""

    def __init__(self, texts: dict[str, str | None] | None = None):
        self.texts: dict[str, str | None] = dict(texts or {})

    def text(self, path: str) -> str | None:
        if path not in self.texts:
            file = ROOT / path
            self.texts[path] = file.read_text(encoding="utf-8") if file.is_file() else None
        return self.texts[path]

    @functools.cached_property
    def compose(self) -> dict:
        return yaml.safe_load(self.text("docker-compose.yml")) or {}

    @property
    def services(self) -> dict[str, dict]:
        return self.compose.get("services") or {}

    def service(self, name: str) -> dict:
        return self.services.get(name) or {}

    def build_of(self, name: str) -> tuple[str, str] | None:
        """(context, Dockerfile path), both relative to the repository root."""
        build = self.service(name).get("build")
        if build is None:
            return None
        if isinstance(build, str):
            build = {"context": build}
        context = norm(build.get("context", "."))
        return context, norm(f"{context}/{build.get('dockerfile', 'Dockerfile')}")

    def dockerfile(self, path: str) -> list[Instr]:
        text = self.text(path)
        return parse_dockerfile(text) if text is not None else []


# -- facts from the code -------------------------------------------------------------

def broker_env_names() -> set[str]:
    """Every environment variable the broker reads."""
    from jenkins_broker.server.settings import PREFIX, BrokerSettings
    from jenkins_broker.vault.settings import ENV_NAMES
    return ({PREFIX + f.name.upper() for f in dataclasses.fields(BrokerSettings)}
            | set(ENV_NAMES.values()) | set(READ_ELSEWHERE))


def cli_rejects(argv: list[str]) -> str | None:
    """Why ``jenkins-broker ARGV`` would be refused before doing anything, or None.

    Runs the real ``cli.main`` (so its own checks apply too) with every command
    replaced by a no-op.
    """
    from jenkins_broker.commands import cli
    err = io.StringIO()
    with contextlib.ExitStack() as stack:
        for name in dir(cli):
            if name.startswith("cmd_"):
                stack.enter_context(mock.patch.object(cli, name, lambda args: 0))
        stack.enter_context(mock.patch.object(cli, "setup_logging", lambda *a, **k: None))
        stack.enter_context(contextlib.redirect_stderr(err))
        stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        try:
            cli.main(argv)
        except SystemExit:
            lines = err.getvalue().strip().splitlines() or ["refused"]
            return f"`jenkins-broker {shlex.join(argv)}`: {lines[-1]}"
    return None


def script_commands(text: str, program: str = "jenkins-broker") -> list[list[str]]:
    """The arguments of every ``program`` call in a shell script, with the
    script's own lower-case variables (``run_dir=...``) expanded. Heredoc bodies
    are skipped."""
    kept, end = [], None
    for line in text.splitlines():
        if end is not None:
            end = None if line.strip() == end else end
            continue
        kept.append(line)
        heredoc = re.search(r"<<-?\s*['\"]?(\w+)['\"]?", line)
        end = heredoc.group(1) if heredoc else None
    joined = "\n".join(kept).replace("\\\n", " ")
    names = dict(re.findall(r"^([a-z_][a-z0-9_]*)=(\S+)$", joined, re.M))

    def expand(token: str) -> str:
        return re.sub(r"\$\{?([a-z_][a-z0-9_]*)\}?", lambda m: names.get(m.group(1), m.group(0)),
                      token)

    calls = []
    for line in joined.splitlines():
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:
            continue
        for i, token in enumerate(tokens):
            if token == program:
                args = []
                for arg in tokens[i + 1:]:
                    if arg in (";", "&&", "||", "|"):
                        break
                    args.append(expand(arg))
                calls.append(args)
    return calls


def ignored(patterns: list[str], path: str) -> bool:
    """Whether .dockerignore ``patterns`` leave ``path`` (or a parent) out of the context."""
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        glob = pattern.lstrip("!").strip("/")
        regex = re.escape(glob).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, c) for c in candidates):
            result = not negate
    return result


def dockerignore(deploy: Deploy) -> list[str]:
    lines = (deploy.text(".dockerignore") or "").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


# -- checks --------------------------------------------------------------------------

def check_services(d: Deploy) -> list[str]:
    problems = []
    default = {name for name, service in d.services.items() if not service.get("profiles")}
    if default != SERVICES:
        problems.append(f"services without a profile are {sorted(default)}, expected {sorted(SERVICES)}")
    profiled = {name: service.get("profiles") for name, service in d.services.items()
                if service.get("profiles")}
    if set(profiled) != PLUGIN_SERVICES:
        problems.append(f"services with a profile are {sorted(profiled)}, expected "
                        f"{sorted(PLUGIN_SERVICES)}")
    problems += [f"{name}: profiles {got}, expected ['plugin']" for name, got in profiled.items()
                 if got != ["plugin"]]
    for name in ("bootstrap", "plugin-bootstrap"):
        if d.service(name).get("restart") not in (None, "no", "on-failure"):
            problems.append(f"{name} is a one-shot service: no restart policy")
        if not (d.service(name).get("healthcheck") or {}).get("disable"):
            problems.append(f"{name} serves nothing: disable the image's healthcheck")
    return problems


def pinned(image: str) -> str | None:
    """None if ``image`` names one exact version, else why not."""
    name, _, digest = image.partition("@")
    tag = name.rsplit("/", 1)[-1].partition(":")[2]      # a registry's :port is not a tag
    if "$" in image:
        return f"{image}: a variable, not a version"
    if digest and not tag:
        return None if re.fullmatch(r"sha256:[0-9a-f]{64}", digest) else f"{image}: bad digest"
    if not tag or "latest" in tag or not EXACT_TAG.fullmatch(tag):
        return f"{image}: not pinned to an exact version (major.minor.patch)"
    return None


def check_images_pinned(d: Deploy) -> list[str]:
    problems = []
    for name, service in d.services.items():
        build = d.build_of(name)
        if build is None:
            if "image" not in service:
                problems.append(f"{name}: neither image nor build")
            elif why := pinned(service["image"]):
                problems.append(f"{name}: {why}")
            continue
        stages: set[str] = set()
        froms = [ins for ins in d.dockerfile(build[1]) if ins.cmd == "FROM"]
        if not froms:
            problems.append(f"{name}: {build[1]} has no FROM")
        for ins in froms:
            _, rest = without_flags(ins.args)
            if rest[0] not in stages and rest[0] != "scratch" and (why := pinned(rest[0])):
                problems.append(f"{name} ({build[1]}): {why}")
            if len(rest) == 3 and rest[1].lower() == "as":
                stages.add(rest[2])
    return problems


def broker_port(d: Deploy) -> str:
    return service_env(d.service("broker")).get("JENKINS_BROKER_LISTEN", "").rpartition(":")[2]


def check_healthchecks(d: Deploy) -> list[str]:
    probes = {"vault": ("vault status", "VAULT_ADDR=http://127.0.0.1:8200"),
              "jenkins": ("curl", "http://127.0.0.1:8080/login"),
              "broker": (f"http://127.0.0.1:{broker_port(d)}/v1/sys/health",)}
    problems = []
    for name, needles in probes.items():
        check = d.service(name).get("healthcheck") or {}
        test = check.get("test")
        if not test or check.get("disable") or test in ("NONE", ["NONE"]):
            problems.append(f"{name}: no healthcheck")
            continue
        text = as_text(test)
        problems += [f"{name}: healthcheck does not run {n!r}" for n in needles if n not in text]
    return problems


def check_depends_on(d: Deploy) -> list[str]:
    expected = {"bootstrap": {"vault": "service_healthy", "jenkins": "service_healthy"},
                "broker": {"bootstrap": "service_completed_successfully"}}
    problems = []
    for name, wants in expected.items():
        deps = d.service(name).get("depends_on") or {}
        if isinstance(deps, list):
            deps = {dep: {} for dep in deps}
        for dep, condition in wants.items():
            got = (deps.get(dep) or {}).get("condition")
            if got != condition:
                problems.append(f"{name} must wait for {dep} with {condition}, not {got}")
    return problems


def script_required_env(d: Deploy) -> set[str]:
    text = d.text("deploy/bootstrap.sh") or ""
    return (set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):\?", text))
            | set(re.findall(r"--(?:password|token)-env\s+([A-Z][A-Z0-9_]*)", text)))


def check_environment(d: Deploy) -> list[str]:
    from jenkins_broker.errors import ConfigError
    from jenkins_broker.server.settings import BrokerSettings
    from jenkins_broker.vault.settings import VaultSettings

    known, problems = broker_env_names(), []
    script = d.text("deploy/bootstrap.sh") or ""
    for name in ("bootstrap", "broker"):
        env = service_env(d.service(name))
        for var in sorted(env):
            if var.startswith(("JENKINS_BROKER_", "VAULT_")) and var not in known:
                problems.append(f"{name}: {var} is not a setting the broker reads (a typo?)")
            elif var not in known and var not in SCRIPT_ENV.get(name, set()):
                problems.append(f"{name}: {var} is read by nothing")
        for var in SCRIPT_ENV.get(name, set()):
            if var not in script:
                problems.append(f"{name}: {var} is not used by deploy/bootstrap.sh")
        # Validate literal values the way the broker will (file paths exist only in the image).
        values = {k: v for k, v in env.items() if literal(v)}
        for var in ("JENKINS_BROKER_TLS_CERT", "JENKINS_BROKER_TLS_KEY", "VAULT_CACERT",
                    "VAULT_CAPATH", "VAULT_CLIENT_CERT", "VAULT_CLIENT_KEY"):
            values.pop(var, None)
        try:
            BrokerSettings.from_env(values)
            VaultSettings.from_env(values, auth_method="token", token="placeholder")
        except ConfigError as exc:
            problems.append(f"{name}: {exc}")
    missing = script_required_env(d) - set(service_env(d.service("bootstrap")))
    problems += [f"bootstrap: deploy/bootstrap.sh needs {var}" for var in sorted(missing)]
    broker = service_env(d.service("broker"))
    if "VAULT_TOKEN" in broker:
        problems.append("broker: logs in with its AppRole (broker.env), must not get a VAULT_TOKEN")
    if not broker.get("JENKINS_BROKER_LISTEN", "").startswith("0.0.0.0:"):
        problems.append("broker: JENKINS_BROKER_LISTEN must be 0.0.0.0:PORT in a container")
    for path in {b[1] for s in ("bootstrap", "broker") if (b := d.build_of(s))}:
        for var in env_of(d.dockerfile(path)):
            if var.startswith(("JENKINS_BROKER_", "VAULT_")) and var not in known:
                problems.append(f"{path}: ENV {var} is not a setting the broker reads")
    return problems


def published(port: Any) -> tuple[str, str]:
    """(host ip, container port) of a ports entry."""
    if isinstance(port, dict):
        return str(port.get("host_ip", "")), str(port.get("target", ""))
    text = str(port)
    if text.startswith("["):
        host, _, rest = text[1:].partition("]:")
        return host, rest.rpartition(":")[2]
    parts = text.split(":")
    return (parts[0] if len(parts) == 3 else ""), parts[-1].split("/")[0]


def check_loopback_ports(d: Deploy) -> list[str]:
    problems = []
    for name, service in d.services.items():
        if service.get("network_mode") == "host":
            problems.append(f"{name}: network_mode host publishes every port")
        for port in service.get("ports") or []:
            host, _ = published(port)
            if host not in ("127.0.0.1", "::1"):
                problems.append(f"{name}: port {port} is not bound to 127.0.0.1")
    if ("127.0.0.1", broker_port(d)) not in {published(p) for p in
                                             d.service("broker").get("ports") or []}:
        problems.append(f"broker: its listen port {broker_port(d)} is not published")
    return problems


def mounts(service: dict) -> dict[str, str]:
    """Container path -> source of each volume."""
    out = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            out[norm(volume["target"])] = volume.get("source", "")
        else:
            source, _, rest = volume.partition(":")
            out[norm(rest.split(":")[0])] = source
    return out


def check_shared_volume(d: Deploy) -> list[str]:
    problems = []
    declared = set(d.compose.get("volumes") or {})
    sources = {name: mounts(d.service(name)).get(RUN_DIR) for name in ("bootstrap", "broker")}
    if len(set(sources.values())) != 1 or None in sources.values():
        problems.append(f"bootstrap and broker must mount one volume at {RUN_DIR}: {sources}")
    for name in ("bootstrap", "broker"):
        for source in mounts(d.service(name)).values():
            if not source.startswith((".", "/")) and source not in declared:
                problems.append(f"{name}: volume {source} is not declared")
    if mounts(d.service("jenkins")).get("/var/jenkins_home") not in declared:
        problems.append("jenkins: JENKINS_HOME must be a named volume")
    entry = as_text(d.service("broker").get("entrypoint")) + " " + as_text(
        d.service("broker").get("command"))
    sourced = re.search(r"\.\s+(\S+)\s*&&\s*exec\s+jenkins-broker\s+serve\b", entry)
    if not sourced:
        problems.append("broker: entrypoint must source the env file and exec jenkins-broker serve")
    written = [a[a.index("--env-file") + 1] for a in script_commands(d.text("deploy/bootstrap.sh")
                                                                     or "")
               if a[:1] == ["bootstrap"] and "--env-file" in a[:-1]]
    if sourced and written != [sourced.group(1)]:
        problems.append(f"broker sources {sourced.group(1)}, bootstrap writes {written}")
    if sourced and not sourced.group(1).startswith(RUN_DIR + "/"):
        problems.append(f"broker: {sourced.group(1)} is not in the shared volume {RUN_DIR}")
    return problems


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


def check_broker_dockerfile(d: Deploy) -> list[str]:
    instrs, problems = d.dockerfile("Dockerfile"), []
    stage = final_stage(instrs)
    runs = " ".join(i.args for i in instrs if i.cmd == "RUN")
    if "pip install" not in " ".join(i.args for i in stage if i.cmd == "RUN"):
        problems.append("the final stage installs nothing with pip")
    if re.search(r"\[[^\]]*\bdev\b", runs):
        problems.append("the image installs the dev extra")
    users = [i.args.strip() for i in stage if i.cmd == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append(f"runs as root (USER {users[-1] if users else 'not set'})")
    env = env_of(stage)
    listen = env.get("JENKINS_BROKER_LISTEN", "")
    if not listen.startswith("0.0.0.0:"):
        problems.append(f"ENV JENKINS_BROKER_LISTEN={listen!r}: listen on 0.0.0.0 in a container")
    exposed = {p.split("/")[0] for i in stage if i.cmd == "EXPOSE" for p in i.args.split()}
    if listen.rpartition(":")[2] not in exposed:
        problems.append(f"EXPOSE {sorted(exposed)} does not include the listen port")
    checks = [i.args for i in stage if i.cmd == "HEALTHCHECK"]
    if not checks or checks[-1].upper() == "NONE":
        problems.append("no HEALTHCHECK")
    elif "/v1/sys/health" not in checks[-1] or re.search(r"\b(curl|wget)\b", checks[-1]):
        problems.append("HEALTHCHECK must fetch /v1/sys/health with Python (no curl in slim)")
    entry = [exec_form(i.args) for i in stage if i.cmd == "ENTRYPOINT"]
    scripts = {ep.name for ep in metadata.entry_points(group="console_scripts")
               if ep.value.startswith("jenkins_broker.")}
    if not entry or entry[-1] is None or len(entry[-1]) != 1 or entry[-1][0] not in scripts:
        problems.append(f"ENTRYPOINT must be the console script {sorted(scripts)}, is {entry}")
    cmd = [exec_form(i.args) for i in stage if i.cmd == "CMD"]
    if not cmd or cmd[-1] != ["serve"]:
        problems.append(f"CMD must be [\"serve\"], is {cmd}")
    policies = [dest for flags, sources, dest in copies(stage)
                if "from" not in flags and [norm(s) for s in sources] == ["vault-policies"]]
    if not policies or norm(policies[-1]) != norm(env.get("JENKINS_BROKER_POLICIES_DIR", "-")):
        problems.append("vault-policies/ must be copied to $JENKINS_BROKER_POLICIES_DIR")
    patterns = dockerignore(d)
    for flags, sources, _ in copies(instrs):
        for source in sources if "from" not in flags else []:
            if not (ROOT / source).exists():
                problems.append(f"COPY {source}: no such file in the repository")
            elif ignored(patterns, norm(source)):
                problems.append(f"COPY {source}: excluded by .dockerignore")
    for secret in (".env", "broker.env", ".git", ".venv"):
        if not ignored(patterns, secret):
            problems.append(f".dockerignore must exclude {secret}")
    return problems


def jenkins_image(d: Deploy) -> tuple[list[Instr], dict[str, str], dict[str, str]] | None:
    """The Jenkins Dockerfile, its environment (image and service), and what it
    copies (destination -> repository path); None if jenkins is not built here."""
    build = d.build_of("jenkins")
    if build is None:
        return None
    context, dockerfile = build
    instrs = d.dockerfile(dockerfile)
    env = {**env_of(instrs), **service_env(d.service("jenkins"))}
    copied = {norm(dest): norm(f"{context}/{sources[0]}") for flags, sources, dest in copies(instrs)
              if "from" not in flags and len(sources) == 1}
    return instrs, env, copied


def casc_text(d: Deploy) -> str | None:
    """The JCasC file copied into the Jenkins image at $CASC_JENKINS_CONFIG."""
    image = jenkins_image(d)
    if image is None:
        return None
    target = image[1].get("CASC_JENKINS_CONFIG")
    source = image[2].get(norm(target)) if target else None
    return d.text(source) if source else None


def check_jenkins(d: Deploy) -> list[str]:
    image = jenkins_image(d)
    if image is None:
        return ["jenkins must be built from deploy/jenkins/Dockerfile"]
    instrs, env, copied = image
    java_opts = env.get("JAVA_OPTS", "").split()
    problems = [f"jenkins: JAVA_OPTS lacks {p}" for p in JENKINS_PROPERTIES if p not in java_opts]
    if casc_text(d) is None:
        problems.append(f"jenkins: CASC_JENKINS_CONFIG={env.get('CASC_JENKINS_CONFIG')} is not "
                        "a file copied into the image")
    plugin_lines = []
    for ins in instrs:
        if ins.cmd == "RUN" and "jenkins-plugin-cli" in ins.args:
            tokens = shlex.split(ins.args)
            for i, token in enumerate(tokens[:-1]):
                if token in ("--plugin-file", "-f") and norm(tokens[i + 1]) in copied:
                    plugin_lines += (d.text(copied[norm(tokens[i + 1])]) or "").splitlines()
                if token in ("--plugins", "-p"):
                    plugin_lines += [t for t in tokens[i + 1:] if not t.startswith("-")]
    specs = [line.split("#")[0].strip() for line in plugin_lines]
    plugins = dict(spec.partition(":")[::2] for spec in specs if spec)
    for plugin in ("configuration-as-code", "matrix-auth"):
        version = plugins.get(plugin, "")
        if not re.fullmatch(r"\d[\w.-]*", version):
            problems.append(f"jenkins: plugin {plugin} not installed at a pinned version "
                            f"({version or 'missing'})")
    return problems


def check_casc(d: Deploy) -> list[str]:
    text = casc_text(d)
    if text is None:
        return ["no JCasC file in the Jenkins image"]
    jenkins, problems = (yaml.safe_load(text) or {}).get("jenkins") or {}, []
    local = (jenkins.get("securityRealm") or {}).get("local") or {}
    if local.get("allowsSignup") is not False:
        problems.append("casc: the local security realm must not allow sign-up")
    users = {u.get("id"): u for u in local.get("users") or []}
    for user in ("admin", "ci-bot"):
        password = str((users.get(user) or {}).get("password", ""))
        ref = re.fullmatch(r"\$\{([A-Z][A-Z0-9_]*)\}", password)
        if user not in users:
            problems.append(f"casc: no user {user}")
        elif not ref:
            problems.append(f"casc: {user}'s password must be ${{VAR}} from the environment")
        elif ref.group(1) not in service_env(d.service("jenkins")):
            problems.append(f"casc: {ref.group(1)} is not set on the jenkins service")
    matrix = (jenkins.get("authorizationStrategy") or {}).get("globalMatrix") or {}
    granted: dict[str, set[str]] = {}
    for entry in matrix.get("entries") or []:
        for kind, body in entry.items():
            granted.setdefault(f"{kind}:{body.get('name')}", set()).update(
                body.get("permissions") or [])
    if "Overall/Administer" not in granted.get("user:admin", set()):
        problems.append("casc: admin must have Overall/Administer")
    if granted.get("user:ci-bot") != {"Overall/Read"}:
        problems.append("casc: ci-bot must have Overall/Read only, has "
                        f"{granted.get('user:ci-bot')}")
    if any(key.endswith(":anonymous") for key in granted):
        problems.append("casc: anonymous must get no permission")
    return problems


def check_env_example(d: Deploy) -> list[str]:
    compose = d.text("docker-compose.yml")
    if compose is None:
        return ["docker-compose.yml is missing"]
    used = set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", compose))
    documented = set(re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)=", d.text("deploy/.env.example") or "",
                                re.M))
    return [f"deploy/.env.example does not document {var}" for var in sorted(used - documented)]


def stages(instrs: list[Instr]) -> dict[str, list[Instr]]:
    """Build stages by name (an unnamed one by its index), each from its FROM on."""
    out: dict[str, list[Instr]] = {}
    current: str | None = None
    for ins in instrs:
        if ins.cmd == "FROM":
            _, rest = without_flags(ins.args)
            current = rest[2] if len(rest) == 3 and rest[1].lower() == "as" else str(len(out))
            out[current] = []
        if current is not None:
            out[current].append(ins)
    return out


def check_plugin_profile(d: Deploy) -> list[str]:
    """Profile ``plugin``: a Vault whose plugin directory holds the engine, built for the
    Python installed in that image, and a one-shot that registers and enables it."""
    problems = []
    for name in PLUGIN_SERVICES:
        if d.build_of(name) != (".", PLUGIN_DOCKERFILE):
            problems.append(f"{name}: must build {PLUGIN_DOCKERFILE} with the repository as context")
    built = stages(d.dockerfile(PLUGIN_DOCKERFILE))
    final = list(built.values())[-1] if built else []
    vault_image = d.service("vault").get("image")
    if not final or without_flags(final[0].args)[1][0] != vault_image:
        problems.append(f"{PLUGIN_DOCKERFILE}: the final image must be FROM {vault_image}, the "
                        "Vault of the default profile")
    if not any(i.cmd == "RUN" and re.search(r"\bapk add\b.*\bpython3\b", i.args) for i in final):
        problems.append(f"{PLUGIN_DOCKERFILE}: the final image installs no python3 for the plugin")
    # The stage that runs `jenkins-broker plugin build`, and with what.
    output = None
    for stage, instrs in built.items():
        for ins in instrs:
            for part in re.split(r"&&|;", ins.args) if ins.cmd == "RUN" else ():
                tokens = shlex.split(part)
                at = next((i for i, t in enumerate(tokens) if t.endswith("jenkins-broker")), None)
                if at is None or tokens[at + 1:at + 3] != ["plugin", "build"]:
                    continue
                argv = tokens[at + 1:]
                if why := cli_rejects(argv):
                    problems.append(f"{PLUGIN_DOCKERFILE}: {why}")
                opts = dict(zip(argv[2::2], argv[3::2]))
                if opts.get("--python") != PLUGIN_PYTHON:
                    problems.append(f"{PLUGIN_DOCKERFILE}: the plugin must name {PLUGIN_PYTHON}, the "
                                    f"Vault image's Python, not {opts.get('--python')}")
                if instrs[0] is final[0] or without_flags(instrs[0].args)[1][0] != vault_image:
                    problems.append(f"{PLUGIN_DOCKERFILE}: build the plugin in a stage FROM "
                                    f"{vault_image} (its Python), not the final one")
                output = (stage, norm(opts.get("--output", ".")), opts.get("--name", "jenkins-broker-plugin"))
    if output is None:
        problems.append(f"{PLUGIN_DOCKERFILE}: no stage runs `jenkins-broker plugin build`")
        return problems
    stage, folder, file = output
    copied = [dest for flags, sources, dest in copies(final)
              if flags.get("from") == stage and [norm(x) for x in sources] == [folder]]
    plugin_dir = norm(copied[0]) if copied else None
    if plugin_dir is None:
        problems.append(f"{PLUGIN_DOCKERFILE}: the final image does not COPY {folder} from {stage}")
    command = as_text(d.service("vault-plugin").get("command"))
    if plugin_dir and f"-dev-plugin-dir={plugin_dir}" not in command:
        problems.append(f"vault-plugin: its plugin directory is not {plugin_dir} (-dev-plugin-dir)")
    check = as_text((d.service("vault-plugin").get("healthcheck") or {}).get("test"))
    if "vault status" not in check:
        problems.append("vault-plugin: healthcheck does not run 'vault status'")
    deps = d.service("plugin-bootstrap").get("depends_on") or {}
    for dep in ("vault-plugin", "jenkins"):
        if not isinstance(deps, dict) or (deps.get(dep) or {}).get("condition") != "service_healthy":
            problems.append(f"plugin-bootstrap must wait for {dep} with service_healthy")
    env = service_env(d.service("plugin-bootstrap"))
    if env.get("VAULT_ADDR") != "http://vault-plugin:8200":
        problems.append(f"plugin-bootstrap: VAULT_ADDR {env.get('VAULT_ADDR')} is not vault-plugin")
    entry = as_text(d.service("plugin-bootstrap").get("entrypoint")).split()
    script = next((a for a in entry if a.endswith(".sh")), None)
    if not script or norm(mounts(d.service("plugin-bootstrap")).get(norm(script), "")) != \
            "deploy/plugin-bootstrap.sh":
        problems.append("plugin-bootstrap must run deploy/plugin-bootstrap.sh (mounted)")
    text = d.text("deploy/plugin-bootstrap.sh") or ""
    needed = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):\?", text))
    problems += [f"plugin-bootstrap: deploy/plugin-bootstrap.sh needs {v}" for v in sorted(needed - set(env))]
    vault = script_commands(text, "vault")
    names = dict(re.findall(r"^([a-z_][a-z0-9_]*)=(\S+)$", text, re.M))
    hashed = [re.sub(r"\$\{?([a-z_][a-z0-9_]*)\}?", lambda m: names.get(m.group(1), m.group(0)), arg)
              for arg in re.findall(r"\bsha256sum\s+\"?([^\s\")]+)", text)]
    register = [a for a in vault if a[:2] == ["plugin", "register"]]
    if not register or f"-command={file}" not in register[0] or register[0][-2:] != ["secret", "jenkins"] \
            or not any(a.startswith("-sha256=") for a in register[0]):
        problems.append(f"plugin-bootstrap: no `vault plugin register -sha256=... -command={file} "
                        "secret jenkins`")
    if plugin_dir and hashed != [f"{plugin_dir}/{file}"]:
        problems.append(f"plugin-bootstrap: hashes {hashed}, not the plugin file {plugin_dir}/{file}")
    if ["secrets", "enable", "-path=jenkins", "jenkins"] not in vault:
        problems.append("plugin-bootstrap: no `vault secrets enable -path=jenkins jenkins`")
    if not any(a[:2] == ["write", "jenkins/config"] for a in vault):
        problems.append("plugin-bootstrap: writes no jenkins/config")
    roles = [a for a in vault if a[:1] == ["write"] and a[1:2] and a[1].startswith("jenkins/roles/")]
    if not roles:
        problems.append("plugin-bootstrap: writes no role")
    for call in roles:
        from jenkins_broker.domain.roles import InvalidRole, build_role
        fields = dict(a.split("=", 1) for a in call[2:])
        try:
            build_role(call[1].rpartition("/")[2], {"credential": "root", **fields})
        except InvalidRole as exc:
            problems.append(f"plugin-bootstrap: role {call[1]}: {exc}")
    return problems


def check_docs(d: Deploy) -> list[str]:
    text, problems = d.text("docs/docker-compose.md") or "", []
    for needle in ("dev mode", "docker compose up -d", "whoAmI", "lease revoke", "401",
                   "not by running Docker", "docker compose --profile plugin up -d"):
        if needle not in text:
            problems.append(f"docs/docker-compose.md never says {needle!r}")
    flags = r"(?: (?:-e|--env) \S+| -[-\w=]+)*"
    used = re.findall(rf"docker compose (?:exec|logs|run){flags} ([a-z][a-z-]*)", text)
    for service in used:
        if service not in d.services:
            problems.append(f"docs/docker-compose.md uses a service {service} that does not exist")
    return problems


CHECKS: dict[str, Callable[[Deploy], list[str]]] = {
    f.__name__.removeprefix("check_"): f for f in (
        check_services, check_images_pinned, check_healthchecks, check_depends_on,
        check_environment, check_loopback_ports, check_shared_volume, check_bootstrap_service,
        check_bootstrap_script, check_broker_dockerfile, check_jenkins, check_casc,
        check_env_example, check_plugin_profile, check_docs)}


# -- tests ---------------------------------------------------------------------------

def test_deployment_files_exist():
    assert [f for f in FILES if not (ROOT / f).is_file()] == []


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_check_passes(name):
    assert CHECKS[name](Deploy()) == []


@pytest.mark.parametrize("status, healthy", [(200, True), (503, False)])
def test_dockerfile_healthcheck_command_probes_the_listen_port(status, healthy):
    """The image's HEALTHCHECK, run as Docker would, against a stand-in broker."""
    import http.server
    import os
    import sys
    import threading

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
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {**os.environ, "JENKINS_BROKER_LISTEN": f"0.0.0.0:{server.server_port}"}
        env.pop("JENKINS_BROKER_TLS_CERT", None)
        done = subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True,
                              timeout=30)
    finally:
        server.shutdown()
        server.server_close()
    assert (done.returncode == 0) is healthy, done.stderr


def test_compose_broker_healthcheck_is_valid_python():
    test = Deploy().service("broker")["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    compile(test[3], "healthcheck", "exec")


def test_names_read_outside_the_settings_classes_are_really_read():
    package = ROOT / "plugin" / "jenkins_broker"
    for name, module in READ_ELSEWHERE.items():
        assert f'"{name}"' in (package / module).read_text(encoding="utf-8"), name


# (check, file, old text or "re:" regex, new text, occurrence): each breaks one file.
MUTATIONS = [
    ("services", "docker-compose.yml", "\n  broker:\n", "\n  brokr:\n", 0),
    ("services", "docker-compose.yml", 'restart: "no"', "restart: always", 0),
    ("services", "docker-compose.yml", "disable: true", "disable: false", 0),
    ("images_pinned", "docker-compose.yml", "hashicorp/vault:2.1.1", "hashicorp/vault:latest", 0),
    ("images_pinned", "docker-compose.yml", "hashicorp/vault:2.1.1", "hashicorp/vault:2", 0),
    ("images_pinned", "deploy/jenkins/Dockerfile", "jenkins:2.568.2-jdk21", "jenkins:lts-jdk21",
     0),
    ("images_pinned", "Dockerfile", "python:3.12.13-slim-bookworm AS build",
     "python:3.12-slim AS build", 0),
    ("images_pinned", "Dockerfile", "\nFROM python:3.12.13-slim-bookworm\n",
     "\nFROM python:${PY}\n", 0),
    ("healthchecks", "docker-compose.yml", "vault status", "vault version", 0),
    ("healthchecks", "docker-compose.yml", "8080/login", "8080/", 0),
    ("healthchecks", "docker-compose.yml", r"re:(?s)(  broker:.*?)healthcheck:", r"\1hc_off:", 0),
    ("depends_on", "docker-compose.yml", "service_completed_successfully", "service_started", 0),
    ("depends_on", "docker-compose.yml", "condition: service_healthy",
     "condition: service_started", 1),
    ("environment", "docker-compose.yml", "JENKINS_BROKER_LISTEN: 0.0.0.0:8400",
     "JENKINS_BROKER_LISTENS: 0.0.0.0:8400", 0),
    ("environment", "docker-compose.yml", "JENKINS_BROKER_LISTEN: 0.0.0.0:8400",
     "JENKINS_BROKER_LISTEN: 0.0.0.0:8400\n      VAULT_TOKEN: x", 0),
    ("environment", "docker-compose.yml", "VAULT_ADDR: http://vault:8200",
     "VAULT_ADDR: http://vault:8200\n      VAULT_SKIP_VERIFY: maybe", 1),
    ("environment", "docker-compose.yml", "JENKINS_ADMIN_PASSWORD: $", "JENKINS_ADMIN_PASS: $", 1),
    ("environment", "docker-compose.yml", "JENKINS_BROKER_LISTEN: 0.0.0.0:8400",
     "JENKINS_BROKER_LISTEN: 127.0.0.1:8400", 0),
    ("environment", "Dockerfile", "ENV JENKINS_BROKER_POLICIES_DIR",
     "ENV JENKINS_BROKER_POLICY_DIR", 0),
    ("loopback_ports", "docker-compose.yml", '"127.0.0.1:8400:8400"', '"8400:8400"', 0),
    ("loopback_ports", "docker-compose.yml", '"127.0.0.1:8200:8200"', '"0.0.0.0:8200:8200"', 0),
    ("shared_volume", "docker-compose.yml", "broker-run:/run/jenkins-broker:ro",
     "other-run:/run/jenkins-broker:ro", 0),
    ("shared_volume", "docker-compose.yml", ". /run/jenkins-broker/broker.env && ", "", 0),
    ("shared_volume", "deploy/bootstrap.sh", '"$run_dir/broker.env"', '"$run_dir/other.env"', 0),
    ("shared_volume", "docker-compose.yml", "jenkins-home:/var/jenkins_home",
     "./jh:/var/jenkins_home", 0),
    ("bootstrap_service", "docker-compose.yml", "./deploy/bootstrap.sh:", "./deploy/other.sh:", 0),
    ("bootstrap_script", "deploy/bootstrap.sh", 'step "check"', 'step "check', 0),
    ("bootstrap_script", "deploy/bootstrap.sh", "roles write ci-bot", "role write ci-bot", 0),
    ("bootstrap_script", "deploy/bootstrap.sh", "--password-env", "--password-from", 0),
    ("bootstrap_script", "deploy/bootstrap.sh", "strategy=admin-rest", "strategy=admin_rest", 0),
    ("bootstrap_script", "deploy/bootstrap.sh", "config write --url", "config write --uri", 0),
    ("bootstrap_script", "deploy/bootstrap.sh", "\njenkins-broker check\n", "\n", 0),
    ("broker_dockerfile", "Dockerfile", "USER 10001:10001", "USER root", 0),
    ("broker_dockerfile", "Dockerfile", "EXPOSE 8400", "EXPOSE 8401", 0),
    ("broker_dockerfile", "Dockerfile", r"re:HEALTHCHECK [^\n]*\\\n[^\n]*\n", "", 0),
    ("broker_dockerfile", "Dockerfile", "/v1/sys/health", "/v1/health", -1),
    ("broker_dockerfile", "Dockerfile", 'ENTRYPOINT ["jenkins-broker"]',
     'ENTRYPOINT ["jenkins-brokr"]', 0),
    ("broker_dockerfile", "Dockerfile", 'CMD ["serve"]', 'CMD ["demo"]', 0),
    ("broker_dockerfile", "Dockerfile", "pip install /tmp/wheels/*.whl",
     'pip install "$(echo /tmp/wheels/*.whl)[dev]"', 0),
    ("broker_dockerfile", "Dockerfile", "python -m pip install /tmp/wheels/*.whl",
     "python -m pip download /tmp/wheels/*.whl", 0),
    ("broker_dockerfile", "Dockerfile", "JENKINS_BROKER_POLICIES_DIR=/opt/jenkins-broker/",
     "JENKINS_BROKER_POLICIES_DIR=/srv/", 0),
    ("broker_dockerfile", ".dockerignore", "\ndeploy\n", "\ndeploy\nplugin\n", 0),
    ("broker_dockerfile", ".dockerignore", "\n.env\n*.env\n**/*.env\n", "\n", 0),
    ("jenkins", "docker-compose.yml",
     "-Djenkins.security.ApiTokenProperty.adminCanGenerateNewTokens=true", "", 0),
    ("jenkins", "deploy/jenkins/Dockerfile", "CASC_JENKINS_CONFIG=/usr/share/jenkins/casc/casc",
     "CASC_JENKINS_CONFIG=/var/jenkins_home/casc", 0),
    ("jenkins", "deploy/jenkins/plugins.txt", "matrix-auth:3.2.10", "matrix-auth:latest", 0),
    ("jenkins", "deploy/jenkins/plugins.txt", "configuration-as-code:2117",
     "# configuration-as-code:2117", 0),
    ("casc", "deploy/jenkins/casc.yaml", "- id: ci-bot", "- id: cibot", 0),
    ("casc", "deploy/jenkins/casc.yaml", "allowsSignup: false", "allowsSignup: true", 0),
    ("casc", "deploy/jenkins/casc.yaml", '"${JENKINS_ADMIN_PASSWORD}"', '"admin"', 0),
    ("casc", "deploy/jenkins/casc.yaml", "- Overall/Administer", "- Overall/Read", 0),
    ("casc", "deploy/jenkins/casc.yaml", "- Overall/Read", "- Overall/Administer", 0),
    ("casc", "deploy/jenkins/casc.yaml", "name: ci-bot\n", "name: anonymous\n", 0),
    ("casc", "docker-compose.yml", "JENKINS_CI_BOT_PASSWORD: $", "JENKINS_CIBOT_PASSWORD: $", 0),
    ("env_example", "deploy/.env.example", "VAULT_DEV_ROOT_TOKEN=", "# VAULT_DEV_ROOT_TOKEN=", 0),
    ("services", "docker-compose.yml", 'profiles: ["plugin"]', 'profiles: ["plugins"]', 1),
    ("services", "docker-compose.yml", r're:\n    profiles: \["plugin"\]', "", 0),
    ("images_pinned", PLUGIN_DOCKERFILE, "FROM hashicorp/vault:2.1.1 AS plugin",
     "FROM hashicorp/vault:latest AS plugin", 0),
    ("plugin_profile", PLUGIN_DOCKERFILE, "\nFROM hashicorp/vault:2.1.1\n",
     "\nFROM hashicorp/vault:2.1.0\n", 0),
    ("plugin_profile", PLUGIN_DOCKERFILE, "apk add --no-cache python3", "true", 1),
    ("plugin_profile", PLUGIN_DOCKERFILE, "--python /usr/bin/python3", "--python /usr/local/bin/python", 0),
    ("plugin_profile", PLUGIN_DOCKERFILE, "plugin build --output", "plugin build --outptu", 0),
    ("plugin_profile", PLUGIN_DOCKERFILE, "/plugins/ /vault/plugins/", "/plugins/ /vault/plugin/", 0),
    ("plugin_profile", "docker-compose.yml", "-dev-plugin-dir=/vault/plugins", "-dev", 0),
    ("plugin_profile", "docker-compose.yml", "dockerfile: deploy/vault-plugin/Dockerfile",
     "dockerfile: Dockerfile", 1),
    ("plugin_profile", "docker-compose.yml", "VAULT_ADDR: http://vault-plugin:8200",
     "VAULT_ADDR: http://vault:8200", 0),
    ("plugin_profile", "docker-compose.yml", "condition: service_healthy", "condition: service_started", 2),
    ("plugin_profile", "docker-compose.yml", "./deploy/plugin-bootstrap.sh:", "./deploy/bootstrap.sh:", 0),
    ("plugin_profile", "deploy/plugin-bootstrap.sh", "secret jenkins", "secret jenkins-broker", 0),
    ("plugin_profile", "deploy/plugin-bootstrap.sh", "plugin_dir=/vault/plugins", "plugin_dir=/plugins", 0),
    ("plugin_profile", "deploy/plugin-bootstrap.sh", "vault secrets enable", "vault secrets list", 0),
    ("plugin_profile", "deploy/plugin-bootstrap.sh", "vault write jenkins/config",
     "vault read jenkins/config", 0),
    ("plugin_profile", "deploy/plugin-bootstrap.sh", "strategy=admin-rest", "strategy=admin", 0),
    ("plugin_profile", "deploy/plugin-bootstrap.sh", "${VAULT_TOKEN:?", "${VAULT_ROOT_TOKEN:?", 0),
    ("docs", "docs/docker-compose.md", "compose --profile plugin up", "compose --profile=plugin up", -1),
    ("docs", "docs/docker-compose.md", "dev mode", "development", -1),
    ("docs", "docs/docker-compose.md", "exec -T broker", "exec -T brokr", 0),
]


def _break(text: str, old: str, new: str, occurrence: int) -> str:
    """``text`` with the ``occurrence``-th ``old`` (all if -1; a regex if it starts
    with ``re:``) replaced by ``new``; fails if ``old`` is not there."""
    if old.startswith("re:"):
        broken, count = re.subn(old[3:], new, text, count=1)
        assert count, f"pattern {old!r} not found"
        return broken
    assert text.count(old) > max(occurrence, 0), f"{old!r} not found"
    if occurrence == -1:
        return text.replace(old, new)
    head, *tail = text.split(old)
    return old.join([head] + tail[:occurrence]) + new + old.join(tail[occurrence:])


@pytest.mark.parametrize("check, path, old, new, occurrence", MUTATIONS,
                         ids=[f"{m[0]}-{i}" for i, m in enumerate(MUTATIONS)])
def test_check_catches(check, path, old, new, occurrence):
    broken = Deploy({path: _break(Deploy().text(path), old, new, occurrence)})
    assert CHECKS[check](broken), f"{check} did not notice {old!r} -> {new!r} in {path}"


def test_every_check_has_a_breaking_case():
    assert {m[0] for m in MUTATIONS} == set(CHECKS)
