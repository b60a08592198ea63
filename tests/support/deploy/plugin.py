"""Checks of the ``plugin`` profile: a Vault whose plugin directory holds the engine, and
the one-shot (deploy/plugin-bootstrap.sh) that registers and enables it."""

from __future__ import annotations

import re
import shlex

from tests.support.deploy.compose import mounts
from tests.support.deploy.facts import cli_rejects
from tests.support.deploy.files import (
    PLUGIN_DOCKERFILE,
    PLUGIN_PYTHON,
    PLUGIN_SERVICES,
    Deploy,
    Instr,
    as_text,
    copies,
    norm,
    script_commands,
    service_env,
    without_flags,
)


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
