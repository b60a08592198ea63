"""TLS defaults, without servers: every client verifies unless told not to, and the
Jenkins CA bundle (PEM text stored in Vault) reaches requests as a file."""

from __future__ import annotations

import atexit
import inspect
import ssl
import tempfile
from dataclasses import replace

import pytest
import trustme

from jenkins_broker.domain.jenkins_config import JenkinsConfig, StoredCredential, build_config
from jenkins_broker.errors import ConfigError
from jenkins_broker.jenkins import JenkinsClient
from jenkins_broker.jenkins import client as client_module
from jenkins_broker.jenkins.gateway import JenkinsGateway
from jenkins_broker.server.httpd import HTTPServer
from jenkins_broker.server.settings import BrokerSettings
from jenkins_broker.vault.login import admin_client, new_client
from jenkins_broker.vault.settings import VaultSettings


@pytest.fixture(scope="module")
def ca_pem() -> str:
    return trustme.CA().cert_pem.bytes().decode("ascii")


# -- Vault ---------------------------------------------------------------------------------

def test_vault_settings_verify_by_default():
    settings = VaultSettings(addr="https://vault.example:8200", token="t")
    assert settings.skip_verify is False and settings.verify is True
    assert VaultSettings.from_env({"VAULT_ADDR": "https://v:8200", "VAULT_TOKEN": "t"}).verify is True


def test_vault_ca_settings_use_the_vault_cli_names(tmp_path):
    ca_file, ca_dir = tmp_path / "ca.pem", tmp_path / "certs"
    ca_file.write_text("x")
    ca_dir.mkdir()
    base = {"VAULT_ADDR": "https://v:8200", "VAULT_TOKEN": "t"}
    assert VaultSettings.from_env({**base, "VAULT_CACERT": str(ca_file)}).verify == str(ca_file)
    assert VaultSettings.from_env({**base, "VAULT_CAPATH": str(ca_dir)}).verify == str(ca_dir)
    both = {**base, "VAULT_CACERT": str(ca_file), "VAULT_CAPATH": str(ca_dir)}
    assert VaultSettings.from_env(both).verify == str(ca_file)     # as the Vault CLI
    assert VaultSettings.from_env({**both, "VAULT_SKIP_VERIFY": "true"}).verify is False
    with pytest.raises(ConfigError, match="VAULT_SKIP_VERIFY"):
        VaultSettings.from_env({**base, "VAULT_SKIP_VERIFY": "yes please"})


def test_the_vault_client_gets_the_ca(tmp_path):
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(trustme.CA().cert_pem.bytes())
    client = new_client(VaultSettings(addr="https://v:8200", token="t", ca_cert=str(ca_file)))
    try:
        kw = client.session.pool_manager.connection_pool_kw
        assert kw["ca_certs"] == str(ca_file) and kw["cert_reqs"] == ssl.CERT_REQUIRED
    finally:
        client.close()


def test_the_admin_client_gets_the_ca(tmp_path):
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("x")
    client = admin_client(VaultSettings(addr="https://v:8200", token="t", ca_cert=str(ca_file)),
                          "t")
    try:
        assert client.adapter.session.verify == str(ca_file)
        assert client.adapter._kwargs["verify"] == str(ca_file)   # sent with every request
    finally:
        client.adapter.close()


def test_a_vault_ca_that_is_not_pem_is_named_at_start(tmp_path):
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("x")
    with pytest.raises(ConfigError, match="VAULT_CACERT"):
        new_client(VaultSettings(addr="https://v:8200", token="t", ca_cert=str(ca_file)))


# -- Jenkins -------------------------------------------------------------------------------

def test_jenkins_client_and_connection_verify_by_default():
    assert inspect.signature(JenkinsClient).parameters["verify"].default is True
    with JenkinsClient("https://jenkins.example/") as client:
        assert client.verify is True
    assert JenkinsConfig(url="https://jenkins.example/").verify_tls is True
    assert build_config({"url": "https://jenkins.example"}).verify_tls is True


