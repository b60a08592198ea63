"""The production HTTP server: cheroot (CherryPy's threaded WSGI server), with optional TLS."""

from __future__ import annotations

import io
import json
import logging
import re
import socket
import threading
import time

from cheroot import wsgi
from cheroot.errors import MaxSizeExceeded
from cheroot.server import ChunkedRFile, HeaderReader, HTTPConnection, HTTPRequest, KnownLengthRFile
from cheroot.ssl.builtin import BuiltinSSLAdapter

log = logging.getLogger(__name__)

MAX_HEADERS = 64 * 1024         # a Vault token is well under 1 kB
MAX_BODY = 1024 * 1024          # the app's MAX_CONTENT_LENGTH; a larger body is refused here
DRAIN_LIMIT = 16 * 1024 * 1024  # a refused body up to this size is read, so its sender sees the 413
# The defaults of the settings JENKINS_BROKER_REQUEST_DEADLINE, _IDLE_TIMEOUT, _SPARE_THREADS:
REQUEST_DEADLINE = 10.0         # seconds a worker waits for a whole request (line, headers, body)
IDLE_TIMEOUT = 10               # seconds before a kept-alive connection between requests is closed
SPARE_THREADS = 100             # threads beyond ``threads`` for clients still sending a request
_TOO_LARGE = "request body too large (the limit is 1 MB)"


def _shutdown(conn, how: int) -> None:
    # socket.socket's own shutdown, not SSLSocket's: that one drops the TLS state, and a
    # worker in the middle of a TLS read would go on reading the raw socket.
    try:
        socket.socket.shutdown(conn.socket, how)
    except OSError:
        pass


class _Deadlines:
    """One thread that cuts the connections whose request (line, headers and body) is not
    in by its deadline. cheroot's own timeout applies per read, and a byte every few
    seconds renews it; here the read side of the socket is shut down, so the worker's
    blocked read ends at once and it answers 408 (:meth:`_Request.simple_response`).
    A worker still reading :data:`_GRACE` seconds later has the whole socket shut down.

    Only the receiving of a request is armed: the deadline never runs while the app works
    or an answer is written, and shutting the read side down leaves writing possible."""

    _GRACE = 1.0

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._lock = threading.Lock()
        self._armed: dict[object, float] = {}
        self._cut: set[object] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="http-deadlines", daemon=True)
        self._thread.start()

    def arm(self, conn) -> None:
        """Start the clock of a request on ``conn`` (a worker has taken it up)."""
        with self._lock:
            self._armed[conn] = time.monotonic() + self.seconds
            self._cut.discard(conn)

    def disarm(self, conn) -> None:
        with self._lock:
            self._armed.pop(conn, None)
            self._cut.discard(conn)

    def was_cut(self, conn) -> bool:
        """True when the request on ``conn`` ran out of time (until :meth:`disarm`)."""
        with self._lock:
            return conn in self._cut

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            now = time.monotonic()
            with self._lock:
                for conn, deadline in list(self._armed.items()):
                    if deadline > now:
                        continue
                    if conn in self._cut:       # the worker did not let go: both ways
                        del self._armed[conn]
                        _shutdown(conn, socket.SHUT_RDWR)
                        continue
                    self._cut.add(conn)
                    self._armed[conn] = now + self._GRACE
                    _shutdown(conn, socket.SHUT_RD)
                    log.debug("request from %s not received within %ss: cut",
                              getattr(conn, "remote_addr", "?"), self.seconds)

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
        # The deadline covers the request line, the headers and the body (:meth:`respond`).
        deadlines = getattr(self.server, "deadlines", None)
        if deadlines is None:
            return super().parse_request()
        deadlines.arm(self.conn)
        try:
            return super().parse_request()
        finally:
            if not self.ready:          # refused or cut: no body follows
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
            if self.response_protocol != "HTTP/1.1":
                # cheroot ignores the header in HTTP/1.0 and would take the body for a next
                # request on a kept-alive connection; RFC 9112 section 6.1: faulty framing.
                self.simple_response("400 Bad Request", "Transfer-Encoding is not HTTP/1.0")
                return False
        return True

    def respond(self):
        """cheroot's ``respond``, with the body received whole before the app runs.

        The body is read here, under the request's deadline, and the app reads it from
        memory: so a client trickling a body holds a worker no longer than the deadline,
        and the deadline never runs while the app works (it may read the body late, after
        calls to Vault) or while the answer is written. Nothing is left unread on the
        connection, so no remainder of a body can be taken for a next request."""
        deadlines = getattr(self.server, "deadlines", None)
        try:
            body = self._receive_body()
        finally:
            if deadlines is not None:
                deadlines.disarm(self.conn)
        if body is None:                # refused or cut, and answered if it could be
            self.close_connection = True
            return
        self.rfile = KnownLengthRFile(io.BytesIO(body), len(body))
        self.server.gateway(self).respond()
        if self.ready:
            self.ensure_headers_sent()
        if self.chunked_write:
            self.conn.wfile.write(b"0\r\n\r\n")

    def _receive_body(self) -> bytes | None:
        """The whole body (b"" if none), or None once answered with an error."""
        if self.chunked_read:
            return self._receive_chunked()
        length = int(self.inheaders.get(b"Content-Length") or 0)   # digits: read_request_headers
        if length > MAX_BODY:
            # Read (and drop) a refused body of a sane size, so the sender reads the 413
            # rather than a reset; the deadline bounds that too.
            left = length if length <= DRAIN_LIMIT else 0
            while left > 0:
                chunk = self.conn.rfile.read(min(left, 64 * 1024))
                if not chunk:
                    break
                left -= len(chunk)
            self.simple_response("413 Request Entity Too Large", _TOO_LARGE)
            return None
        body = self.conn.rfile.read(length) if length else b""
        if len(body) < length:
            self.simple_response("400 Bad Request", "the request body ended before its Content-Length")
            return None
        return body

    def _receive_chunked(self) -> bytes | None:
        # The limit counts the chunk-size lines too; it also keeps one chunk from asking
        # for more memory than a whole body may take.
        stream = ChunkedRFile(self.conn.rfile, 2 * MAX_BODY)
        try:
            body = stream.read()
            # Trailers, up to the blank line that ends them (a generator; the stub says None).
            for _ in stream.read_trailer_lines():  # type: ignore[func-returns-value,attr-defined]
                pass
        except ValueError as exc:       # a bad size line or CRLF, or the end of the stream
            self.simple_response("400 Bad Request", f"malformed chunked body: {exc}")
            return None
        except (MaxSizeExceeded, OSError) as exc:
            if isinstance(exc, OSError) and exc.args != ("Request Entity Too Large",):
                raise                   # a socket error: cheroot's communicate handles it
            self.simple_response("413 Request Entity Too Large", _TOO_LARGE)
            return None
        if len(body) > MAX_BODY:
            self.simple_response("413 Request Entity Too Large", _TOO_LARGE)
            return None
        return body

    def simple_response(self, status, msg=""):
        status = str(status)
        deadlines = getattr(self.server, "deadlines", None)
        if deadlines is not None and deadlines.was_cut(self.conn):
            # Whatever the reader made of a request cut short, it was not sent in time.
            status = "408 Request Timeout"
            msg = f"the request was not received within {deadlines.seconds:g} s"
        elif status.startswith("501"):  # an unknown Transfer-Encoding is the caller's mistake
            status, msg = "400 Bad Request", msg or "unsupported Transfer-Encoding"
        elif status.startswith("413") and not self.ready:   # cheroot's, on the headers
            msg = "request headers too large (the limit is 64 kB)"
        body = json.dumps({"errors": [str(msg) or status[4:]]}).encode()
        head = [f"{self.server.protocol} {status}", "Content-Type: application/json",
                f"Content-Length: {len(body)}"]
        if status[:3] in ("400", "408", "413", "414", "431"):
            self.close_connection = True
            head.append("Connection: close")
        try:
            self.conn.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        except OSError as exc:
            cut = deadlines is not None and deadlines.was_cut(self.conn)   # e.g. TLS after EOF
            if not cut and not isinstance(exc, (socket.timeout, ConnectionError, BrokenPipeError)):
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
            # Under the request deadline (Python bounds the whole handshake by the socket
            # timeout, the idle timeout, too).
            deadlines = getattr(self.server, "deadlines", None)
            if deadlines is not None:
                deadlines.arm(self)
            try:
                self.socket.do_handshake()
            except OSError as exc:           # ssl.SSLError, a timeout, a reset, a cut
                log.debug("TLS handshake with %s failed: %s", self.remote_addr, exc)
                return False                 # the worker closes the connection
            finally:
                if deadlines is not None:
                    deadlines.disarm(self)
            self._handshaken = True
            self.ssl_env = self.server.ssl_adapter.get_environ(self.socket)
        return super().communicate()


