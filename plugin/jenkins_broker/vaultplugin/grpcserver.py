"""The plugin process: TLS gRPC server on a unix socket, handshake line, shutdown.

:func:`serve` is the start-up sequence, top to bottom: make the AutoMTLS
identity, build the services, listen (grpclib over Python's ``ssl``, requiring
OpenBao's certificate), print the handshake line, then wait until OpenBao says
``Shutdown``, sends SIGTERM, or goes away (the parent process changes), and
stop. SIGINT is ignored, as go-plugin plugins do: a Ctrl-C at OpenBao's
terminal reaches the whole process group, and OpenBao stops its plugins itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from typing import TextIO

from grpclib.server import Server

from .backend import JenkinsBackend
from .controller import Controller, Multiplexing, Version, unimplemented_fallback
from .grpc_broker import Broker
from .grpcbackend import BackendService
from .handshake import PluginEnvironment, handshake_line, socket_path
from .stdio import Stdio
from .tlscert import client_context, generate_identity, server_context

log = logging.getLogger(__name__)
#: How often to check that OpenBao (the parent process) is still there.
PARENT_CHECK = 2.0


async def serve(env: PluginEnvironment, *, out: TextIO | None = None,
                engine: JenkinsBackend | None = None) -> int:
    """Run the plugin until told to stop; returns the exit status."""
    started = time.monotonic()
    identity = generate_identity()
    server_ssl = server_context(identity, env.client_cert_pem)
    client_ssl = client_context(identity, env.client_cert_pem)

    stopping = asyncio.Event()
    broker = Broker(client_ssl)
    backend = BackendService(engine or JenkinsBackend(), broker)
    server = Server([broker, Controller(stopping), Stdio(stopping), Multiplexing(), Version(), backend])
    unimplemented_fallback(server)
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, stopping.set)
        loop.add_signal_handler(signal.SIGINT, lambda: None)
    path = socket_path(env.socket_dir)
    await server.start(path=path, ssl=server_ssl)
    try:
        os.chmod(path, 0o600)
        line = handshake_line(path, identity.handshake_cert, multiplex_line=env.multiplex_line)
        stream = out or sys.stdout
        stream.write(line + "\n")
        stream.flush()
        log.info("jenkins-broker plugin listening on %s (ready in %.0f ms, host %s)", path,
                 (time.monotonic() - started) * 1000, env.host_version or "unknown")

        watchdog = asyncio.create_task(_watch_parent(stopping))
        await stopping.wait()
        watchdog.cancel()
        log.info("jenkins-broker plugin stopping")
    finally:
        server.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2.0)
        backend.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        with contextlib.suppress(Exception):
            backend.engine.cleanup()
    return 0


async def _watch_parent(stopping: asyncio.Event) -> None:
    parent = os.getppid()
    while not stopping.is_set():
        await asyncio.sleep(PARENT_CHECK)
        if os.getppid() != parent:
            log.warning("OpenBao (pid %d) is gone; stopping", parent)
            stopping.set()
