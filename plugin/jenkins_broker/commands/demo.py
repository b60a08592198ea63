"""``jenkins-broker demo``: the whole thing on loopback, in one command.

Starts an OpenBao dev server and a fake Jenkins, bootstraps Vault (mounts,
policies, an AppRole the broker logs in with, so it runs with its own policy
only), stores the Jenkins connection, a ci-bot credential and a shared ci-bot
role, issues a CI token holding only the ci-bot consumer policy, and serves the
broker. Prints ``export`` lines to stdout and to the env file, then runs until
SIGINT or SIGTERM and stops everything it started.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from ..domain.credentials import write_token_credential
from ..domain.jenkins_config import JenkinsConfig, StoredCredential
from ..domain.roles import build_role
from ..durations import format_duration, parse_duration
from ..errors import BrokerError, ConfigError
from ..fakejenkins import FakeJenkins, FakeUser
from ..jenkins.gateway import JenkinsGateway
from ..server.httpd import HTTPServer
from ..server.runtime import setup_logging, wait_for_signal
from ..server.services import build_services
from ..server.settings import BrokerSettings
from ..vault.bootstrap import BootstrapResult, bootstrap, create_token
from ..vault.devserver import BaoDevServer
from ..vault.settings import VaultSettings
from ..vault.store import VaultStore
from ..web import create_app
from .bootstrap import policies_dir, write_env_file


def _say(text: str) -> None:
    print(f"demo: {text}", file=sys.stderr, flush=True)


def run_demo(args: argparse.Namespace) -> int:
    """Run the demo (see the module docstring) until SIGINT or SIGTERM; returns 0.
    Raises ConfigError for a bad ``--ttl``, BrokerError if a step fails."""
    ttl = _shared_ttl(args.ttl)
    setup_logging("INFO")
    with ExitStack() as stack:
        bao = _start_openbao(stack)
        jenkins = _start_fake_jenkins(stack)
        root = bao.client()
        result = bootstrap(root, policies_dir=policies_dir())
        _say("Vault bootstrapped: " + "; ".join(result.created))

        admin_store = VaultStore(bao.vault_client(), cache_seconds=0)
        _store_ci_bot(admin_store, jenkins, ttl)
        ci = create_token(root, ["jenkins-consumer-ci-bot"], ttl="24h", display_name="demo-ci")
        _say(f"role ci-bot written (user-token strategy, shared, ttl {format_duration(ttl)}); "
             "CI token issued with policy jenkins-consumer-ci-bot")

        server = _serve_broker(stack, bao, result)
        _wait_for_first_rotation(admin_store)
        _hand_over(args.env_file, {"VAULT_ADDR": bao.addr, "VAULT_TOKEN": bao.root_token,
                                   "JENKINS_URL": jenkins.url, "JENKINS_BROKER_ADDR": server.url,
                                   "CI_VAULT_TOKEN": ci.token})
        _say("running; press Ctrl-C to stop everything")
        signum = wait_for_signal()
        _say(f"got signal {signum}; stopping the broker, the fake Jenkins and OpenBao")
    return 0


def _shared_ttl(text: str) -> int:
    """The ci-bot role's ttl, from ``--ttl``."""
    try:
        ttl = parse_duration(text, field="--ttl")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if ttl < 2:
        raise ConfigError("--ttl: at least 2s, so that shared rotation (every ttl/2) has room")
    return ttl


def _start_openbao(stack: ExitStack) -> BaoDevServer:
    _say("starting OpenBao (bao server -dev) on a free loopback port")
    bao = stack.enter_context(BaoDevServer(mode="dev", root_token="root-" + secrets.token_hex(12)))
    _say(f"OpenBao is up at {bao.addr} (pid {bao.pid})")
    return bao


def _start_fake_jenkins(stack: ExitStack) -> FakeJenkins:
    jenkins = FakeJenkins([FakeUser("admin", secrets.token_urlsafe(12), admin=True),
                           FakeUser("ci-bot", secrets.token_urlsafe(12))], version="2.555.1")
    jenkins.start()
    stack.callback(jenkins.stop)
    _say(f"fake Jenkins {jenkins.version} is up at {jenkins.url}")
    return jenkins


