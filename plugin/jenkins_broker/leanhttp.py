"""A lean keep-alive HTTP/1.1 client with the part of ``requests.Session`` the broker uses.

Every mint makes three outgoing calls (the caller's capability check, Jenkins'
``generateNewToken``, the lease record write), and on a busy broker their client
side was the largest share of its CPU: ``requests`` spends about 0.3 ms a call
preparing, merging settings and wrapping ``urllib3``, against 0.15 ms for the
whole exchange on ``http.client``. :class:`LeanSession` is that exchange on
``http.client`` with a pool of kept-alive connections, and nothing else:

* ``request(method, url, *, params, data, json, headers, cookies, auth, timeout,
  verify, cert, allow_redirects, proxies)`` with requests' meaning for each;
  it returns a :class:`LeanResponse` (``status_code``, ``reason``, ``headers``,
  ``content``, ``text``, ``json()``, ``ok``, ``url``, ``cookies``).
* Failures raise ``requests.exceptions`` classes (ConnectTimeout, ReadTimeout,
  SSLError, ConnectionError, TooManyRedirects, InvalidURL, JSONDecodeError), so
  the code that maps them to the broker's errors serves both sessions.
* No cookie jar (the broker keeps none; see jenkins/client.py), no proxies
  (:func:`jenkins_broker.httpsession.make_session` hands a URL that has one to
  ``requests``), no compression (``Accept-Encoding: identity``), no streaming.
* ``verify=True`` trusts certifi's bundle, as requests does; a path trusts
  that file or directory only.
* A redirect to another host, scheme or port drops ``Authorization`` and
  ``Cookie`` (http:80 to https:443 on the same host keeps them, as in requests).
* ``verify=False`` warns (``urllib3``'s InsecureRequestWarning) at each new
  connection.
* An idle connection the server has closed is noticed before reuse (as urllib3
  does) and replaced; a request is never sent twice.
"""

from __future__ import annotations

import base64
import http.client
import http.cookiejar
import json as jsonlib
import re
import select
import socket
import ssl
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import certifi
import requests.exceptions as rexc
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import InsecureRequestWarning

DEFAULT_HEADERS = {"User-Agent": "jenkins-broker", "Accept": "*/*"}
_REDIRECTS = (301, 302, 303, 307, 308)
_BAD_NAME = re.compile(r"^$|[\s:\x00]")
_BAD_VALUE = re.compile(r"[\r\n\x00]|^[ \t]")


@dataclass(frozen=True)
class Cookie:
    """One cookie a response set: only what callers read."""

    name: str
    value: str

    def __repr__(self) -> str:  # a session cookie is a credential: never show its value
        return f"Cookie({self.name!r}, <hidden>)"


