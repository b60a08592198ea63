"""The production HTTP server: cheroot (CherryPy's threaded WSGI server), with optional TLS."""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time

from cheroot import wsgi
from cheroot.server import HeaderReader, HTTPConnection, HTTPRequest
from cheroot.ssl.builtin import BuiltinSSLAdapter

log = logging.getLogger(__name__)

MAX_HEADERS = 64 * 1024         # a Vault token is well under 1 kB
REQUEST_DEADLINE = 10.0         # seconds from a request's first byte to the end of its headers
IDLE_TIMEOUT = 10.0             # a connection with no request in progress is closed after this
READERS = 100                   # threads beyond ``threads`` for clients still sending a request


class _Deadlines:
    """One thread that cuts the connections whose request line and headers are not in by
    their deadline: the socket is shut down, so the worker's blocked read ends at once
    (cheroot's own timeout applies per read, and a line every few seconds renews it)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._armed: dict[object, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="http-deadlines", daemon=True)
        self._thread.start()

    def arm(self, conn, seconds: float) -> None:
        with self._lock:
            self._armed[conn] = time.monotonic() + seconds

    def disarm(self, conn) -> None:
        with self._lock:
            self._armed.pop(conn, None)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            now = time.monotonic()
            with self._lock:
                late = [conn for conn, deadline in self._armed.items() if deadline <= now]
                for conn in late:
                    del self._armed[conn]
                    try:
                        conn.socket.shutdown(socket.SHUT_RDWR)  # type: ignore[attr-defined]
                    except OSError:
                        pass
                    log.debug("request from %s not received within %ss: connection closed",
                              getattr(conn, "remote_addr", "?"), REQUEST_DEADLINE)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
# Headers a request may carry once: two tokens, or two lengths, are ambiguous
# (Vault takes the first token; the HTTP layer here would take the last).
# Two Hosts are refused too (RFC 9112 section 3.2).
_SINGLE = {b"X-Vault-Token", b"Authorization", b"Content-Length", b"Transfer-Encoding", b"Host"}
_DIGITS = re.compile(rb"[0-9]{1,19}")


class _StrictHeaders(HeaderReader):
    """cheroot's header reader, refusing folded lines, repeated sensitive headers, and
    header names with an underscore.

    Underscores are refused (400), not dropped as nginx drops them: WSGI maps
    ``X_Vault_Token`` and ``X-Vault-Token`` to one environ key, so a proxy, WAF or audit
    layer could see one token and the broker use another. Dropping would leave the caller
    with a puzzling "missing token" 403 while the token it meant sits in the request;
    a 400 names the mistake, and no header of Vault's API has an underscore.
    """

    def __call__(self, rfile, hdict=None):
        hdict = {} if hdict is None else hdict
        seen: set[bytes] = set()
        while True:
            line = rfile.readline()
            if not line:
                raise ValueError("Illegal end of headers.")
            if line == b"\r\n":
                return hdict
            if not line.endswith(b"\r\n"):
                raise ValueError("HTTP requires CRLF terminators")
            if line[:1] in (b" ", b"\t"):
                raise ValueError("folded (continuation) header lines are not accepted")
            name, sep, value = line.partition(b":")
            if not sep:
                raise ValueError("Illegal header line.")
            if b"_" in name:
                raise ValueError("header names with an underscore are not accepted")
            # cheroot's own key rule; its stubs leave the private method out.
            key = self._transform_key(name)  # type: ignore[attr-defined]
            if key in _SINGLE and key in seen:
                raise ValueError(f"the {key.decode('latin-1')} header may be sent only once")
            seen.add(key)
            value = value.strip()
            if key in hdict and key not in _SINGLE:
                value = hdict[key] + b", " + value
            hdict[key] = value


class _Request(HTTPRequest):
    """Requests whose every refusal is in Vault's error shape, never cheroot's plain text."""

    header_reader = _StrictHeaders()

    def parse_request(self):
        deadlines = getattr(self.server, "deadlines", None)
        if deadlines is None:
            return super().parse_request()
        deadlines.arm(self.conn, REQUEST_DEADLINE)
        try:
            return super().parse_request()
        finally:
            deadlines.disarm(self.conn)

    def read_request_headers(self):
        if not super().read_request_headers():
            return False
        length = self.inheaders.get(b"Content-Length")
        if length is not None and not _DIGITS.fullmatch(length):
            # int() would take "-1" or "1_0" and the worker would wait for a body that never comes.
            self.simple_response("400 Bad Request", "Malformed Content-Length header.")
            return False
        coding = self.inheaders.get(b"Transfer-Encoding")
        if coding is not None:
            if length is not None:
                # RFC 9112 section 6.1: a request smuggling signature; answer 400 and close.
                self.simple_response("400 Bad Request",
                                     "Content-Length and Transfer-Encoding may not both be sent.")
                return False
            if coding.strip().lower() != b"chunked":   # no lists ("chunked, chunked"), no others
                self.simple_response("400 Bad Request", "the only Transfer-Encoding accepted is chunked")
                return False
        return True

    def respond(self):
        super().respond()
        if self.chunked_read and not self.rfile.closed:
            # The handler did not read the whole chunked body: what is left must not be
            # parsed as a next request on this connection.
            self.close_connection = True

    def simple_response(self, status, msg=""):
        status = str(status)
        if status.startswith("501"):  # an unknown Transfer-Encoding is the caller's mistake
            status, msg = "400 Bad Request", msg or "unsupported Transfer-Encoding"
        elif status.startswith("413"):
            msg = "request headers too large (the limit is 64 kB)"
        body = json.dumps({"errors": [str(msg) or status[4:]]}).encode()
        head = [f"{self.server.protocol} {status}", "Content-Type: application/json",
                f"Content-Length: {len(body)}"]
        if status[:3] in ("400", "413", "414", "431"):
            self.close_connection = True
            head.append("Connection: close")
        try:
            self.conn.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        except OSError as exc:
            if not isinstance(exc, (socket.timeout, ConnectionError, BrokenPipeError)):
                raise


class _Connection(HTTPConnection):
    RequestHandlerClass = _Request


class _DeferredHandshakeAdapter(BuiltinSSLAdapter):
    """cheroot's TLS adapter, with the handshake moved out of the accept loop.

    cheroot shakes hands where it accepts, in the one thread that accepts every
    connection, so a client that connects and sends nothing stalls every new
    client for the socket timeout (10 s). Here an accepted socket is wrapped
    without a handshake; :class:`_TLSConnection` does it in a worker thread.
    """

    def wrap(self, sock):
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), {}


class _TLSConnection(_Connection):
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
    """Serves a WSGI app on ``host:port`` (0 = a free port) in a background thread.

    Slow and idle clients. cheroot keeps a connection with no request in progress in its
    selector, not in a thread, and closes it after ``IDLE_TIMEOUT`` (new connections that
    send nothing, and keep-alive ones between requests). A connection whose first byte has
    arrived holds a worker thread while the request line and headers come in: those must
    all arrive within ``REQUEST_DEADLINE`` (:class:`_Deadlines`), and ``READERS`` threads
    beyond ``threads`` are there so that up to about that many slow senders leave the rest
    free. Figures: ``python -m benchmarks.slowclients``.

    Why cheroot still, not gunicorn with gthread workers: gthread also hands a connection
    to a thread once it is readable and parses the request there with a per-read timeout
    only, so slow header senders hold its threads the same way; its ``timeout`` is a worker
    heartbeat, not a request deadline. Changing server would bring the same work here plus
    a process model that the tests, ``demo`` and TLS setup (which run this server on a
    thread) do not have. Behind a reverse proxy (README), the proxy buffers whole requests.
    """

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, *, threads: int = 16,
                 tls_cert: str = "", tls_key: str = ""):
        self._server = wsgi.Server((host, port), app, numthreads=threads + READERS,
                                   server_name="jenkins-broker", shutdown_timeout=5,
                                   timeout=int(IDLE_TIMEOUT))
        self._deadlines: _Deadlines | None = None
        # Bodies over 1 MB are refused by the app (413 in Vault's shape), which reads none of it.
        self._server.max_request_header_size = MAX_HEADERS
        self._server.ConnectionClass = _Connection
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
        self._deadlines = _Deadlines()
        self._server.deadlines = self._deadlines  # type: ignore[attr-defined]
        self._server.prepare()  # binds; bind_addr then holds the real port
        self._thread = threading.Thread(target=self._server.serve, name="http-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, finish requests in progress, and join the thread."""
        self._server.stop()
        if self._deadlines is not None:
            self._deadlines.stop()
            self._deadlines = None
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
