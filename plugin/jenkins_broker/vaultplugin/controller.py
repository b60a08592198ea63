"""The small services OpenBao calls to manage the plugin process.

- ``plugin.GRPCController/Shutdown`` (go-plugin): stop. Without it every reload
  or unmount waits 2 s and then kills the process. The reply is sent first; the
  server stops right after.
- ``pluginutil.multiplexing.PluginMultiplexing/MultiplexingSupport``: no, one
  process serves one mount (OpenBao starts one per mount).
- ``logical.PluginVersion/Version``: an empty version, as plugins that do not
  report one answer, so the catalog entry needs no ``-version``.
- Any other method gets a proper gRPC "unimplemented" answer
  (:func:`unimplemented_fallback`): grpclib's own omits the content type, which
  Go's gRPC then reports as an unknown error instead of "unimplemented".
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpclib.const
from grpclib.const import Status

from .proto import (
    go_plugin_grpc,
    go_plugin_pb2,
    plugin_info_grpc,
    plugin_info_pb2,
    plugin_version_grpc,
    plugin_version_pb2,
)


class Controller(go_plugin_grpc.GRPCControllerBase):
    """``Shutdown`` sets ``stopping`` once the reply is on its way."""

    def __init__(self, stopping: asyncio.Event):
        self.stopping = stopping

    async def Shutdown(self, stream) -> None:
        await stream.recv_message()
        await stream.send_message(go_plugin_pb2.Empty())
        asyncio.get_running_loop().call_soon(self.stopping.set)


class Multiplexing(plugin_info_grpc.PluginMultiplexingBase):
    """Not multiplexed."""

    async def MultiplexingSupport(self, stream) -> None:
        await stream.recv_message()
        await stream.send_message(plugin_info_pb2.MultiplexingSupportResponse(supported=False))


class Version(plugin_version_grpc.PluginVersionBase):
    """No reported version."""

    async def Version(self, stream) -> None:
        await stream.recv_message()
        await stream.send_message(plugin_version_pb2.VersionReply(plugin_version=""))


async def _unimplemented(stream) -> None:
    await stream.send_trailing_metadata(status=Status.UNIMPLEMENTED,
                                        status_message="method not implemented by this plugin")


class _FallbackMapping(dict):
    def get(self, key: Any, default: Any = None) -> Any:
        found = super().get(key, default)
        if found is None and isinstance(key, str):
            return grpclib.const.Handler(_unimplemented, grpclib.const.Cardinality.UNARY_UNARY,
                                         go_plugin_pb2.Empty, go_plugin_pb2.Empty)
        return found


def unimplemented_fallback(server) -> None:
    """Make ``server`` (a grpclib Server, before ``start``) answer unknown methods properly."""
    server._mapping = _FallbackMapping(server._mapping)  # noqa: SLF001 - grpclib has no hook for this
