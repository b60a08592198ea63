"""The two ways a Vault client reaches ``jenkins/creds/<role>``, behind one interface, for the
conformance tests (``tests/conformance/``) and ``benchmarks/conformance.py``:

- **plugin**: the real OpenBao with the project's secrets-engine plugin mounted at ``jenkins/``
  (built with ``build_plugin``, registered and enabled in a persistent-mode OpenBao, configured
  against the fake Jenkins with a bootstrap token of ci-bot), clients talk to OpenBao itself;
- **broker**: ``jenkins-broker serve`` (a process, on the stack of
  :func:`~tests.support.stack.standard_stack`) in front of a real OpenBao; clients talk to it.

:class:`Front` is what a test sees: the address clients use, the OpenBao behind it, the fake
Jenkins, and how to write a role, make a Vault token and run the ``bao`` CLI. Role writes go
where each mode keeps roles (``bao write jenkins/roles/<role>``, or the broker's store); all
else goes through the same client calls in both modes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import requests

from jenkins_broker.fakejenkins import FakeJenkins, FakeUser
from jenkins_broker.vault import BaoDevServer, find_bao_binary
from jenkins_broker.vault.bootstrap import create_token
from tests.support.pluginbao import PluginBao, plugin_pids
from tests.support.processes import alive
from tests.support.waiting import wait_for

MODES = ("plugin", "broker")

#: The policy of the tokens the conformance clients hold: read any role's credentials, look up,
#: renew and revoke leases (prefix revocation needs sudo, as in Vault), check its capabilities.
CLIENT_POLICY = """\
path "jenkins/creds/*" { capabilities = ["read"] }
path "sys/leases/revoke" { capabilities = ["update"] }
path "sys/leases/revoke/jenkins/creds/*" { capabilities = ["update"] }
path "sys/leases/revoke-prefix/jenkins/creds/*" { capabilities = ["update", "sudo"] }
"""


@dataclasses.dataclass
class Front:
    """One mode, running: ``addr`` is what clients set ``VAULT_ADDR`` to, ``bao`` the OpenBao
    behind it (``bao.addr`` is the direct address; the same as ``addr`` in plugin mode)."""

    mode: str
    addr: str
    bao: BaoDevServer
    jenkins: FakeJenkins
    write_role: Callable[..., None]
    home: Path  # HOME of the CLI: an empty directory, so no token helper file is ever read

    @property
    def root(self) -> str:
        return self.bao.root_token

    def role(self, name: str, ttl: str = "1h", max_ttl: str = "2h") -> str:
        """Write role ``name`` for Jenkins user ci-bot (user-token) with these durations."""
        self.write_role(name, ttl=ttl, max_ttl=max_ttl)
        return name

    def token(self, *policies: str, ttl: str = "2h") -> str:
        """A Vault token (made directly in OpenBao with the root token)."""
        return create_token(self.bao.client(), list(policies) or ["conformance-client"], ttl=ttl,
                            display_name=f"conformance-{uuid.uuid4().hex[:6]}").token

    def approle(self, name: str) -> tuple[str, str]:
        """AppRole ``name`` in OpenBao (the approle method enabled at ``approle/`` if it is not),
        whose tokens hold the client policy; returns ``(role_id, secret_id)``."""
        client = self.bao.client()
        if "approle/" not in client.sys.list_auth_methods()["data"]:
            client.sys.enable_auth_method("approle")
        client.write_data(f"auth/approle/role/{name}", data={
            "token_policies": ["conformance-client"], "token_ttl": "1h", "token_max_ttl": "2h"})
        role_id = client.auth.approle.read_role_id(name)["data"]["role_id"]
        secret_id = client.auth.approle.generate_secret_id(name)["data"]["secret_id"]
        return role_id, secret_id

    def lease(self, lease_id: str) -> dict | None:
        """``sys/leases/lookup`` of ``lease_id`` through the front with the root token: its
        ``data``, or None when the lease is unknown (ended)."""
        answer = requests.put(f"{self.addr}/v1/sys/leases/lookup", json={"lease_id": lease_id},
                              headers={"X-Vault-Token": self.root}, timeout=10)
        return answer.json()["data"] if answer.status_code == 200 else None

    def cli(self, *args: str, token: str | None = None, addr: str | None = None, check: bool = True,
            timeout: float = 30) -> subprocess.CompletedProcess:
        """``bao <args>`` against ``addr`` (default: the front) with ``token`` (none if empty)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        env.update(BAO_ADDR=addr or self.addr, HOME=str(self.home))
        if token:
            env["BAO_TOKEN"] = token
        binary = find_bao_binary()
        assert binary is not None  # the fixtures skip without one
        out = subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=timeout)
        if check and out.returncode != 0:
            raise AssertionError(f"[{self.mode}] bao {' '.join(_shown(args))} failed ({out.returncode}): "
                                 f"{redact(out.stderr)}")
        return out

    def cli_json(self, command: str, *args: str, **kw) -> dict:
        """``bao <command> -format=json <args>`` parsed, e.g. ``cli_json("lease lookup", lease_id)``."""
        out = self.cli(*command.split(), "-format=json", *args, **kw)
        return json.loads(out.stdout)

    def token_uuids(self, user: str = "ci-bot") -> set[str]:
        """The uuids of ``user``'s tokens in the fake Jenkins (what a mint adds one to)."""
        return {t["uuid"] for t in self.jenkins.tokens(user)}

    def whoami(self, token: str, user: str = "ci-bot") -> int:
        """whoAmI's status for ``user:token``: 200 while the token works, 401 once revoked."""
        return requests.get(f"{self.jenkins.url}whoAmI/api/json", auth=(user, token), timeout=10).status_code


