"""The lean session: a thread-safe pool of kept-alive ``http.client`` connections
per origin, behind requests' ``Session.request`` calling convention (see the
package docstring for what it does and does not do)."""

from __future__ import annotations

import http.client
import json as jsonlib
import select
import ssl
import threading
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import certifi
import requests.exceptions as rexc
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import InsecureRequestWarning

from .response import LeanResponse
from .rules import (basic_auth, check_headers, connect_error, exchange_error, leaves_origin,
                    safe_url)

DEFAULT_HEADERS = {"User-Agent": "jenkins-broker", "Accept": "*/*"}
_REDIRECTS = (301, 302, 303, 307, 308)


class _Prepared:
    """What an ``requests.auth.AuthBase`` is handed: it sets headers, nothing else."""

    def __init__(self, method: str, url: str, headers: dict[str, str]):
        self.method, self.url, self.headers = method, url, headers


def _timeouts(timeout: Any) -> tuple[float | None, float | None]:
    if isinstance(timeout, tuple):
        connect, read = timeout
        return connect, read
    return timeout, timeout


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """True if an idle connection was closed by the server (readable means EOF or junk)."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


class _Pool:
    """Idle connections to one origin, most recently used first."""

    def __init__(self, factory: Callable[[], http.client.HTTPConnection], maxsize: int):
        self.factory = factory
        self.maxsize = maxsize
        self.idle: list[http.client.HTTPConnection] = []
        self.lock = threading.Lock()
        self.closed = False

    def take(self) -> http.client.HTTPConnection | None:
        while True:
            with self.lock:
                if not self.idle:
                    return None
                conn = self.idle.pop()
            if not _dropped(conn):
                return conn
            conn.close()

    def give(self, conn: http.client.HTTPConnection) -> None:
        with self.lock:
            if not self.closed and len(self.idle) < self.maxsize:
                self.idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self.lock:
            self.closed = True
            idle, self.idle = self.idle, []
        for conn in idle:
            conn.close()


class LeanSession:
    """A thread-safe keep-alive HTTP client; see the module docstring.

    ``headers``, ``verify``, ``cert`` and ``max_redirects`` are session defaults,
    as on ``requests.Session``; a request's own arguments override them.
    ``pool_size`` idle connections are kept per origin; more may be open at once,
    and those beyond it are closed after use.
    """

    def __init__(self, *, pool_size: int = 32):
        self.headers: dict[str, str] = dict(DEFAULT_HEADERS)
        self.verify: bool | str = True
        self.cert: str | tuple[str, str] | None = None
        self.max_redirects = 30
        self.proxies: dict[str, str] = {}  # always empty; hvac reads it
        self.pool_size = pool_size
        self._pools: dict[tuple, _Pool] = {}
        self._contexts: dict[tuple, ssl.SSLContext] = {}
        self._lock = threading.Lock()

    # -- public ---------------------------------------------------------------------

    def request(self, method: str, url: str, params: Any = None, data: Any = None,
                headers: Mapping[str, str | None] | None = None,
                cookies: Mapping[str, str] | None = None, files: Any = None, auth: Any = None,
                timeout: Any = None, allow_redirects: bool = True,
                proxies: Mapping[str, str] | None = None, hooks: Any = None,
                stream: Any = None, verify: bool | str | None = None,
                cert: str | tuple[str, str] | None = None, json: Any = None) -> LeanResponse:
        if files or hooks or stream:
            raise TypeError("LeanSession does not send files, run hooks or stream answers")
        if proxies:
            raise ValueError("LeanSession does not use proxies; make_session() gives a "
                             "requests session for a URL that has one")
        method = method.upper()
        verify = self.verify if verify is None else verify
        cert = self.cert if cert is None else cert
        sent = {k: v for k, v in self.headers.items()}
        for key, value in (headers or {}).items():
            for existing in [k for k in sent if k.lower() == key.lower()]:
                del sent[existing]
            if value is not None:
                sent[key] = value
        body = self._body(data, json, sent)
        if cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        if auth is not None:
            if isinstance(auth, tuple):
                sent["Authorization"] = basic_auth(*auth)
            else:
                sent = dict(auth(_Prepared(method, url, sent)).headers)
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params, doseq=True)
        check_headers(sent)
        response = self._send(method, url, body, sent, timeout, verify, cert)
        hops = 0
        while allow_redirects and response.status_code in _REDIRECTS and "Location" in response.headers:
            hops += 1
            if hops > self.max_redirects:
                raise rexc.TooManyRedirects(f"Exceeded {self.max_redirects} redirects.")
            target = urljoin(response.url, response.headers["Location"])
            if leaves_origin(response.url, target):
                sent.pop("Authorization", None)
                sent.pop("Cookie", None)
            status = response.status_code
            # requests' (and browsers') rules: 303 and 302 become GET, 301 only from POST.
            if (status in (302, 303) and method != "HEAD") or (status == 301 and method == "POST"):
                method, body = "GET", None
                sent = {k: v for k, v in sent.items()
                        if k.lower() not in ("content-type", "content-length")}
            response = self._send(method, target, body, sent, timeout, verify, cert)
        return response

    def close(self) -> None:
        """Close every idle connection; the session must not be used afterwards."""
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()

    def __enter__(self) -> "LeanSession":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- inside ---------------------------------------------------------------------

    @staticmethod
    def _body(data: Any, json: Any, headers: dict[str, str]) -> bytes | None:
        lowered = {k.lower() for k in headers}
        if data is not None and data != {} and data != []:
            if isinstance(data, (bytes, bytearray)):
                return bytes(data)
            if isinstance(data, str):
                return data.encode("utf-8")
            if "content-type" not in lowered:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            items = data.items() if isinstance(data, Mapping) else data
            return urlencode([(k, v) for k, v in items if v is not None], doseq=True).encode("ascii")
        if json is not None:
            if "content-type" not in lowered:
                headers["Content-Type"] = "application/json"
            try:
                return jsonlib.dumps(json, allow_nan=False).encode("utf-8")
            except (TypeError, ValueError) as exc:
                raise rexc.InvalidJSONError(f"the request body is not JSON: {exc}") from None
        return None

    def _context(self, verify: bool | str, cert: Any) -> ssl.SSLContext:
        key = (verify, cert)
        context = self._contexts.get(key)
        if context is not None:
            return context
        if verify is False:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif verify is True:  # certifi's bundle, as requests uses
            context = ssl.create_default_context(cafile=certifi.where())
        else:
            where = Path(verify)
            if not where.exists():
                raise OSError(f"Could not find a suitable TLS CA certificate bundle, invalid path: {verify}")
            context = (ssl.create_default_context(capath=str(where)) if where.is_dir()
                       else ssl.create_default_context(cafile=str(where)))
        # Python 3.13 turns on strict X.509 checks by default; urllib3 does not, and
        # certificates of private CAs often fail them.
        context.verify_flags &= ~getattr(ssl, "VERIFY_X509_STRICT", 0)
        if cert:
            certfile, keyfile = cert if isinstance(cert, tuple) else (cert, None)
            context.load_cert_chain(certfile, keyfile)
        self._contexts[key] = context
        return context

    def _pool(self, scheme: str, host: str, port: int, verify: Any, cert: Any) -> _Pool:
        key = (scheme, host, port, verify if scheme == "https" else None,
               cert if scheme == "https" else None)
        pool = self._pools.get(key)
        if pool is not None:
            return pool
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                if scheme == "https":
                    context = self._context(verify, cert)

                    def factory() -> http.client.HTTPConnection:
                        return http.client.HTTPSConnection(host, port, context=context)
                else:
                    def factory() -> http.client.HTTPConnection:
                        return http.client.HTTPConnection(host, port)
                pool = self._pools[key] = _Pool(factory, self.pool_size)
        return pool

    def _send(self, method: str, url: str, body: bytes | None, headers: dict[str, str],
              timeout: Any, verify: Any, cert: Any) -> LeanResponse:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise rexc.InvalidURL(f"invalid URL {safe_url(url)!r}: {exc}") from None
        scheme = parts.scheme.lower()
        if not scheme:
            raise rexc.MissingSchema(f"invalid URL {safe_url(url)!r}: no scheme supplied")
        if scheme not in ("http", "https"):
            raise rexc.InvalidSchema(f"no connection adapters were found for {safe_url(url)!r}")
        host = parts.hostname
        if not host:
            raise rexc.InvalidURL(f"invalid URL {safe_url(url)!r}: no host supplied")
        port = port or (443 if scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        where = f"{host}:{port}"
        connect_timeout, read_timeout = _timeouts(timeout)
        try:
            pool = self._pool(scheme, host, port, verify, cert)
        except ssl.SSLError as exc:  # a CA bundle or client certificate that is not usable
            raise rexc.SSLError(f"{where}: cannot load the TLS settings: {exc}") from None

        conn = pool.take()
        if conn is None:
            if scheme == "https" and verify is False:
                # urllib3's class, so that warning filters written for requests still apply.
                warnings.warn(f"Unverified HTTPS request to {where}: TLS certificate checks are "
                              "off (skip-verify); use this for test servers only.",
                              InsecureRequestWarning, stacklevel=3)
            conn = pool.factory()
            conn.timeout = connect_timeout
            try:
                conn.connect()
            except BaseException as exc:
                conn.close()
                raise connect_error(exc, where, connect_timeout) from None
        try:
            conn.sock.settimeout(read_timeout)
            conn.request(method, target, body=body, headers=headers)
            answer = conn.getresponse()
            content = answer.read()
        except BaseException as exc:
            conn.close()
            raise exchange_error(exc, where, read_timeout) from None
        names: dict[str, str] = {}
        for name, value in answer.getheaders():
            key = name.lower()
            if key in names:
                names[key] = f"{names[key]}, {value}"
            else:
                names[key] = value
        response = LeanResponse(answer.status, answer.reason, CaseInsensitiveDict(names),
                                content, url, answer.msg.get_all("Set-Cookie") or [])
        if answer.will_close:
            conn.close()
        else:
            pool.give(conn)
        return response
