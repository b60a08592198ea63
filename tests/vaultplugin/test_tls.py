"""The AutoMTLS identity: a valid self-signed certificate, and mutual TLS with a host whose
certificate is P-521 ECDSA, as go-plugin makes them (which grpcio's TLS cannot handle)."""

from __future__ import annotations

import base64
import datetime as dt
import socket
import ssl
import threading

import pytest

from jenkins_broker.vaultplugin.tlscert import client_context, generate_identity, server_context

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402


def go_plugin_like_identity():
    """A P-521 self-signed CA for localhost, as go-plugin's generateCert makes: (cert PEM, key PEM)."""
    key = ec.generate_private_key(ec.SECP521R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "HashiCorp")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(seconds=30))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, True, False, True, True, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(key, hashes.SHA512()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def test_certificate_fields():
    identity = generate_identity()
    cert = x509.load_der_x509_certificate(identity.der)
    assert cert.subject == cert.issuer
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign is True
    cert.public_key().verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    assert cert.not_valid_before_utc < dt.datetime.now(dt.timezone.utc) < cert.not_valid_after_utc
    padded = identity.handshake_cert + "=" * (-len(identity.handshake_cert) % 4)
    assert base64.b64decode(padded) == identity.der and "=" not in identity.handshake_cert


def test_each_identity_is_new():
    assert generate_identity().der != generate_identity().der


def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext):
    left, right = socket.socketpair()
    result = {}

    def serve():
        try:
            with server_ctx.wrap_socket(left, server_side=True) as tls:
                result["peer"] = tls.getpeercert(binary_form=True)
                result["alpn"] = tls.selected_alpn_protocol()
                tls.sendall(b"ok")
        except ssl.SSLError as exc:
            result["error"] = exc

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client_ctx.wrap_socket(right, server_hostname="localhost") as tls:
            assert tls.recv(2) == b"ok"
    finally:
        thread.join(10)
    return result


def test_mutual_tls_with_a_p521_host(tmp_path):
    host_cert, host_key = go_plugin_like_identity()
    plugin = generate_identity()
    # The host dialling the plugin's server.
    (tmp_path / "host.pem").write_text(host_key + host_cert)
    host_client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    host_client.load_cert_chain(tmp_path / "host.pem")
    host_client.load_verify_locations(cadata=plugin.cert_pem)
    host_client.set_alpn_protocols(["h2"])
    seen = _handshake(server_context(plugin, host_cert), host_client)
    assert seen["alpn"] == "h2" and seen["peer"] == ssl.PEM_cert_to_DER_cert(host_cert)
    # The plugin dialling back to the host's brokered server.
    host_server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    host_server.load_cert_chain(tmp_path / "host.pem")
    host_server.verify_mode = ssl.CERT_REQUIRED
    host_server.load_verify_locations(cadata=plugin.cert_pem)
    host_server.set_alpn_protocols(["h2"])
    seen = _handshake(host_server, client_context(plugin, host_cert))
    assert seen["peer"] == plugin.der


def test_a_stranger_is_refused():
    plugin, stranger = generate_identity(), generate_identity()
    host_cert, _ = go_plugin_like_identity()
    with pytest.raises(ssl.SSLError):
        _handshake(server_context(plugin, host_cert), client_context(stranger, plugin.cert_pem))