def redact(text: str, *secrets: str) -> str:
    """``text`` with ``secrets`` and anything token-shaped (Vault tokens, Jenkins tokens)
    replaced by ``<token>``: what goes into an assertion message."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<token>")
    text = re.sub(r"\b(?:hv[sbr]|s|b|r)\.[A-Za-z0-9_-]{16,}", "<token>", text)
    return re.sub(r"\b(?:[0-9a-fA-F]{2})?[0-9a-fA-F]{32,}\b", "<token>", text)


def _shown(args) -> list[str]:
    return [redact(a) for a in args]


def _prepare_policies(bao: BaoDevServer) -> None:
    bao.client().sys.create_or_update_acl_policy("conformance-client", CLIENT_POLICY)


def _users() -> list[FakeUser]:
    return [FakeUser("admin", "adminpw", admin=True), FakeUser("ci-bot", "botpw"),
            FakeUser("deployer", "deploypw")]


@contextlib.contextmanager
def plugin_front() -> Iterator[Front]:
    """Plugin mode: OpenBao with the engine at ``jenkins/``; stopped (and the plugin process
    gone) at the end, whatever happened."""
    from jenkins_broker.vaultplugin.build import build_plugin

    with tempfile.TemporaryDirectory(prefix="conformance-plugin-") as tmp:
        plugin_dir, home = Path(tmp) / "plugins", Path(tmp) / "home"
        home.mkdir()
        build = build_plugin(plugin_dir)
        jenkins = FakeJenkins(_users()).start()
        bao = PluginBao(plugin_dir)
        try:
            bao.start()
            client = bao.client()
            client.write_data("sys/plugins/catalog/secret/jenkins",
                              data={"command": build.path.name, "sha256": build.sha256})
            client.sys.enable_secrets_engine("jenkins", path="jenkins")
            _, bootstrap = jenkins.add_token("ci-bot", "bootstrap")
            client.write_data("jenkins/config",
                              data={"url": jenkins.url, "username": "ci-bot", "token": bootstrap})
            _prepare_policies(bao)

            def write_role(name, **fields):
                client.write(f"jenkins/roles/{name}", jenkins_user="ci-bot", strategy="user-token", **fields)
            yield Front("plugin", bao.addr, bao, jenkins, write_role, home)
        finally:
            bao.stop()
            jenkins.stop()
            # OpenBao stops its plugin on the way down; a leftover is this test's child's child.
            with contextlib.suppress(AssertionError):
                wait_for(lambda: not plugin_pids(plugin_dir), timeout=10, what="the plugin to exit")
            for pid in plugin_pids(plugin_dir):
                if alive(pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def broker_front() -> Iterator[Front]:
    """Broker mode: ``jenkins-broker serve`` as a process (:func:`~tests.support.stack.spawn_broker`,
    the shared integration stack's settings) in front of OpenBao; its log is ``broker.log``
    in ``Front.home``'s parent."""
    from tests.support.processes import stop_process
    from tests.support.stack import STACK_SETTINGS, spawn_broker, standard_stack

    with tempfile.TemporaryDirectory(prefix="conformance-broker-") as tmp, standard_stack() as st:
        home = Path(tmp) / "home"
        home.mkdir()
        _prepare_policies(st.bao)
        st.stop_broker()  # the stack's in-process broker: the process below serves instead
        proc, url = spawn_broker(st, Path(tmp), STACK_SETTINGS)
        try:
            def write_role(name, **fields):
                st.role(name, **fields)
            yield Front("broker", url, st.bao, st.jenkins, write_role, home)
        finally:
            stop_process(proc, 15)


def front(mode: str):
    """The context manager of ``mode`` (one of :data:`MODES`)."""
    return {"plugin": plugin_front, "broker": broker_front}[mode]()