class LeanResponse:
    """An answer, read in full: the attributes of ``requests.Response`` the broker reads."""

    def __init__(self, status: int, reason: str, headers: CaseInsensitiveDict,
                 content: bytes, url: str, set_cookies: list[str]):
        self.status_code = status
        self.reason = reason
        self.headers = headers
        self.content = content
        self.url = url
        self._set_cookies = set_cookies

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    @property
    def encoding(self) -> str:
        """The charset of ``Content-Type``; else requests' defaults (Latin-1 for text/*)."""
        kind, _, params = self.headers.get("Content-Type", "").partition(";")
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip("'\"")
        return "ISO-8859-1" if kind.strip().lower().startswith("text/") else "utf-8"

    @property
    def text(self) -> str:
        try:
            return self.content.decode(self.encoding, errors="replace")
        except LookupError:  # an unknown charset name
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; ``requests.exceptions.JSONDecodeError`` if it is not."""
        try:
            return jsonlib.loads(self.content)
        except ValueError as exc:  # JSONDecodeError, or bytes that are not UTF-8/16/32
            raise rexc.JSONDecodeError(getattr(exc, "msg", str(exc)), getattr(exc, "doc", ""),
                                       getattr(exc, "pos", 0)) from None

    @property
    def cookies(self) -> list[Cookie]:
        """Every cookie of the ``Set-Cookie`` headers (name and value only)."""
        found: list[Cookie] = []
        # The first name=value of each header is the cookie; the rest are attributes,
        # known or not (Partitioned, Priority=High, ...), as http.cookiejar reads them.
        for pairs in http.cookiejar.parse_ns_headers(self._set_cookies):
            name, value = pairs[0] if pairs else ("", None)
            if name and value is not None:
                found.append(Cookie(name, value))
        return found

    def raise_for_status(self) -> None:
        if not self.ok:
            raise rexc.HTTPError(f"{self.status_code} {self.reason} for url: {self.url}")

    def __repr__(self) -> str:
        return f"<LeanResponse [{self.status_code}]>"


class _Prepared:
    """What an ``requests.auth.AuthBase`` is handed: it sets headers, nothing else."""

    def __init__(self, method: str, url: str, headers: dict[str, str]):
        self.method, self.url, self.headers = method, url, headers


def _basic(user: str, password: str) -> str:
    raw = f"{user}:{password}".encode("latin-1")  # requests' encoding for a (user, password) tuple
    return "Basic " + base64.b64encode(raw).decode("ascii")


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
                sent["Authorization"] = _basic(*auth)
            else:
                sent = dict(auth(_Prepared(method, url, sent)).headers)
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params, doseq=True)
        _check_headers(sent)
        response = self._send(method, url, body, sent, timeout, verify, cert)
        hops = 0
        while allow_redirects and response.status_code in _REDIRECTS and "Location" in response.headers:
            hops += 1
            if hops > self.max_redirects:
                raise rexc.TooManyRedirects(f"Exceeded {self.max_redirects} redirects.")
            target = urljoin(response.url, response.headers["Location"])
            if _leaves_origin(response.url, target):
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
            raise rexc.InvalidURL(f"invalid URL {_shown(url)}: {exc}") from None
        scheme = parts.scheme.lower()
        if not scheme:
            raise rexc.MissingSchema(f"invalid URL {_shown(url)}: no scheme supplied")
        if scheme not in ("http", "https"):
            raise rexc.InvalidSchema(f"no connection adapters were found for {_shown(url)}")
        host = parts.hostname
        if not host:
            raise rexc.InvalidURL(f"invalid URL {_shown(url)}: no host supplied")
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
                raise _connect_error(exc, where, connect_timeout) from None
        try:
            conn.sock.settimeout(read_timeout)
            conn.request(method, target, body=body, headers=headers)
            answer = conn.getresponse()
            content = answer.read()
        except BaseException as exc:
            conn.close()
            raise _exchange_error(exc, where, read_timeout) from None
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


def _connect_error(exc: BaseException, where: str, timeout: Any) -> BaseException:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return rexc.ConnectTimeout(f"{where}: Connect timed out. (connect timeout={timeout})")
    if isinstance(exc, ssl.SSLError):  # certificate and handshake failures
        return rexc.SSLError(f"{where}: {exc}")
    if isinstance(exc, OSError):  # refused, unreachable, no such host
        return rexc.ConnectionError(f"{where}: Failed to establish a new connection: {exc}")
    return exc


def _exchange_error(exc: BaseException, where: str, timeout: Any) -> BaseException:
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


def _shown(url: str) -> str:
    """``url`` as messages may show it: no user-info, query or fragment."""
    try:
        parts = urlsplit(url)
        where = parts.hostname or ""
        if parts.port:
            where += f":{parts.port}"
    except ValueError:
        return "<unparsable URL>"
    return repr(f"{parts.scheme}://{where}{parts.path}" if parts.scheme else parts.path)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def _leaves_origin(old: str, new: str) -> bool:
    """True when a redirect must not carry credentials on: another host, scheme or port.

    As in requests, http on its default port upgrading to https on its default
    port keeps them; any other change drops them (https to http above all).
    """
    old_origin, new_origin = _origin(old), _origin(new)
    if old_origin == new_origin:
        return False
    return not (old_origin[1] == new_origin[1] and old_origin[0] == "http"
                and old_origin[2] == 80 and new_origin[0] == "https" and new_origin[2] == 443)


def _check_headers(headers: Mapping[str, str]) -> None:
    """Refuse a header that http.client would refuse, naming it but never its value."""
    for name, value in headers.items():
        if not isinstance(value, (str, bytes)):
            raise rexc.InvalidHeader(f"the value of header {name!r} must be a string, "
                                     f"not {type(value).__name__}")
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        if _BAD_NAME.search(name) or _BAD_VALUE.search(text):
            raise rexc.InvalidHeader(f"header {name!r} has a name or value that cannot be sent "
                                     "(line break, NUL or leading whitespace); not sent")
