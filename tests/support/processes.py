"""Ports, processes and threads for the servers tests and benchmarks start."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from socketserver import TCPServer


def free_port() -> int:
    """A TCP port on loopback that is free right now (another process may take it later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid: int) -> bool:
    """True while a process with this id exists (a zombie counts until it is reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_process(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """Stop a child process and reap it: SIGTERM, then SIGKILL once ``timeout`` seconds
    have passed. Returns when the child is reaped (its status is in ``proc.returncode``);
    a child that has already exited is only reaped.

    The signals go to the child's process group when the child leads one, that is when it
    was started with ``start_new_session=True``, as every server the tests and benchmarks
    start is; otherwise to its pid alone. The group, because the child may have children
    of its own (a wrapper such as ``timeout`` or a profiler around the broker, a shell)
    that a signal to one pid would leave running, holding ports and files after the test.
    The pid alone otherwise, because a child that shares our process group must not take
    the test runner down with it.
    """
    if proc.poll() is not None:
        return
    group = _leads_its_group(proc.pid)
    _signal(proc.pid, group, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        _signal(proc.pid, group, signal.SIGKILL)
        proc.wait()


def _leads_its_group(pid: int) -> bool:
    # An exited child not reaped yet (a zombie) still holds its group id, so the answer
    # stays true, and its group cannot be another's, until ``proc.wait`` reaps it.
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False


def _signal(pid: int, group: bool, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
        if group:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)


def answer_json(handler: BaseHTTPRequestHandler, status: int, payload: object) -> None:
    """Answer the request ``handler`` holds with ``payload`` as JSON: the stand-in servers'
    one way of answering (a Kubernetes API, an OIDC issuer, a Vault)."""
    body = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@contextlib.contextmanager
def serving(server: TCPServer, scheme: str = "http") -> Iterator[str]:
    """Run ``server`` (a ``socketserver`` server, bound already) on a thread and yield its
    URL; at the end shut it down, close its socket and join the thread, also on failure."""
    host, port = server.server_address[0], server.server_address[1]
    assert isinstance(host, str)  # an AF_INET server's address
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    try:
        yield f"{scheme}://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