class _Store:
    def __init__(self, config):
        self.config = config

    def get_jenkins_config(self):
        return self.config

    def get_credential(self, name):
        return StoredCredential(name, "ci-bot", "token", "secret")

    def forget_jenkins_config(self):
        pass  # nothing is cached here

    def forget_credential(self, name):
        pass

    def bind_credential_origin(self, name, origin):
        return replace(self.get_credential(name), origin=origin)


@pytest.fixture
def built(monkeypatch):
    """The keyword arguments of every JenkinsClient the gateway builds."""
    seen: list[dict] = []

    class Recording(JenkinsClient):
        def __init__(self, url, **options):
            seen.append(options)
            super().__init__(url, **options)

    monkeypatch.setattr(client_module, "JenkinsClient", Recording)
    return seen


@pytest.fixture
def no_temporary_files(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a CA bundle must not go through a temporary file")
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", refuse)
    monkeypatch.setattr(atexit, "register", refuse)


def test_gateway_hands_the_ca_bundle_over_in_memory(built, ca_pem, no_temporary_files):
    store = _Store(JenkinsConfig(url="https://jenkins.example/", ca_bundle=ca_pem))
    gateway = JenkinsGateway(store)
    try:
        assert gateway.jenkins_url == "https://jenkins.example/"   # builds the client
        assert built[-1]["ca_pem"] == ca_pem and built[-1]["verify"] is True
        # A new bundle written through the API replaces the old one after reset().
        other = trustme.CA().cert_pem.bytes().decode("ascii")
        store.config = JenkinsConfig(url="https://jenkins.example/", ca_bundle=other)
        gateway.reset()
        gateway.jenkins_url  # noqa: B018  (builds the client)
        assert built[-1]["ca_pem"] == other
    finally:
        gateway.close()


def test_broker_and_engine_connect_to_jenkins_the_same_way(built, ca_pem, no_temporary_files):
    from jenkins_broker.vaultplugin.backend import JenkinsBackend

    config = JenkinsConfig(url="https://jenkins.example/", kind="cloudbees-operations-center",
                           timeout=3.5, ca_bundle=ca_pem, verify_after_mint=False)
    gateway = JenkinsGateway(_Store(config))
    gateway.jenkins_url  # noqa: B018  (builds the client)
    gateway.close()
    engine = JenkinsBackend()
    for _ in range(3):  # a config check per write: no file, no exit hook, each time
        engine.make_client(config).close()
    assert len(built) == 4 and all(options == built[0] for options in built)


@pytest.mark.parametrize("verify_tls, bundle, expected", [
    (True, False, True),       # the system trust store
    (False, False, False),
    (False, True, False),      # verify_tls=false wins over a stored bundle
])
def test_gateway_verify_without_a_bundle(built, ca_pem, verify_tls, bundle, expected):
    config = JenkinsConfig(url="https://jenkins.example/", verify_tls=verify_tls,
                           ca_bundle=ca_pem if bundle else "")
    gateway = JenkinsGateway(_Store(config))
    try:
        gateway.jenkins_url  # noqa: B018  (builds the client)
        assert built[-1]["verify"] is expected and "ca_pem" not in built[-1]
    finally:
        gateway.close()


def test_jenkins_ca_bundle_must_be_pem():
    from jenkins_broker.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match="ca_bundle"):
        build_config({"url": "https://jenkins.example/", "ca_bundle": "not a certificate"})
    assert build_config({"url": "https://j/", "verify_tls": "false"}).verify_tls is False


# -- the broker's own server ---------------------------------------------------------------

def test_the_broker_serves_plain_http_unless_given_a_certificate():
    assert BrokerSettings().tls_cert == "" and BrokerSettings().tls_key == ""
    assert HTTPServer(lambda env, start: [], port=0).scheme == "http"


def test_tls_settings_come_in_pairs_of_existing_files(tmp_path):
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    with pytest.raises(ConfigError, match="JENKINS_BROKER_TLS_KEY"):
        BrokerSettings.from_env({"JENKINS_BROKER_TLS_CERT": str(cert)})
    with pytest.raises(ConfigError, match="no such file"):
        BrokerSettings.from_env({"JENKINS_BROKER_TLS_CERT": str(cert),
                                 "JENKINS_BROKER_TLS_KEY": str(tmp_path / "missing.key")})
