"""The HTTP/1.1 server the transport tests talk to: the stdlib's, threaded, on loopback.

Its paths answer what each rule needs: ``/echo`` (the request, as JSON), ``/close`` and
``/close-quietly`` (a connection closed with and without saying so), ``/redirect?status=
&to=``, ``/loop``, ``/hang`` (until ``server.release`` is set), ``/reset``, ``/truncated``,
``/chunked``, ``/text?type=&enc=``, ``/cookies``, ``/notjson``; anything else is a 404.
The server counts requests and remembers its peers (one per connection).
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

#: What the transport tests put in headers and URLs: no message may carry it.
SECRET = "s.never-in-a-message-0123456789"


class Handler(BaseHTTPRequestHandler):
    """Answers each path as the module docstring says; HTTP/1.1, so connections are kept."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self, status=200, body=b"", headers=None, close=False):
        self.send_response(status)
        for key, value in (headers or {}).items():
            if isinstance(value, list):
                for one in value:
                    self.send_header(key, one)
            else:
                self.send_header(key, value)
        if "Content-Length" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _route(self):
        server = self.server
        server.peers.add(self.client_address)
        server.requests += 1
        body = self._read_body()
        path = urlsplit(self.path).path
        if path == "/echo":
            self._answer(200, json.dumps({
                "method": self.command, "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("latin-1")}).encode(), {"Content-Type": "application/json"})
        elif path == "/close":        # says so, then closes
            self._answer(200, b"bye", close=True)
            self.close_connection = True
        elif path == "/close-quietly":  # answers as if keep-alive, then closes anyway
            self._answer(200, b"bye")
            self.close_connection = True
        elif path == "/redirect":
            query = parse_qs(urlsplit(self.path).query)
            self._answer(int(query["status"][0]), b"", {"Location": query["to"][0]})
        elif path == "/loop":
            self._answer(302, b"", {"Location": "/loop"})
        elif path == "/hang":
            server.release.wait(10)
            self._answer(200, b"late")
        elif path == "/reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            self.close_connection = True
            self.connection.close()
        elif path == "/truncated":
            self._answer(200, b"only part", {"Content-Length": "100"})
            self.close_connection = True
        elif path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (b"hello ", b"chunked ", b"world"):
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/text":
            query = parse_qs(urlsplit(self.path).query)
            self._answer(200, "café".encode(query.get("enc", ["utf-8"])[0]),
                         {"Content-Type": query["type"][0]})
        elif path == "/cookies":
            self._answer(200, b"", {"Set-Cookie": ["JSESSIONID.1a2b3c4d=node0abc; Path=/; HttpOnly",
                                                   "other=1; Path=/"]})
        elif path == "/notjson":
            self._answer(200, b"<html>proxy page</html>", {"Content-Type": "application/json"})
        else:
            self._answer(404, b"no")

    do_GET = do_POST = do_PUT = do_DELETE = _route

    def do_HEAD(self):
        self.server.peers.add(self.client_address)
        self.send_response(200)
        self.send_header("Content-Length", "42")
        self.end_headers()

    def do_LIST(self):
        self._route()


class Server(ThreadingHTTPServer):
    """Counts requests, remembers peers, holds ``/hang`` until ``release`` is set, and sets
    ``closed`` each time it closes a connection."""

    daemon_threads = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.peers: set = set()
        self.requests = 0
        self.release = threading.Event()
        self.closed = threading.Event()  # set each time the server closes a connection

    def shutdown_request(self, request):
        super().shutdown_request(request)
        self.closed.set()
