"""Checks of docker-compose.yml: the services and their profiles, pinned images, health
checks, start order, the environment each service gets, published ports, volumes, and
deploy/.env.example documenting every variable the file uses."""

from __future__ import annotations

import re
from typing import Any

from tests.support.deploy.facts import broker_env_names
from tests.support.deploy.files import (
    EXACT_TAG,
    PLUGIN_SERVICES,
    RUN_DIR,
    SCRIPT_ENV,
    SERVICES,
    Deploy,
    as_text,
    env_of,
    literal,
    norm,
    script_commands,
    service_env,
    without_flags,
)


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


def check_env_example(d: Deploy) -> list[str]:
    compose = d.text("docker-compose.yml")
    if compose is None:
        return ["docker-compose.yml is missing"]
    used = set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", compose))
    documented = set(re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)=", d.text("deploy/.env.example") or "",
                                re.M))
    return [f"deploy/.env.example does not document {var}" for var in sorted(used - documented)]
