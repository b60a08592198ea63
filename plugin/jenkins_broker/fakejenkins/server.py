"""``FakeJenkins``: the fake Jenkins served over HTTP, with restarts and injected faults.

A threaded werkzeug server (:class:`.transport.ThreadServer`, a ``ThreadedWSGIServer``
as ``make_server(..., threaded=True)`` builds, with keep-alive) runs in a daemon
thread. Every request thread and open connection is tracked so that
:meth:`FakeJenkins.stop` leaves nothing running, even with keep-alive clients or
requests held by the ``hang`` fault.

Faults (:meth:`FakeJenkins.set_fault`):

* ``"refuse"``: the listening socket is closed and open connections dropped, so
  connecting is refused until the fault is cleared (the same port is bound again);
* ``"hang"``: requests are accepted and never answered until the fault is cleared
  (then they are answered) or the server stops or restarts (then they are dropped);
* ``"error500"``: every request gets the oops page with status 500;
* ``"reset"``: every request's connection is closed without an answer.

TLS: with ``tls_cert``/``tls_key`` (PEM files) or an ``ssl_context``, the fake
serves HTTPS and :attr:`FakeJenkins.url` starts with ``https://``. The TLS
handshake runs in each connection's own thread, so a client that connects and
stays silent holds only its own connection, never the accept loop.

Section numbers (§) refer to docs/jenkins-behaviour.md.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import ssl
import threading
import time

from werkzeug.wrappers import Request

from .app import JenkinsApp
from .exchange import Exchange
from .state import FakeUser, JenkinsState
from .transport import ThreadServer

log = logging.getLogger(__name__)

FAULTS = (None, "refuse", "hang", "error500", "reset")
_READY_DEADLINE = 10.0
_STOP_DEADLINE = 5.0


def _server_context(cert: str, key: str,
                    context: ssl.SSLContext | None) -> ssl.SSLContext | None:
    if context is not None:
        if cert or key:
            raise ValueError("give either ssl_context or tls_cert/tls_key, not both")
        return context
    if not cert and not key:
        return None
    if not cert:
        raise ValueError("tls_key needs tls_cert (a PEM certificate chain file)")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key or None)   # key may be inside the cert file
    return context


class FakeJenkins:
    """A fake Jenkins on ``host:port`` (0 = a free port); see the package docstring."""

    def __init__(self, users=(), *, version: str = "2.555.1",
                 admin_can_generate_new_tokens: bool = False,
                 creation_of_legacy_token_enabled: bool = False,
                 show_token_to_admins: bool = False,
                 latency: float = 0.0, host: str = "127.0.0.1", port: int = 0,
                 tls_cert: str = "", tls_key: str = "",
                 ssl_context: ssl.SSLContext | None = None):
        self.state = JenkinsState(users, version=version,
                                  admin_can_generate_new_tokens=admin_can_generate_new_tokens,
                                  creation_of_legacy_token_enabled=creation_of_legacy_token_enabled,
                                  show_token_to_admins=show_token_to_admins)
        self.app = JenkinsApp(self.state)
        self.latency = float(latency)
        self.host = host
        self.port = int(port)
        self.ssl_context = _server_context(tls_cert, tls_key, ssl_context)
        self._control = threading.RLock()      # start/stop/restart/set_fault, one at a time
        self._cond = threading.Condition()      # wakes requests held by latency or "hang"
        self._fault: str | None = None
        self._stopping = False
        self._generation = 0                    # bumped when the "process" dies
        self._running = False
        self._server: ThreadServer | None = None
        self._thread: threading.Thread | None = None
        self._conn_lock = threading.Lock()
        self._connections: dict = {}
        self._accepted = 0

    # -- lifetime -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The root URL with a trailing slash, e.g. ``http://127.0.0.1:40123/``
        (``https://`` with TLS)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{host}:{self.port}/"

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> "FakeJenkins":
        """Bind, serve in a daemon thread, and return once the port accepts connections."""
        with self._control:
            if self._running:
                return self
            with self._cond:
                self._stopping = False
            self.app.console.open()
            self._running = True
            try:
                if self._fault != "refuse":
                    self._open_listener()
                    self._wait_ready()
            except BaseException:
                self.stop()
                raise
            return self

    def stop(self) -> None:
        """Stop serving, drop every connection and join every thread started (idempotent)."""
        with self._control:
            if not self._running:
                return
            with self._cond:
                self._stopping = True
                self._cond.notify_all()
            self._close_listener()
            self._drop_connections()
            self.app.console.stop(close=True)   # scripts still running end, their requests too
            self._join_requests()
            self._running = False

    def restart(self) -> None:
        """Simulate a Jenkins restart (§3.6): same port; sessions, cookie name and
        X-Jenkins-Session renewed; users and tokens kept. Blocks until serving again
        (unless the ``refuse`` fault is set, which keeps the port closed)."""
        with self._control:
            if not self._running:
                raise RuntimeError("the fake Jenkins is not running")
            self._kill_process()
            self.state.new_process()
            if self._fault != "refuse":
                self._open_listener()
                self._wait_ready()

    def set_fault(self, fault: str | None) -> None:
        """Inject ``"refuse"``, ``"hang"``, ``"error500"`` or ``"reset"``; ``None`` clears."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; use one of {FAULTS}")
        with self._control:
            with self._cond:
                previous, self._fault = self._fault, fault
                self._cond.notify_all()
            if not self._running or previous == fault:
                return
            if fault == "refuse":
                self._kill_process()
            elif previous == "refuse":
                self._open_listener()
                self._wait_ready()

    @property
    def fault(self) -> str | None:
        return self._fault

    def __enter__(self) -> "FakeJenkins":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- inspection and seeding ---------------------------------------------------------------

    @property
    def version(self) -> str:
        return self.state.features.version

    @property
    def today(self) -> dt.date:
        """The fake's clock for token expiry; settable, defaults to the real today."""
        return self.state.today()

    @today.setter
    def today(self, value: dt.date | None) -> None:
        self.state.today_override = value

    @property
    def script_console(self):
        """The :class:`~.groovyconsole.GroovyConsole` (its JVM starts with the first script;
        ``start()`` starts it now, ``pid`` and ``info`` describe it)."""
        return self.app.console

    @property
    def script_fault(self):
        """Make scripts fail: True/"before", "after", or a message (scriptconsole)."""
        return self.state.script_fault

    @script_fault.setter
    def script_fault(self, value) -> None:
        self.state.script_fault = value

    @property
    def requests_seen(self):
        """A Counter of request paths, faulted requests included."""
        return self.state.requests_seen

    @property
    def request_log(self) -> list[dict]:
        """Handled requests: method, path, status, user and how it authenticated."""
        with self.state.lock:
            return list(self.state.request_log)

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far (start-up probes included); shows keep-alive."""
        with self._conn_lock:
            return self._accepted

    @property
    def cookie_name(self) -> str:
        return self.state.cookie_name

    @property
    def session_hash(self) -> str:
        """The X-Jenkins-Session value of the current "process"."""
        return self.state.session_hash

    def add_user(self, user: FakeUser | str) -> None:
        self.state.add_user(user if isinstance(user, FakeUser) else FakeUser.parse(user))

    def tokens(self, user: str) -> list[dict]:
        """The user's tokens as stored (never values), in creation order."""
        with self.state.lock:
            record = self.state.require_user(user)
            return [{"uuid": t.uuid, "name": t.name, "legacy": t.legacy,
                     "creation_date": t.created, "expiration_date": t.expires,
                     "use_counter": t.use_counter, "last_use_date": t.last_use}
                    for t in record.tokens]

    def token_hashes(self, user: str) -> dict[str, str]:
        """``{uuid: stored SHA-256 hex}``: all Jenkins keeps of each token."""
        with self.state.lock:
            return {t.uuid: t.hash for t in self.state.require_user(user).tokens}

    def add_token(self, user: str, name: str = "x",
                  expiration_date: dt.date | None = None) -> tuple[str, str]:
        """Seed a token as generateNewToken would; returns ``(uuid, value)``."""
        if not self.state.features.new_tokens:
            raise ValueError(f"Jenkins {self.version} has only the legacy token")
        with self.state.lock:
            token, value = self.state.generate_token(self.state.require_user(user), name,
                                                     expiration_date)
            return token.uuid, value

    def legacy_token(self, user: str) -> str | None:
        """The user's legacy token value (recoverable by design, §11), or None."""
        with self.state.lock:
            return self.state.legacy_value(self.state.require_user(user))

    # -- the WSGI entry: faults and latency before Jenkins ------------------------------------

    def _wsgi(self, environ, start_response):
        with self.state.lock:
            self.state.requests_seen[environ.get("PATH_INFO", "")] += 1
        generation = self._generation

        def dead() -> bool:
            return self._stopping or generation != self._generation

        with self._cond:
            if self.latency > 0:
                self._cond.wait_for(dead, timeout=self.latency)
            self._cond.wait_for(lambda: dead() or self._fault != "hang")
            fault, gone = self._fault, dead()
        if gone or fault == "reset":
            return self._abort(environ, start_response)
        if fault == "error500":
            with self.state.lock:
                ex = Exchange(Request(environ), self.state)
                response = ex.finish(ex.oops(500))
            return response(environ, start_response)
        return self.app(environ, start_response)

    @staticmethod
    def _abort(environ, start_response):
        # Close the connection without an answer; werkzeug treats the failed write as
        # a dropped connection.
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        start_response("500 Internal Server Error", [("Content-Length", "0")])
        return [b""]

    # -- plumbing -------------------------------------------------------------------------------

    def _open_listener(self) -> None:
        try:
            server = ThreadServer(self.host, self.port, self._wsgi, self)
        except SystemExit:        # werkzeug exits on bind errors; make it an exception
            raise OSError(f"cannot bind {self.host}:{self.port}") from None
        self.port = server.port
        if self.ssl_context is not None:
            # Accepted connections are wrapped without a handshake; it happens on the
            # first read, in the connection's thread (werkzeug would do it in accept).
            server.socket = self.ssl_context.wrap_socket(server.socket, server_side=True,
                                                         do_handshake_on_connect=False)
            server.ssl_context = self.ssl_context   # wsgi.url_scheme "https"
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                                  name=f"fake-jenkins-{self.port}", daemon=True)
        self._server, self._thread = server, thread
        thread.start()

    def _close_listener(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()          # serve_forever returns and closes the socket
        if thread is not None:         # set and cleared with the server
            thread.join()

    def _kill_process(self) -> None:
        with self._cond:
            self._generation += 1
            self._cond.notify_all()
        self._close_listener()
        self._drop_connections()
        self.app.console.stop()              # a Jenkins restart ends its JVM and the scripts in it
        self._join_requests()

    def _wait_ready(self) -> None:
        host = self.url.split("//", 1)[1].rsplit(":", 1)[0].strip("[]")
        deadline = time.monotonic() + _READY_DEADLINE
        while True:
            try:
                with socket.create_connection((host, self.port), timeout=1.0):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"fake Jenkins did not start on {self.url}") from None
                time.sleep(0.005)      # poll interval, bounded by the deadline

    def _track(self, sock, thread) -> None:
        with self._conn_lock:
            self._connections[sock] = thread
            self._accepted += 1

    def _untrack(self, sock) -> None:
        with self._conn_lock:
            self._connections.pop(sock, None)

    def _drop_connections(self) -> None:
        with self._conn_lock:
            sockets = list(self._connections)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _join_requests(self) -> None:
        deadline = time.monotonic() + _STOP_DEADLINE
        while True:
            with self._conn_lock:
                threads = [t for t in self._connections.values() if t.is_alive()]
            if not threads or time.monotonic() > deadline:
                if threads:
                    log.warning("fake Jenkins: %d request threads still running", len(threads))
                return
            threads[0].join(timeout=max(0.0, deadline - time.monotonic()))
