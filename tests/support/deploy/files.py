"""The deployment files, read and parsed: Dockerfiles (instructions, stages, ENV, COPY),
docker-compose.yml (services, their environment), shell scripts (the calls of one
program), .dockerignore; and what the checks expect of them.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import shlex
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML parses docker-compose.yml and casc.yaml")

ROOT = Path(__file__).resolve().parents[3]  # the repository
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
