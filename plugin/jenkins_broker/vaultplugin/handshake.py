"""go-plugin's start-up handshake, as OpenBao and Vault run a backend plugin.

The host starts the plugin with a magic cookie in the environment; a process
started any other way (a person at a shell, or OpenBao's dev mode probing
whether the file is a database plugin, which sets ``VAULT_DATABASE_PLUGIN``
instead) must exit 1 at once, before anything slow is imported. Then the
plugin listens on a unix socket and prints one line on stdout::

    1|5|unix|/tmp/plugin123|grpc|<base64 DER of its certificate, no padding>

core protocol 1, app protocol 5 (the backend plugin v5), network, address,
protocol, and the AutoMTLS certificate. OpenBao always uses AutoMTLS for v5,
so ``PLUGIN_CLIENT_CERT`` is required.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Mapping

MAGIC_COOKIE_KEY = "VAULT_BACKEND_PLUGIN"
MAGIC_COOKIE_VALUE = "6669da05-b1c8-4f49-97d9-c8e5bed98e20"
CORE_PROTOCOL = 1
APP_PROTOCOL = 5

NOT_A_PROGRAM = (
    "This is jenkins-broker's secrets-engine plugin for OpenBao and Vault. It is not meant to be "
    "run by hand: register it in the plugin catalog (`bao plugin register -sha256=... "
    "-command=<file> secret jenkins`) and enable it (`bao secrets enable -path=jenkins jenkins`); "
    "OpenBao starts it itself.")


class HandshakeRefused(Exception):
    """The process was not started by OpenBao/Vault as a v5 backend plugin; the message says why."""


@dataclass(frozen=True)
class PluginEnvironment:
    """What the host told the plugin through the environment."""

    client_cert_pem: str = field(repr=False)
    socket_dir: str
    multiplex_line: bool  # the host reads a seventh handshake field (broker multiplexing)
    host_version: str = ""


def check_environment(env: Mapping[str, str]) -> PluginEnvironment:
    """Validate the host's environment; raise :class:`HandshakeRefused` if this is not a v5 start.

    Reads ``VAULT_BACKEND_PLUGIN`` (the cookie), ``PLUGIN_PROTOCOL_VERSIONS``,
    ``PLUGIN_CLIENT_CERT``, ``PLUGIN_UNIX_SOCKET_DIR``, ``PLUGIN_MULTIPLEX_GRPC``
    and ``BAO_VERSION``/``VAULT_VERSION``.
    """
    cookie = env.get(MAGIC_COOKIE_KEY)
    if cookie != MAGIC_COOKIE_VALUE:
        if "VAULT_DATABASE_PLUGIN" in env:
            raise HandshakeRefused("started as a database plugin; this is a secrets-engine (backend) plugin")
        raise HandshakeRefused(NOT_A_PROGRAM)
    offered = [v.strip() for v in env.get("PLUGIN_PROTOCOL_VERSIONS", str(APP_PROTOCOL)).split(",")]
    if str(APP_PROTOCOL) not in offered:
        raise HandshakeRefused(f"the host offers plugin protocol versions {','.join(offered)}; this plugin "
                               f"speaks only version {APP_PROTOCOL} (OpenBao 2.x, Vault 1.12 and later)")
    client_cert = env.get("PLUGIN_CLIENT_CERT", "")
    if "-----BEGIN CERTIFICATE-----" not in client_cert:
        raise HandshakeRefused("PLUGIN_CLIENT_CERT is missing: this plugin needs the host's AutoMTLS, "
                               "which OpenBao and Vault always use for version 5 plugins")
    socket_dir = env.get("PLUGIN_UNIX_SOCKET_DIR") or tempfile.gettempdir()
    return PluginEnvironment(client_cert_pem=client_cert, socket_dir=socket_dir,
                             multiplex_line=bool(env.get("PLUGIN_MULTIPLEX_GRPC")),
                             host_version=env.get("BAO_VERSION") or env.get("VAULT_VERSION") or "")


def socket_path(socket_dir: str) -> str:
    """A fresh, unused unix socket path in ``socket_dir`` (as go-plugin makes them)."""
    handle, path = tempfile.mkstemp(prefix="plugin", dir=socket_dir)
    os.close(handle)
    os.unlink(path)
    return path


def handshake_line(address: str, cert: str, *, multiplex_line: bool = False, network: str = "unix") -> str:
    """The line printed on stdout once the server listens (without the newline).

    ``cert`` is the base64 DER of the plugin's certificate. When the host asks
    about broker multiplexing, the answer is ``false``: every brokered service
    gets its own connection.
    """
    if "|" in address or "\n" in address:
        raise ValueError(f"the listening address {address!r} cannot be put into a handshake line")
    line = f"{CORE_PROTOCOL}|{APP_PROTOCOL}|{network}|{address}|grpc|{cert}"
    return line + "|false" if multiplex_line else line


def parse_handshake_line(line: str) -> dict[str, str]:
    """Split a handshake line into its fields (for tests and diagnostics); raises ``ValueError``."""
    parts = line.strip().split("|")
    if len(parts) < 6:
        raise ValueError(f"a handshake line has at least 6 fields separated by '|', got {len(parts)}")
    keys = ("core", "app", "network", "address", "protocol", "cert", "multiplex")
    return dict(zip(keys, parts))
