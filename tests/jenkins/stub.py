"""Canned answers for unit tests of the client (not a Jenkins double).

:class:`StubPoolManager` is a urllib3 ``PoolManager`` whose connection pools answer
from a handler instead of a socket. The client under test is built with it
(``JenkinsClient(..., session=stub_session(handler))``), so everything above the
socket runs as in production: the client, :class:`jenkins_broker.transport.Session`
with its timeout, header and error rules, and urllib3's own redirect handling. A
handler returns an :class:`Answer`, or an exception (a urllib3 one, as a real pool
would raise) to be raised; :attr:`StubPoolManager.sent` records what was sent.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import urllib3
from urllib3 import HTTPConnectionPool, HTTPResponse
from urllib3._collections import HTTPHeaderDict

from jenkins_broker import transport


@dataclass
class Answer:
    status: int = 200
    body: str = ""
    headers: dict = field(default_factory=dict)
    cookies: dict = field(default_factory=dict)
    reason: str = "OK"


@dataclass
class Sent:
    """One request as it left the transport."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    timeout: Any

    @property
    def path_url(self) -> str:
        parts = urlsplit(self.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")


class _Pool(HTTPConnectionPool):
    """A pool for one (scheme, host, port) that asks the manager's handler."""

    def __init__(self, manager: StubPoolManager, scheme: str, host: str, port: int):
        super().__init__(host, port)
        self.scheme = scheme
        self._manager = manager

    def urlopen(self, method, url, body=None, headers=None, retries=None, redirect=True,
                timeout=None, **kw):
        full = f"{self.scheme}://{self.host}:{self.port}{url}" if url.startswith("/") else url
        body = body.encode() if isinstance(body, str) else body
        sent = Sent(method, full, dict(headers or {}), body, timeout)
        self._manager.sent.append(sent)
        answer = self._manager.handler(sent)
        if isinstance(answer, BaseException):
            raise answer
        headers = HTTPHeaderDict(answer.headers)
        for name, value in answer.cookies.items():
            headers.add("Set-Cookie", f"{name}={value}; Path=/; HttpOnly")
        return HTTPResponse(body=answer.body.encode("utf-8"), headers=headers,
                            status=answer.status, reason=answer.reason, preload_content=True,
                            request_url=full, retries=retries, request_method=method)

    def _new_conn(self):  # pragma: no cover - never reached: urlopen answers
        raise AssertionError("the stub pool opens no connection")


class StubPoolManager(urllib3.PoolManager):
    """A ``PoolManager`` whose pools answer from ``handler(sent)``."""

    def __init__(self, handler: Callable[[Sent], Any] | None = None):
        super().__init__()
        self.handler = handler or (lambda sent: Answer(404, "no handler"))
        self.sent: list[Sent] = []

    def connection_from_host(self, host, port=None, scheme="http", pool_kwargs=None):
        return _Pool(self, scheme or "http", host, port or (443 if scheme == "https" else 80))


def stub_session(handler: Callable[[Sent], Any] | None = None, *, url: str = "http://jenkins.example:8080/",
                 **kwargs: Any) -> transport.Session:
    """A production :class:`~jenkins_broker.transport.Session` on a :class:`StubPoolManager`."""
    return transport.Session(url, pool_manager=StubPoolManager(handler), **kwargs)


def install(client, handler) -> StubPoolManager:
    """Answer ``client``'s requests with ``handler`` from now on. The client must have
    been built on a :func:`stub_session`; returns its pool manager (``.sent``)."""
    stub = client.session.pool_manager
    assert isinstance(stub, StubPoolManager), "build the client with session=stub_session()"
    stub.handler = handler
    return stub


def basic_user(request: Sent) -> str | None:
    header = request.headers.get("Authorization")
    if not header:
        return None
    return base64.b64decode(header.split()[1]).decode("utf-8").split(":", 1)[0]


def form(request: Sent) -> dict:
    body = (request.body or b"").decode()
    return {k: v[0] for k, v in parse_qs(body).items()}