class HTTPServer:
    """Serves a WSGI app on ``host:port`` (0 = a free port) in a background thread.

    Slow and idle clients. cheroot hands a new connection to a worker thread as soon as it
    accepts it, and a kept-alive one when the first byte of its next request arrives; a
    kept-alive connection between requests waits in cheroot's selector, not in a thread,
    and is closed after ``idle_timeout`` seconds (also the timeout of each read and write).
    From then the worker holds the connection while the TLS handshake, request line,
    headers and body come in: the whole request must arrive within ``request_deadline``
    seconds (:class:`_Deadlines`; the body is read before the app runs,
    :meth:`_Request.respond`), or it is answered 408 and closed; so is a new connection
    that sends nothing. ``spare_threads`` threads beyond ``threads`` are there so that up
    to about that many slow or silent clients leave the rest free. cheroot keeps
    connections alive only while fewer than 10 wait in its selector
    (``keep_alive_conn_limit``); past that each answer closes its connection. Figures:
    ``python -m benchmarks.slowclients``.

    Why cheroot still, not gunicorn with gthread workers: gthread also hands a connection
    to a thread once it is readable and parses the request there with a per-read timeout
    only, so slow header senders hold its threads the same way; its ``timeout`` is a worker
    heartbeat, not a request deadline. Changing server would bring the same work here plus
    a process model that the tests, ``demo`` and TLS setup (which run this server on a
    thread) do not have. Behind a reverse proxy (README), the proxy buffers whole requests.
    """

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, *, threads: int = 16,
                 tls_cert: str = "", tls_key: str = "", request_deadline: float = REQUEST_DEADLINE,
                 idle_timeout: int = IDLE_TIMEOUT, spare_threads: int = SPARE_THREADS):
        self._server = wsgi.Server((host, port), app, numthreads=threads + spare_threads,
                                   server_name="jenkins-broker", shutdown_timeout=5,
                                   timeout=idle_timeout)
        self.request_deadline = request_deadline
        self._deadlines: _Deadlines | None = None
        # Bodies over MAX_BODY are refused by _Request (413 in Vault's shape) before the app.
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
        self._deadlines = _Deadlines(self.request_deadline)
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
