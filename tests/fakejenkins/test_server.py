"""FakeJenkins as a server: lifetime, restart, faults, latency, the command."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests

from jenkins_broker.fakejenkins import FakeJenkins, FakeUser
from tests.fixtures.jenkins import token_url
from tests.support import wait_for


def fake_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("fake-jenkins")]


def refused(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
    except requests.ConnectionError:
        return True
    return False


def test_start_returns_self_and_stop_frees_everything():
    baseline = len(fake_threads())
    fake = FakeJenkins(users=["admin:pw:admin"], port=0)
    assert fake.start() is fake
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", fake.url)
    assert requests.get(fake.url + "whoAmI/api/json").status_code == 200
    fake.stop()
    fake.stop()                                   # idempotent
    assert refused(fake.url)
    assert len(fake_threads()) == baseline


def test_context_manager_and_users_as_strings():
    with FakeJenkins(users=["boss:secret:admin", FakeUser("bot", "b")]) as fake:
        assert fake.running
        who = requests.get(fake.url + "whoAmI/api/json", auth=("boss", "secret")).json()
        assert who["name"] == "boss"
        assert fake.state.find_user("boss").admin and not fake.state.find_user("bot").admin
    assert not fake.running and refused(fake.url)


@pytest.mark.parametrize("spec", ["nopassword", ":pw", "name:", "name::admin"])
def test_bad_user_specs_are_refused(spec):
    with pytest.raises(ValueError):
        FakeJenkins(users=[spec])


@pytest.mark.parametrize("version", ["2", "2.x", "latest", "2.555.1.1", ""])
def test_bad_versions_are_refused(version):
    with pytest.raises(ValueError):
        FakeJenkins(users=["a:b"], version=version)


def test_restart_keeps_users_tokens_and_port(fake_jenkins):
    _, value = fake_jenkins.add_token("ci-bot", name="persist")
    port, old_hash = fake_jenkins.port, fake_jenkins.session_hash
    fake_jenkins.restart()
    assert fake_jenkins.port == port
    r = requests.get(fake_jenkins.url + "whoAmI/api/json", auth=("ci-bot", value))
    assert r.status_code == 200
    assert r.headers["X-Jenkins-Session"] != old_hash


def test_restart_drops_form_login_sessions(fake_jenkins):
    browser = requests.Session()
    browser.post(fake_jenkins.url + "j_spring_security_check",
                 data={"j_username": "ci-bot", "j_password": "botpw"})
    assert browser.get(fake_jenkins.url + "whoAmI/api/json").json()["name"] == "ci-bot"
    fake_jenkins.restart()
    assert browser.get(fake_jenkins.url + "whoAmI/api/json").json()["name"] == "anonymous"


def test_fault_refuse_closes_and_reopens_the_same_port(fake_jenkins):
    port = fake_jenkins.port
    fake_jenkins.set_fault("refuse")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    fake_jenkins.set_fault(None)
    assert fake_jenkins.port == port
    assert requests.get(fake_jenkins.url + "whoAmI/api/json", timeout=5).status_code == 200


def test_fault_hang_holds_requests_until_cleared(fake_jenkins):
    fake_jenkins.set_fault("hang")
    with pytest.raises(requests.ReadTimeout):
        requests.get(fake_jenkins.url + "whoAmI/api/json", timeout=0.3)
    answers = []
    waiter = threading.Thread(target=lambda: answers.append(
        requests.get(fake_jenkins.url + "whoAmI/api/json", timeout=10).status_code))
    waiter.start()
    wait_for(lambda: fake_jenkins.requests_seen["/whoAmI/api/json"] >= 2, timeout=5, interval=0.01,
             what="the request to reach the hanging fake")
    assert answers == []
    fake_jenkins.set_fault(None)
    waiter.join(timeout=5)
    assert answers == [200]


def test_fault_hang_does_not_outlive_stop():
    baseline = len(fake_threads())
    fake = FakeJenkins(users=["a:b"]).start()
    fake.set_fault("hang")
    errors = []

    def call():
        try:
            requests.get(fake.url + "whoAmI/api/json", timeout=10)
        except requests.RequestException as exc:
            errors.append(exc)

    callers = [threading.Thread(target=call) for _ in range(3)]
    for caller in callers:
        caller.start()
    wait_for(lambda: sum(fake.requests_seen.values()) >= 3, timeout=5, interval=0.01,
             what="three requests held by the hang")
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 4
    for caller in callers:
        caller.join(timeout=5)
    assert len(errors) == 3                     # dropped, never answered
    assert len(fake_threads()) == baseline


def test_fault_error500_and_reset(fake_jenkins):
    fake_jenkins.set_fault("error500")
    r = requests.get(fake_jenkins.url + "whoAmI/api/json")
    assert r.status_code == 500 and "Oops!" in r.text
    fake_jenkins.set_fault("reset")
    with pytest.raises(requests.ConnectionError):
        requests.get(fake_jenkins.url + "whoAmI/api/json", timeout=5)
    fake_jenkins.set_fault(None)
    assert requests.get(fake_jenkins.url + "whoAmI/api/json").status_code == 200
    with pytest.raises(ValueError):
        fake_jenkins.set_fault("explode")


def test_latency_is_added_to_every_request(make_fake_jenkins):
    fake = make_fake_jenkins(latency=0.25)
    started = time.monotonic()
    assert requests.get(fake.url + "whoAmI/api/json").status_code == 200
    assert time.monotonic() - started >= 0.25


def test_requests_seen_and_log(fake_jenkins):
    token = fake_jenkins.add_token("ci-bot")[1]
    requests.post(token_url(fake_jenkins, "ci-bot", "revoke"), auth=("ci-bot", token),
                  data={"tokenUuid": "x"})
    assert fake_jenkins.requests_seen[
        "/user/ci-bot/descriptorByName/jenkins.security.ApiTokenProperty/revoke"] == 1
    assert fake_jenkins.request_log[-1] == {
        "method": "POST", "status": 200, "user": "ci-bot", "via": "token",
        "path": "/user/ci-bot/descriptorByName/jenkins.security.ApiTokenProperty/revoke"}


def test_concurrent_minting_is_thread_safe(fake_jenkins):
    token = fake_jenkins.add_token("ci-bot")[1]
    values = []

    def mint():
        for _ in range(5):
            r = requests.post(token_url(fake_jenkins, "ci-bot", "generateNewToken"),
                              auth=("ci-bot", token))
            values.append(r.json()["data"]["tokenValue"])

    workers = [threading.Thread(target=mint) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(set(values)) == 30
    assert len(fake_jenkins.tokens("ci-bot")) == 31
    assert fake_jenkins.tokens("ci-bot")[0]["use_counter"] == 30


# -- the command -----------------------------------------------------------------------------

def _command_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH")]))
    return env


def test_command_help_says_what_it_is():
    out = subprocess.run([sys.executable, "-m", "jenkins_broker.fakejenkins", "--help"],
                         capture_output=True, text=True, timeout=30, env=_command_env())
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    assert "test double" in text and "not Jenkins" in text
    assert "runs Groovy 2.4 for real" in text and "fake-jenkins-groovy.md" in text
    for option in ("--port", "--user", "--host", "--jenkins-version",
                   "--admin-can-generate-new-tokens", "--latency-ms"):
        assert option in text


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_command_serves_until_signalled(signum):
    proc = subprocess.Popen(
        [sys.executable, "-m", "jenkins_broker.fakejenkins", "--port", "0",
         "--user", "admin:adminpw:admin", "--user", "ci-bot:botpw",
         "--jenkins-version", "2.504", "--admin-can-generate-new-tokens"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_command_env())
    try:
        url = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url), url
        r = requests.get(url + "whoAmI/api/json", auth=("admin", "adminpw"), timeout=5)
        assert r.json()["name"] == "admin" and r.headers["X-Jenkins"] == "2.504"
        proc.send_signal(signum)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_command_rejects_a_bad_user():
    out = subprocess.run([sys.executable, "-m", "jenkins_broker.fakejenkins", "--port", "0",
                          "--user", "justaname"], capture_output=True, text=True, timeout=30,
                         env=_command_env())
    assert out.returncode == 2
    assert "NAME:PASSWORD" in out.stderr


# -- HTTP/1.1 keep-alive, as Jetty does ---------------------------------------------------------

def test_keep_alive_reuses_one_connection(fake_jenkins):
    # The start-up probe is accepted asynchronously.
    wait_for(lambda: fake_jenkins.connections_accepted >= 1, timeout=5, interval=0.01,
             what="the start-up probe's connection")
    before = fake_jenkins.connections_accepted
    token = fake_jenkins.add_token("ci-bot")[1]
    with requests.Session() as session:
        session.auth = ("ci-bot", token)
        for n in range(3):
            made = session.post(token_url(fake_jenkins, "ci-bot", "generateNewToken"),
                                data={"newTokenName": f"k{n}"})
            assert made.status_code == 200
            assert "close" not in made.headers.get("Connection", "")
            assert session.get(fake_jenkins.url + "whoAmI/api/json").json()["name"] == "ci-bot"
    assert fake_jenkins.connections_accepted - before == 1


def _read_response(sock) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    match = re.search(rb"(?i)content-length: *(\d+)", head)
    assert match is not None, head
    length = int(match.group(1))
    while len(rest) < length:
        rest += sock.recv(65536)
    return head + b"\r\n\r\n" + rest[:length]


def test_keep_alive_with_expect_continue_and_unread_bodies(fake_jenkins):
    token = fake_jenkins.add_token("ci-bot")[1]
    import base64

    auth = base64.b64encode(f"ci-bot:{token}".encode()).decode()
    body = b"newTokenName=big&pad=" + b"x" * 5000
    path = "/user/ci-bot/descriptorByName/jenkins.security.ApiTokenProperty/generateNewToken"
    with socket.create_connection(("127.0.0.1", fake_jenkins.port), timeout=5) as sock:
        sock.sendall((f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n"
                      "Content-Type: application/x-www-form-urlencoded\r\n"
                      f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n").encode())
        assert sock.recv(25) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        first = _read_response(sock)
        assert first.startswith(b"HTTP/1.1 200"), first    # and no second "100 Continue"
        # a JSON body nobody reads, then a second request on the same connection
        junk = b'{"ignored": true}'
        sock.sendall((f"POST /whoAmI/api/json HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}"
                      f"\r\nContent-Type: application/json\r\nContent-Length: {len(junk)}\r\n\r\n"
                      ).encode() + junk)
        assert _read_response(sock).startswith(b"HTTP/1.1 200")
        sock.sendall(f"GET /whoAmI/api/json HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}"
                     "\r\n\r\n".encode())
        assert b'"name":"ci-bot"' in _read_response(sock)
    assert [t["name"] for t in fake_jenkins.tokens("ci-bot")] == ["x", "big"]


def test_restart_and_refuse_close_kept_alive_connections(fake_jenkins):
    with requests.Session() as session:
        assert session.get(fake_jenkins.url + "whoAmI/api/json").status_code == 200
        fake_jenkins.restart()
        # the pooled connection died with the old "process"; urllib3 opens a new one
        assert session.get(fake_jenkins.url + "whoAmI/api/json").status_code == 200
        fake_jenkins.set_fault("refuse")
        with pytest.raises(requests.ConnectionError):
            session.get(fake_jenkins.url + "whoAmI/api/json", timeout=2)
        fake_jenkins.set_fault(None)


def test_add_arguments_keeps_the_warning_under_a_foreign_description():
    import argparse

    from jenkins_broker.fakejenkins.command import add_arguments

    parser = argparse.ArgumentParser(description="Run the Jenkins test double.")
    add_arguments(parser)
    text = " ".join(parser.format_help().split())
    assert "not Jenkins" in text and "knows only the Jenkins classes that API tokens need" in text
    args = parser.parse_args(["--user", "a:b:admin", "--latency-ms", "5", "--port", "0"])
    assert args.users[0].admin and args.latency_ms == 5 and args.jenkins_version == "2.555.1"
