"""The production HTTP server: cheroot (CherryPy's threaded WSGI server), with optional TLS."""

from __future__ import annotations

import logging
import threading

from cheroot import wsgi
from cheroot.server import HTTPConnection
from cheroot.ssl.builtin import BuiltinSSLAdapter

log = logging.getLogger(__name__)


class _DeferredHandshakeAdapter(BuiltinSSLAdapter):
    """cheroot's TLS adapter, with the handshake moved out of the accept loop.

    cheroot shakes hands where it accepts, in the one thread that accepts every
    connection, so a client that connects and sends nothing stalls every new
    client for the socket timeout (10 s). Here an accepted socket is wrapped
    without a handshake; :class:`_TLSConnection` does it in a worker thread.
    """

    def wrap(self, sock):
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), {}


class _TLSConnection(HTTPConnection):
    """A connection that completes the TLS handshake before its first request."""

    _handshaken = False

    def communicate(self):
        if not self._handshaken:
            try:
                self.socket.do_handshake()   # under the server's socket timeout
            except OSError as exc:           # ssl.SSLError, a timeout, a reset
                log.debug("TLS handshake with %s failed: %s", self.remote_addr, exc)
                return False                 # the worker closes the connection
            self._handshaken = True
            self.ssl_env = self.server.ssl_adapter.get_environ(self.socket)
        return super().communicate()


class HTTPServer:
    """Serves a WSGI app on ``host:port`` (0 = a free port) in a background thread."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, *, threads: int = 16,
                 tls_cert: str = "", tls_key: str = ""):
        self._server = wsgi.Server((host, port), app, numthreads=threads,
                                   server_name="jenkins-broker", shutdown_timeout=5)
        if tls_cert:
            # tls_cert may hold the whole chain (leaf first), tls_key may be in it.
            self._server.ssl_adapter = _DeferredHandshakeAdapter(tls_cert, tls_key or None)
            self._server.ConnectionClass = _TLSConnection
        self.scheme = "https" if tls_cert else "http"
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL clients use (``VAULT_ADDR`` for the broker)."""
        host, port = self._server.bind_addr[:2]
        shown = f"[{host}]" if ":" in host else host
        return f"{self.scheme}://{shown}:{port}"

    def start(self) -> "HTTPServer":
        """Bind and start serving; returns once the socket is listening."""
        self._server.prepare()  # binds; bind_addr then holds the real port
        self._thread = threading.Thread(target=self._server.serve, name="http-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, finish requests in progress, and join the thread."""
        self._server.stop()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
