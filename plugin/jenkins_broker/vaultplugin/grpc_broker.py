"""go-plugin's GRPCBroker, plugin side: learn where OpenBao serves Storage, and dial it.

OpenBao opens ``plugin.GRPCBroker/StartStream`` right after the handshake and
keeps it open. When it mounts the engine it listens on a new unix socket for
the services a plugin calls back (``pb.Storage``, ``pb.SystemView``), sends its
address down the stream as a ``ConnInfo`` with ``service_id`` = the
``broker_id`` of ``Backend/Setup``, and serves it with the same mutual TLS as
the plugin's own server (its certificate, trusting only the plugin's).

The address may arrive before or after Setup, and during OpenBao's type
detection never: so :meth:`Broker.dial` is called on first use and waits (up
to go-plugin's 5 s) for it. This engine never offers services of its own to
OpenBao through the broker, so it sends nothing on the stream.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

from grpclib.client import Channel
from grpclib.config import Configuration

from .proto import go_plugin_grpc
from .tlscert import HOST

#: How long go-plugin waits for a brokered address.
DIAL_TIMEOUT = 5.0
log = logging.getLogger(__name__)


class DialError(Exception):
    """OpenBao never said where the brokered service is, or said it in a way we cannot dial.

    (go-plugin's broker, not :class:`jenkins_broker.errors.BrokerError`, the root of the
    project's own errors: hence a name of its own.)"""


class Broker(go_plugin_grpc.GRPCBrokerBase):
    """Serves ``StartStream`` and dials brokered connections with ``client_ssl``."""

    def __init__(self, client_ssl: ssl.SSLContext):
        self._ssl = client_ssl
        self._known: dict[int, tuple[str, str]] = {}
        self._changed = asyncio.Condition()

    async def StartStream(self, stream) -> None:
        """Record every ``ConnInfo`` OpenBao sends until it closes the stream."""
        async for info in stream:
            if info.HasField("knock") and info.knock.knock:
                continue  # multiplexing handshakes: not offered by this plugin
            async with self._changed:
                self._known[info.service_id] = (info.network, info.address)
                self._changed.notify_all()
            log.debug("broker: service %d is at %s:%s", info.service_id, info.network, info.address)

    def announce(self, service_id: int, network: str, address: str) -> None:
        """Record an address as if OpenBao had sent it (for tests). Call from the loop."""
        self._known[service_id] = (network, address)

    async def dial(self, service_id: int, *, timeout: float = DIAL_TIMEOUT) -> Channel:
        """A gRPC channel to brokered service ``service_id``; waits up to ``timeout`` for its address.

        Raises :class:`DialError` when none arrives in time or the network is unknown.
        """
        try:
            async with self._changed:
                await asyncio.wait_for(self._changed.wait_for(lambda: service_id in self._known), timeout)
        except asyncio.TimeoutError:
            raise DialError(f"OpenBao did not send the address of brokered service {service_id} within "
                            f"{timeout:g}s") from None
        network, address = self._known[service_id]
        config = Configuration(ssl_target_name_override=HOST)
        if network == "unix":
            return Channel(path=address, ssl=self._ssl, config=config)
        if network == "tcp":
            host, _, port = address.rpartition(":")
            return Channel(host.strip("[]"), int(port), ssl=self._ssl, config=config)
        raise DialError(f"brokered service {service_id} is on network {network!r}, which this plugin cannot dial")
