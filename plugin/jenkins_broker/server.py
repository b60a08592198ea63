"""The production HTTP server: cheroot (CherryPy's threaded WSGI server), with optional TLS."""

from __future__ import annotations

import logging
import threading

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

log = logging.getLogger(__name__)


class HTTPServer:
    """Serves a WSGI app on ``host:port`` (0 = a free port) in a background thread."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, *, threads: int = 16,
                 tls_cert: str = "", tls_key: str = ""):
        self._server = wsgi.Server((host, port), app, numthreads=threads,
                                   server_name="jenkins-broker", shutdown_timeout=5)
        if tls_cert:
            self._server.ssl_adapter = BuiltinSSLAdapter(tls_cert, tls_key)
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
