"""The client's transport against the fake: faults, timeouts, keep-alive, version, secrets."""

import time

import pytest
import urllib3.connection

from jenkins_broker import errors
from jenkins_broker.jenkins import Credential, JenkinsClient, make_strategy

SECRETS = ("adminpw", "botpw", "otherpw", "wrong-Password-9")


@pytest.mark.parametrize("fault, expected", [
    ("refuse", errors.JenkinsConnectionError),
    ("hang", errors.JenkinsTimeout),
    ("error500", errors.JenkinsServerError),
    ("reset", errors.JenkinsConnectionError),
])
def test_faults_become_unavailable_errors(fake_jenkins, fault, expected):
    with JenkinsClient(fake_jenkins.url, timeout=0.5) as client:
        strategy = make_strategy("user-password", client, Credential("ci-bot", "botpw"))
        fake_jenkins.set_fault(fault)
        started = time.monotonic()
        try:
            with pytest.raises(expected) as caught:
                strategy.mint("ci-bot", "jenkins-broker-1", 900)
            with pytest.raises(expected):
                client.version(refresh=True)
        finally:
            fake_jenkins.set_fault(None)
        assert time.monotonic() - started < 5
        assert isinstance(caught.value, errors.JenkinsUnavailable)
        assert fake_jenkins.url.rstrip("/") in str(caught.value)
        assert "botpw" not in str(caught.value) and "botpw" not in repr(caught.value)
        # and the same client works again once Jenkins is back
        minted = strategy.mint("ci-bot", "jenkins-broker-2", 900)
        assert client.verify_token("ci-bot", minted.value)


def test_tls_to_a_plain_http_port_is_a_connection_error(fake_jenkins):
    url = fake_jenkins.url.replace("http://", "https://")
    with JenkinsClient(url, timeout=2.0) as client:
        with pytest.raises(errors.JenkinsConnectionError) as caught:
            client.verify_token("ci-bot", "botpw")
    assert "TLS" in str(caught.value) and "botpw" not in str(caught.value)


@pytest.fixture
def sockets_opened(monkeypatch):
    """Counts TCP connections the client opens (urllib3's connection class)."""
    opened = []
    real = urllib3.connection.HTTPConnection.connect

    def counting(self):
        real(self)
        opened.append(self.sock)
    monkeypatch.setattr(urllib3.connection.HTTPConnection, "connect", counting)
    return opened


def test_connections_are_kept_alive_and_reused(fake_jenkins, sockets_opened):
    _, value = fake_jenkins.add_token("ci-bot", name="bootstrap")
    with JenkinsClient(fake_jenkins.url, timeout=5.0) as client:
        strategy = make_strategy("user-token", client, Credential.token("ci-bot", value))
        for n in range(3):
            minted = strategy.mint("ci-bot", f"jenkins-broker-{n}", 900)
            strategy.revoke("ci-bot", minted.uuid)
    # The version lookup, then a generate and a revoke per round: seven requests over one
    # socket, which works only because the fake keeps HTTP/1.1 connections open, as Jetty does.
    assert len(fake_jenkins.request_log) == 7
    assert len(sockets_opened) == 1


@pytest.mark.parametrize("version", ["2.555.1", "2.504", "2.176.1", "2.107.3"])
def test_version_detection(make_fake_jenkins, version):
    fj = make_fake_jenkins(version=version)
    with JenkinsClient(fj.url, timeout=5.0) as client:
        assert client.version() == version
        assert client.version_tuple() == tuple(int(p) for p in version.split("."))
        before = len(fj.request_log)
        client.version()
        assert len(fj.request_log) == before          # cached


def test_no_secret_in_any_error_from_the_fake(make_fake_jenkins):
    fj = make_fake_jenkins(version="2.504", creation_of_legacy_token_enabled=False)
    _, bootstrap = fj.add_token("ci-bot", name="bootstrap")
    secrets = SECRETS + (bootstrap,)
    caught = []

    def expect(error_class, call):
        with pytest.raises(error_class) as info:
            call()
        caught.append(info.value)

    with JenkinsClient(fj.url, timeout=0.5) as client:
        def strategy(name, user, secret, kind="auto"):
            return make_strategy(name, client, Credential(user, secret, kind))
        expect(errors.JenkinsAuthError,
               lambda: strategy("user-password", "ci-bot", "wrong-Password-9").mint("ci-bot", "n", 60))
        expect(errors.AdminCannotGenerateTokens,
               lambda: strategy("admin-rest", "admin", "adminpw").mint("ci-bot", "n", 60))
        expect(errors.JenkinsForbidden,
               lambda: strategy("admin-script", "other", "otherpw").mint("ci-bot", "n", 60))
        expect(errors.JenkinsForbidden,
               lambda: strategy("legacy", "other", "otherpw").mint("ci-bot", "n", 60))
        expect(errors.JenkinsUnsupported,
               lambda: strategy("legacy", "ci-bot", "botpw").mint("ci-bot", "n", 60))
        expect(errors.JenkinsNotFound,
               lambda: strategy("admin-rest", "admin", "adminpw").revoke("nobody", "u"))
        expect(errors.JenkinsAuthError,
               lambda: client.whoami("ci-bot", "11" + "0" * 32))
        fj.script_fault = "failed for adminpw"
        fj.script_console.start()      # its JVM's cold start takes longer than this client waits
        expect(errors.JenkinsScriptError,
               lambda: strategy("admin-script", "admin", "adminpw").mint("ci-bot", "n", 60))
        fj.script_fault = None
        for fault, error_class in (("error500", errors.JenkinsServerError),
                                   ("hang", errors.JenkinsTimeout),
                                   ("refuse", errors.JenkinsConnectionError)):
            fj.set_fault(fault)
            try:
                expect(error_class,
                       lambda: strategy("user-token", "ci-bot", bootstrap).mint("ci-bot", "n", 60))
                expect(error_class,
                       lambda: strategy("user-password", "ci-bot", "botpw").revoke("ci-bot", "u"))
            finally:
                fj.set_fault(None)
    assert len(caught) == 14
    for error in caught:
        for text in (str(error), repr(error)):
            for secret in secrets:
                assert secret not in text, (type(error).__name__, text)
        assert error.__cause__ is None
