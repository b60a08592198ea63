"""The HTTP layer under the fake Jenkins: werkzeug's threaded server, with keep-alive.

Jenkins' Jetty keeps HTTP/1.1 connections open and sends small answers without
delay; werkzeug's development server closes every connection. :class:`Handler`
restores keep-alive safely and :class:`ThreadServer` lets the owner track every
connection and request thread (see :mod:`.server`).
"""

from __future__ import annotations

import io
import logging
import socket
import threading

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

log = logging.getLogger(__name__)

_MAX_BODY = 10_000_000


class Handler(WSGIRequestHandler):
    """werkzeug's handler, quiet and with HTTP/1.1 keep-alive as Jetty does.

    werkzeug closes every connection because, after a response, it drains whatever
    the socket holds, which on a kept-alive connection may be the next request. So
    the body (Content-Length only) is read up front into a buffer the drain can
    exhaust harmlessly; anything else (chunked bodies, HTTP/1.0, ``Connection:
    close``) still closes the connection after the answer.
    """

    timeout = 30            # idle keep-alive connections end, like Jetty's idle timeout
    _keep_alive = False

    def setup(self):
        super().setup()
        # Headers and body leave in separate writes; without TCP_NODELAY (Jetty's default)
        # Nagle and delayed ACKs add ~40 ms to every answer on a kept-alive connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def run_wsgi(self):
        socket_file = self.rfile
        body = self._buffered_body() if not self.close_connection else None
        self._keep_alive = body is not None
        if body is not None:
            self.rfile = io.BytesIO(body)
        try:
            super().run_wsgi()
        finally:
            self.rfile = socket_file
            if not self._keep_alive:
                self.close_connection = True

    def _buffered_body(self) -> bytes | None:
        if self.request_version != "HTTP/1.1" or "Transfer-Encoding" in self.headers:
            return None
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            size = int(length)
        except ValueError:
            return None
        if not 0 <= size <= _MAX_BODY:
            return None
        # http.server's parse_request answered "Expect: 100-continue" already; drop the
        # header so that werkzeug does not say "100 Continue" a second time.
        del self.headers["Expect"]
        data = self.rfile.read(size)
        return data if len(data) == size else None

    def send_header(self, keyword, value):
        if self._keep_alive and keyword.lower() == "connection" and value.lower() == "close":
            return
        super().send_header(keyword, value)

    # Request lines can carry query strings (addFixedToken's value, for one): log nothing.
    def log(self, type, message, *args):
        pass


class ThreadServer(ThreadedWSGIServer):
    """werkzeug's ThreadedWSGIServer reporting each connection and its thread to
    ``owner`` (``_track``/``_untrack``), so that they can be dropped and joined."""

    def __init__(self, host, port, app, owner):
        self._owner = owner
        super().__init__(host, port, app, handler=Handler)

    def process_request(self, request, client_address):
        thread = threading.Thread(target=self.process_request_thread,
                                  args=(request, client_address),
                                  name="fake-jenkins-request", daemon=True)
        self._owner._track(request, thread)
        thread.start()

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._owner._untrack(request)

    def log(self, type, message, *args):
        log.debug("fake Jenkins server %s: %s", type, message.split("\n", 1)[0])
