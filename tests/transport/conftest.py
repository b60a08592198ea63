"""Fixtures of the transport tests: ``serve`` starts echo servers
(:mod:`tests.support.echo_server`), ``session`` is a transport Session with no base URL
of use, and no proxy setting of the developer's shell reaches a test."""

from __future__ import annotations

import contextlib
import ssl

import pytest

from jenkins_broker.transport import Session
from tests.support import serving
from tests.support.echo_server import Handler, Server


@pytest.fixture
def serve():
    """``serve(context=None, host="127.0.0.1")`` starts an echo server (HTTPS with an SSL
    context) and returns it and its URL; all are stopped at teardown."""
    with contextlib.ExitStack() as running:
        def start(context: ssl.SSLContext | None = None,
                  host: str = "127.0.0.1") -> tuple[Server, str]:
            server = Server((host, 0), Handler)
            scheme = "http"
            if context is not None:
                server.socket = context.wrap_socket(server.socket, server_side=True)
                scheme = "https"
            running.enter_context(serving(server))
            running.callback(server.release.set)  # runs first: frees a handler left waiting
            # The URL names the host as asked ("localhost" is another origin than 127.0.0.1).
            return server, f"{scheme}://{host}:{server.server_address[1]}"
        yield start


@pytest.fixture
def session():
    with Session("http://unused.invalid/", pool_size=4, timeout=10) as s:
        yield s


@pytest.fixture(autouse=True)
def no_proxy_from_the_environment(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
                 "http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
