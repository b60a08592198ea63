"""Checks of the images built here: the broker's Dockerfile (and .dockerignore), and the
Jenkins image with its plugins and JCasC file."""

from __future__ import annotations

import re
import shlex
from importlib import metadata

from tests.support.deploy.files import (
    JENKINS_PROPERTIES,
    ROOT,
    Deploy,
    Instr,
    copies,
    dockerignore,
    env_of,
    exec_form,
    final_stage,
    ignored,
    norm,
    service_env,
    yaml,
)


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
