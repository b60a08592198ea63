"""Configuration written by any path reaches every running replica within 5 s (issue 14).

The Jenkins connection, credentials and roles are changed with the CLI straight in
Vault (no broker API call, so no replica is told); two replicas must both follow
within ``cache_seconds`` (5 s by default, as the README promises). Real OpenBao,
two fake Jenkins instances, two brokers in this process.
"""

from __future__ import annotations

import time

import pytest
import requests

from jenkins_broker.commands.cli import main as cli
from jenkins_broker.fakejenkins import FakeJenkins, FakeUser
from jenkins_broker.vault import BaoDevServer
from tests.support.stack import running_stack
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

PROMISE = 5.0  # seconds, the README's promise (cache_seconds' default)
SLACK = 1.5    # one mint's round trips on loaded test machines


def users():
    return [FakeUser("admin", "adminpw", admin=True), FakeUser("ci-bot", "botpw")]


@pytest.fixture(scope="module")
def cstack():
    with running_stack(BaoDevServer(), FakeJenkins(users(), version="2.555.1"), {},
                       passwords={"ci-bot-password": ("ci-bot", "botpw")}) as st:
        yield st


@pytest.fixture
def other_jenkins():
    jenkins = FakeJenkins(users(), version="2.555.1").start()
    yield jenkins
    jenkins.stop()


@pytest.fixture
def admin_cli(cstack, monkeypatch):
    """``jenkins-broker <args>`` as an administrator with the root token, straight to Vault."""
    monkeypatch.setenv("VAULT_ADDR", cstack.bao.addr)
    monkeypatch.setenv("VAULT_TOKEN", cstack.bao.root_token)
    monkeypatch.setenv("CI_BOT_PASSWORD", "botpw")

    def run(*args):
        assert cli(list(args)) == 0, args
    yield run
    run("config", "write", "--url", cstack.jenkins.url)  # back to the module's Jenkins
    run("credentials", "write", "ci-bot-password", "--username", "ci-bot",
        "--password-env", "CI_BOT_PASSWORD")


def mint(url, role, token):
    return requests.post(f"{url}/v1/jenkins/creds/{role}", headers={"X-Vault-Token": token}, timeout=15)


def minted(url, role, token):
    """A successful mint, once the last test's restored configuration reached ``url``."""
    return wait_for(lambda: (got := mint(url, role, token)).status_code == 200 and got,
                    timeout=PROMISE + SLACK, interval=0.2, what=f"a mint on {url}")


def accepted_by(jenkins, minted):
    data = minted.json()["data"]
    return requests.get(f"{jenkins.url}whoAmI/api/json", auth=(data["username"], data["token"]),
                        timeout=5).status_code == 200


def test_a_config_url_written_with_the_cli_reaches_both_replicas_within_5_seconds(
        cstack, other_jenkins, admin_cli):
    role = cstack.role("moved", strategy="user-password", credential="ci-bot-password")
    ci = cstack.consumer(role)
    with cstack.replica() as (_, other_url):
        for url in (cstack.broker_url, other_url):  # both have built their Jenkins client
            assert accepted_by(cstack.jenkins, minted(url, role, ci))

        admin_cli("config", "write", "--url", other_jenkins.url)
        # The credential written again for the new Jenkins (item 2 of issue 14 binds a
        # credential to the origin it was written for).
        admin_cli("credentials", "write", "ci-bot-password", "--username", "ci-bot",
                  "--password-env", "CI_BOT_PASSWORD")
        written = time.monotonic()
        for url in (cstack.broker_url, other_url):
            def follows(url=url):
                got = mint(url, role, ci)
                return got.status_code == 200 and accepted_by(other_jenkins, got)
            wait_for(follows, timeout=PROMISE + SLACK - (time.monotonic() - written), interval=0.2,
                     what=f"a mint on {url} from the newly configured Jenkins")


def test_a_credential_deleted_with_the_cli_stops_being_used_by_both_replicas_within_5_seconds(
        cstack, admin_cli):
    role = cstack.role("deleted-cred", strategy="user-password", credential="ci-bot-password")
    ci = cstack.consumer(role)
    with cstack.replica() as (_, other_url):
        for url in (cstack.broker_url, other_url):
            minted(url, role, ci)
        admin_cli("credentials", "delete", "ci-bot-password")
        written = time.monotonic()
        for url in (cstack.broker_url, other_url):
            wait_for(lambda url=url: mint(url, role, ci).status_code != 200,
                     timeout=PROMISE + SLACK - (time.monotonic() - written), interval=0.2,
                     what=f"{url} to stop minting with the deleted credential")
        assert "ci-bot-password" in mint(cstack.broker_url, role, ci).text


def test_a_role_changed_with_the_cli_reaches_both_replicas_within_5_seconds(cstack, admin_cli):
    role = cstack.role("retuned", strategy="user-password", credential="ci-bot-password", ttl=600)
    ci = cstack.consumer(role)
    with cstack.replica() as (_, other_url):
        for url in (cstack.broker_url, other_url):
            assert minted(url, role, ci).json()["lease_duration"] == 600
        admin_cli("roles", "write", role, "ttl=120")
        written = time.monotonic()
        for url in (cstack.broker_url, other_url):
            wait_for(lambda url=url: mint(url, role, ci).json()["lease_duration"] == 120,
                     timeout=PROMISE + SLACK - (time.monotonic() - written), interval=0.2,
                     what=f"{url} to mint with the role's new ttl")


# -- a stored credential is sent only to the Jenkins origin it was written for -----------

@pytest.fixture
def listener():
    """A socket server on loopback that records every request's header lines and answers
    200 ``{}`` as a Jenkins would (``X-Jenkins``): an administrator's listener the Jenkins
    URL could be pointed at."""
    import socket
    import threading
    seen: list[str] = []
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                except OSError:
                    pass
                seen.append(data.decode("latin-1"))
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Jenkins: 2.555.1\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/", seen
    stop.set()
    thread.join(2)
    server.close()


def test_a_credential_is_not_sent_to_a_jenkins_url_moved_to_another_origin(cstack, listener, admin_cli,
                                                                           capsys):
    url, seen = listener
    role = cstack.role("bound", strategy="user-password", credential="ci-bot-password")
    ci = cstack.consumer(role)
    minted(cstack.broker_url, role, ci)
    with cstack.replica() as (_, other_url):
        admin_cli("config", "write", "--url", url, "--no-check")  # a listener, not Jenkins
        written = time.monotonic()
        for broker in (cstack.broker_url, other_url):
            refused = wait_for(lambda broker=broker: [got for got in [mint(broker, role, ci)]
                                                      if "moved from" in got.text], timeout=PROMISE + SLACK - (time.monotonic() - written),
                               interval=0.2, what=f"{broker} to refuse the moved URL")
            assert refused[0].status_code >= 400
            assert "write the credential again" in refused[0].text
    assert not [r for r in seen if "authorization:" in r.lower()], seen
    capsys.readouterr()
    assert cli(["check"]) == 1
    assert "moved from" in capsys.readouterr().out

