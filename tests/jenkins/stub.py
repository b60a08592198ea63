"""A canned-answer transport for unit tests of the client (not a Jenkins double).

It gives the client a ``requests.Session`` (``make_session`` normally gives a
lean one) whose HTTP adapter is replaced, so a test can say exactly what each
request gets back, or which ``requests`` exception it raises, and inspect what
was sent.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import requests
from requests.adapters import BaseAdapter
from requests.cookies import cookiejar_from_dict
from requests.structures import CaseInsensitiveDict


@dataclass
class Answer:
    status: int = 200
    body: str = ""
    headers: dict = field(default_factory=dict)
    cookies: dict = field(default_factory=dict)
    reason: str = "OK"


class StubTransport(BaseAdapter):
    def __init__(self, handler):
        super().__init__()
        self.handler = handler
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request, **kwargs):
        self.sent.append(request)
        answer = self.handler(request)
        if isinstance(answer, BaseException):
            raise answer
        response = requests.Response()
        response.status_code = answer.status
        response.reason = answer.reason
        response.headers = CaseInsensitiveDict(answer.headers)
        response._content = answer.body.encode("utf-8")
        response.encoding = "utf-8"
        response.url = request.url
        response.request = request
        response.cookies = cookiejar_from_dict(dict(answer.cookies))
        return response

    def close(self):
        pass


def install(client, handler) -> StubTransport:
    stub = StubTransport(handler)
    if not isinstance(client._session, requests.Session):
        session = requests.Session()
        session.trust_env = False
        session.headers.update(client._session.headers)
        session.max_redirects = client._session.max_redirects
        client._session = session
    client._session.mount("http://", stub)
    client._session.mount("https://", stub)
    return stub


def basic_user(request) -> str | None:
    header = request.headers.get("Authorization")
    if not header:
        return None
    return base64.b64decode(header.split()[1]).decode("utf-8").split(":", 1)[0]


def form(request) -> dict:
    from urllib.parse import parse_qs
    body = request.body or ""
    if isinstance(body, bytes):
        body = body.decode()
    return {k: v[0] for k, v in parse_qs(body).items()}