def _store_ci_bot(admin_store: VaultStore, jenkins: FakeJenkins, ttl: int) -> None:
    """The Jenkins connection, the ci-bot credential and the shared ci-bot role, as an
    administrator would write them."""
    admin_store.put_jenkins_config(JenkinsConfig(url=jenkins.url))
    _, bootstrap_token = jenkins.add_token("ci-bot", name="ci-bot bootstrap token for jenkins-broker")
    # Written as `jenkins-broker credentials write` does: rotated, the bootstrap token revoked.
    rotated = write_token_credential(admin_store, JenkinsGateway(admin_store),
                                     StoredCredential("ci-bot", "ci-bot", "token", bootstrap_token))
    _say(f"credential ci-bot stored as the broker's own token {rotated['token_name']}; the bootstrap "
         f"token {'was revoked' if rotated.get('previous_revoked') else 'is still live'}")
    admin_store.put_role(build_role("ci-bot", {
        "jenkins_user": "ci-bot", "strategy": "user-token", "credential": "ci-bot",
        "ttl": ttl, "max_ttl": max(ttl, 3600), "shared": True,
        "description": "demo: the ci-bot Jenkins user"}))


def _serve_broker(stack: ExitStack, bao: BaoDevServer, result: BootstrapResult) -> HTTPServer:
    """Start the broker, logged in with the AppRole ``bootstrap`` made, on a free port."""
    broker_vault = VaultSettings(addr=bao.addr, auth_method="approle", role_id=result.role_id,
                                 secret_id=result.secret_id)
    services = build_services(BrokerSettings(listen="127.0.0.1:0"), broker_vault)
    services.start()
    stack.callback(services.stop)
    server = HTTPServer(create_app(services), "127.0.0.1", 0).start()
    stack.callback(server.stop)
    _say(f"broker serving at {server.url}, logged in with its AppRole (policy jenkins-broker)")
    return server


def _wait_for_first_rotation(admin_store: VaultStore) -> None:
    """Until the broker has published ci-bot's shared value; BrokerError after 30 s."""
    deadline = time.monotonic() + 30
    while admin_store.read_shared("ci-bot") is None:
        if time.monotonic() > deadline:
            raise BrokerError("the first shared rotation of ci-bot did not happen within 30s; "
                              "see the log above")
        time.sleep(0.1)


def _hand_over(env_file: str, exports: dict[str, str]) -> None:
    """Print the ``export`` lines (stdout and ``env_file``) and what to try next (stderr)."""
    write_env_file(env_file, exports)
    for name, value in exports.items():
        print(f"export {name}='{value}'")
    sys.stdout.flush()
    _say(f"export lines written to {env_file}. In another shell, in this directory:")
    for line in (*_put_on_path(), f". ./{env_file}" if "/" not in env_file else f". {env_file}",
                 "VAULT_TOKEN=$CI_VAULT_TOKEN bao read jenkins/creds/ci-bot            # shared, from Vault",
                 "VAULT_ADDR=$JENKINS_BROKER_ADDR VAULT_TOKEN=$CI_VAULT_TOKEN bao read jenkins/creds/ci-bot"
                 "   # a fresh token per read",
                 "TOKEN=$(VAULT_ADDR=$JENKINS_BROKER_ADDR VAULT_TOKEN=$CI_VAULT_TOKEN "
                 "bao read -field=token jenkins/creds/ci-bot)",
                 'curl -su "ci-bot:$TOKEN" "${JENKINS_URL}whoAmI/api/json"'):
        print(f"    {line}", file=sys.stderr)


def _put_on_path() -> list[str]:
    """The line that puts this install's ``bao`` and ``jenkins-broker`` on PATH in another
    shell: the activation of its virtualenv (a fresh shell has not activated it, whatever
    this one did), or its directory; none when ``bao`` is not this install's."""
    here = Path(sys.executable).parent
    if (here / "activate").is_file():
        return [f". {here / 'activate'}"]
    if (here / "bao").is_file():
        return [f'export PATH="{here}:$PATH"']
    return []
