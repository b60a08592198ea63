"""What requests would do and say, where the lean session must do the same.

Which redirects drop credentials, which headers cannot be sent, how a URL is
shown in a message (never with its query), the Basic header of a
``(user, password)`` pair, and which ``requests.exceptions`` class each socket,
TLS or HTTP failure becomes. No message here ever carries a header value.
"""

from __future__ import annotations

import base64
import http.client
import re
import socket
import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests.exceptions as rexc

_BAD_NAME = re.compile(r"^$|[\s:\x00]")
_BAD_VALUE = re.compile(r"[\r\n\x00]|^[ \t]")


def basic_auth(user: str, password: str) -> str:
    raw = f"{user}:{password}".encode("latin-1")  # requests' encoding for a (user, password) tuple
    return "Basic " + base64.b64encode(raw).decode("ascii")


def connect_error(exc: BaseException, where: str, timeout: Any) -> BaseException:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return rexc.ConnectTimeout(f"{where}: Connect timed out. (connect timeout={timeout})")
    if isinstance(exc, ssl.SSLError):  # certificate and handshake failures
        return rexc.SSLError(f"{where}: {exc}")
    if isinstance(exc, OSError):  # refused, unreachable, no such host
        return rexc.ConnectionError(f"{where}: Failed to establish a new connection: {exc}")
    return exc


def exchange_error(exc: BaseException, where: str, timeout: Any) -> BaseException:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return rexc.ReadTimeout(f"{where}: Read timed out. (read timeout={timeout})")
    if isinstance(exc, ssl.SSLError):
        return rexc.SSLError(f"{where}: {exc}")
    if isinstance(exc, http.client.RemoteDisconnected):
        return rexc.ConnectionError(f"{where}: Connection aborted: RemoteDisconnected: {exc}")
    if isinstance(exc, http.client.InvalidURL):  # a space or control character in the path
        return rexc.InvalidURL(f"{where}: the request path has a space or control character")
    if isinstance(exc, http.client.IncompleteRead):
        return rexc.ChunkedEncodingError(f"{where}: Connection broken: the answer was cut short")
    if isinstance(exc, (OSError, http.client.HTTPException)):
        return rexc.ConnectionError(f"{where}: Connection aborted: {type(exc).__name__}: {exc}")
    return exc


def safe_url(url: str) -> str:
    """``url`` as messages may show it: no user-info, query or fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:  # an IPv6 address keeps its brackets
            host = f"[{host}]"
        if parts.port:
            host = f"{host}:{parts.port}"
    except ValueError:  # also a port that is not a number
        return "<unparsable URL>"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def leaves_origin(old: str, new: str) -> bool:
    """True when a redirect must not carry credentials on: another host, scheme or port.

    As in requests, http on its default port upgrading to https on its default
    port keeps them; any other change drops them (https to http above all).
    """
    old_origin, new_origin = _origin(old), _origin(new)
    if old_origin == new_origin:
        return False
    return not (old_origin[1] == new_origin[1] and old_origin[0] == "http"
                and old_origin[2] == 80 and new_origin[0] == "https" and new_origin[2] == 443)


def check_headers(headers: Mapping[str, str]) -> None:
    """Refuse a header that http.client would refuse, naming it but never its value."""
    for name, value in headers.items():
        if not isinstance(value, (str, bytes)):
            raise rexc.InvalidHeader(f"the value of header {name!r} must be a string, "
                                     f"not {type(value).__name__}")
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        if _BAD_NAME.search(name) or _BAD_VALUE.search(text):
            raise rexc.InvalidHeader(f"header {name!r} has a name or value that cannot be sent "
                                     "(line break, NUL or leading whitespace); not sent")
