"""TLS: verification against a CA file or PEM text, the hostname checked, a client
certificate, and files that cannot be used named when the session is built."""

from __future__ import annotations

import ssl

import pytest
import trustme
from urllib3.exceptions import InsecureRequestWarning

from jenkins_broker import transport
from jenkins_broker.transport import Session


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


def _server_context(ca, *, client_ca=None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    if client_ca is not None:
        client_ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def test_tls_verified_against_a_ca_file_or_pem_text(serve, ca, tmp_path):
    _, url = serve(_server_context(ca))
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with Session(url, verify=str(bundle)) as session:
        assert session.request("GET", "echo").status == 200
    with Session(url, ca_data=ca.cert_pem.bytes().decode()) as session:
        assert session.request("GET", "echo").status == 200
    with Session(url) as session, pytest.raises(transport.TLSFailure,
                                                match="certificate verify failed"):
        session.request("GET", "echo")
    with Session(url, verify=False) as session, pytest.warns(InsecureRequestWarning):
        assert session.request("GET", "echo").status == 200


def test_tls_hostname_is_checked(serve, ca, tmp_path):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("vault.example").configure_cert(context)
    _, url = serve(context)
    with Session(url, ca_data=ca.cert_pem.bytes().decode()) as session, \
            pytest.raises(transport.TLSFailure):
        session.request("GET", "echo")


def test_tls_client_certificate(serve, ca, tmp_path):
    client_ca = trustme.CA()
    _, url = serve(_server_context(ca, client_ca=client_ca))
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    issued = client_ca.issue_cert("broker@example")
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    pem = ca.cert_pem.bytes().decode()
    with Session(url, ca_data=pem, cert=(str(cert), str(key))) as session:
        assert session.request("GET", "echo").status == 200
    with Session(url, ca_data=pem) as session, \
            pytest.raises((transport.TLSFailure, transport.ConnectionBroken)):
        session.request("GET", "echo")


def test_tls_files_that_cannot_be_used_are_named_when_the_session_is_built(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate")
    with pytest.raises(transport.LocalFailure, match="CA bundle"):
        Session("https://127.0.0.1:1/", verify=str(bundle))
    with pytest.raises(transport.LocalFailure, match="does not exist"):
        Session("https://127.0.0.1:1/", verify="/nonexistent/ca.pem")
    with pytest.raises(transport.LocalFailure, match="client certificate"):
        Session("https://127.0.0.1:1/", cert=str(bundle))
