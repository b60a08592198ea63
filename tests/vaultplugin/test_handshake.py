"""The start-up handshake: cookie, protocol versions, AutoMTLS certificate, the stdout line."""

from __future__ import annotations

import pytest

from jenkins_broker.vaultplugin.handshake import (
    MAGIC_COOKIE_KEY,
    MAGIC_COOKIE_VALUE,
    HandshakeRefused,
    check_environment,
    handshake_line,
    parse_handshake_line,
    socket_path,
)

CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def env(**extra):
    return {MAGIC_COOKIE_KEY: MAGIC_COOKIE_VALUE, "PLUGIN_PROTOCOL_VERSIONS": "5", "PLUGIN_CLIENT_CERT": CERT,
            **extra}


def test_a_proper_start_is_accepted(tmp_path):
    found = check_environment(env(PLUGIN_UNIX_SOCKET_DIR=str(tmp_path), BAO_VERSION="2.7.2"))
    assert found.client_cert_pem == CERT and found.socket_dir == str(tmp_path)
    assert found.host_version == "2.7.2" and found.multiplex_line is False
    assert CERT not in repr(found)


@pytest.mark.parametrize("environment, message", [
    ({}, "not meant to be run by hand"),
    ({MAGIC_COOKIE_KEY: "wrong"}, "not meant to be run by hand"),
    # OpenBao's dev mode probes every file as a database plugin first (v5, then v4).
    ({"VAULT_DATABASE_PLUGIN": "926a0820-aea2-be28-51d6-83cdf00e8edb", "PLUGIN_PROTOCOL_VERSIONS": "5"},
     "database plugin"),
    ({MAGIC_COOKIE_KEY: MAGIC_COOKIE_VALUE, "PLUGIN_PROTOCOL_VERSIONS": "4,3", "PLUGIN_CLIENT_CERT": CERT},
     "speaks only version 5"),
    ({MAGIC_COOKIE_KEY: MAGIC_COOKIE_VALUE, "PLUGIN_PROTOCOL_VERSIONS": "5"}, "AutoMTLS"),
])
def test_other_starts_are_refused(environment, message):
    with pytest.raises(HandshakeRefused, match=message):
        check_environment(environment)


def test_several_offered_versions_including_5():
    check_environment(env(PLUGIN_PROTOCOL_VERSIONS="3,4,5"))


def test_handshake_line_round_trip(tmp_path):
    path = socket_path(str(tmp_path))
    assert path.startswith(str(tmp_path)) and not (tmp_path / path).exists()
    line = handshake_line(path, "QUJD")
    assert line == f"1|5|unix|{path}|grpc|QUJD"
    assert parse_handshake_line(line) == {"core": "1", "app": "5", "network": "unix", "address": path,
                                          "protocol": "grpc", "cert": "QUJD"}
    assert handshake_line(path, "QUJD", multiplex_line=True).endswith("|false")
    with pytest.raises(ValueError):
        handshake_line("/tmp/a|b", "QUJD")
    with pytest.raises(ValueError):
        parse_handshake_line("1|5|unix")
