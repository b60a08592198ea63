"""Outgoing HTTP, on urllib3: the one place where the broker's requests leave the process.

The broker talks to two servers, Jenkins and Vault, and carries credentials to both
(Jenkins administrator passwords and tokens, Vault tokens). :class:`Session` is one
server's pool of kept-alive connections on urllib3's ``PoolManager`` (or its
``ProxyManager`` when the environment names a proxy for that server), with the rules
the broker relies on fixed here rather than at each call:

* a timeout on every call (``timeout``, or the call's own);
* TLS settings given explicitly: ``verify`` is ``True`` (certifi's bundle), ``False``,
  or the path of a CA file or directory; ``ca_data`` is PEM text held in memory (no
  temporary file); ``cert`` is a client certificate (``path`` or ``(cert, key)``);
* proxies from the environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``,
  ``NO_PROXY``), read once for the session's own server, never per call;
* no retries: a request that got no answer is not sent again (urllib3 still replaces
  a kept-alive connection the server closed before it is reused);
* redirects only when the caller asks (``redirect=True``), at most ``max_redirects``;
  307 and 308 keep the method and body, 303 becomes a GET; a redirect to another
  scheme, host or port drops ``Authorization`` and ``Cookie`` (urllib3's rule);
* no cookie jar: a caller that needs a cookie reads :attr:`Response.cookies` and sends
  it back itself (the Jenkins crumb flow is the only one);
* every failure below HTTP becomes one of the :class:`TransportError` classes here, in
  :func:`_translate`, and nowhere else. Their messages name the URL without its query
  and a short reason; never a header value or a body.

What callers get back is a :class:`Response`: status, reason, headers, the body read
in full, and the final URL.

Why urllib3 directly and not requests: per keep-alive call to OpenBao's
``sys/capabilities-self`` the client's CPU was about 800 µs with requests and 370 µs
with urllib3's pools (medians of 2,000 on one machine); a mint makes three such calls.
``python -m benchmarks --only mint throughput`` measures what the broker pays.
"""

from __future__ import annotations

import http.cookies
import json as jsonlib
import logging
import os
import re
import ssl
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union
from urllib.parse import urlencode, urlsplit

import certifi
import urllib3
import urllib3.exceptions as u3
from urllib3.util import SKIP_HEADER
from urllib3.util.retry import Retry

from .values import safe_url

#: ``(connect, read)`` seconds, or one number for both.
Timeout = Union[float, tuple[float, float]]

DEFAULT_HEADERS = {"User-Agent": "jenkins-broker", "Accept-Encoding": "identity"}

# urllib3 logs every request line (the path and query) at DEBUG, and a path can hold a
# token: a forwarded ``auth/token/lookup/<token>`` goes on as the caller wrote it. The
# broker's log level (JENKINS_BROKER_LOG_LEVEL=debug) therefore stops above it there.
logging.getLogger("urllib3").setLevel(max(logging.getLogger("urllib3").level, logging.INFO))


# -- errors -------------------------------------------------------------------------


class TransportError(Exception):
    """A request that got no HTTP answer. ``url`` is shown without query or user-info;
    ``reason`` is a short phrase (an errno, a TLS verdict), never a header or a body."""

    def __init__(self, method: str, url: str, reason: str):
        self.method, self.url, self.reason = method, safe_url(url), reason
        super().__init__(f"{method} {self.url}: {reason}")


class ConnectTimeout(TransportError):
    """No connection within the connect timeout."""


class ReadTimeout(TransportError):
    """Connected, but no (complete) answer within the read timeout."""


class TLSFailure(TransportError):
    """The TLS handshake failed: an untrusted or mismatched certificate, wrong scheme."""


class ProxyFailure(TransportError):
    """The HTTP proxy from the environment refused or failed the connection."""


class ConnectFailed(TransportError):
    """No connection: refused, unreachable, no such host."""


class ConnectionBroken(TransportError):
    """The connection broke while the answer was on its way (reset, cut short)."""


class TooManyRedirects(TransportError):
    """More redirects than ``max_redirects``, usually a loop."""


class BadRequest(TransportError):
    """The request cannot be sent as given: a URL or header value that HTTP cannot carry.
    Nothing was sent."""


class LocalFailure(TransportError):
    """A local setting cannot be used: an unreadable or invalid CA bundle or client
    certificate, a proxy URL that does not parse."""


# -- the answer ---------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    """An HTTP answer, read in full. ``headers`` is case-insensitive (urllib3's
    ``HTTPHeaderDict``; ``headers.getlist(name)`` gives repeated ones)."""

    status: int
    reason: str
    headers: Any = field(repr=False)
    body: bytes = field(repr=False)
    url: str

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def text(self) -> str:
        """The body decoded with the charset the answer names, else UTF-8 (replacing
        what does not decode: the text only ever goes into messages and parsers)."""
        charset = _charset(self.headers.get("Content-Type", "")) or "utf-8"
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:  # a charset Python does not know
            return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; raises ``ValueError`` if it is not JSON."""
        return jsonlib.loads(self.text)

    @property
    def cookies(self) -> dict[str, str]:
        """Name → value of every ``Set-Cookie`` of this answer (attributes dropped)."""
        found: dict[str, str] = {}
        for header in self.headers.getlist("Set-Cookie"):
            jar = http.cookies.SimpleCookie()
            try:
                jar.load(header)
            except http.cookies.CookieError:
                continue
            found.update({name: morsel.value for name, morsel in jar.items()})
        return found


def _charset(content_type: str) -> str | None:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip("\"' ")
    return None


# -- the session --------------------------------------------------------------------


class Session:
    """Kept-alive connections to the server at ``base_url``, and the rules above.

    ``pool_size`` connections are kept alive per host; beyond it a connection is
    closed after use (size it for the worker threads). ``headers`` are sent with every
    request (a call's own headers win). ``pool_manager`` replaces the urllib3 pool
    manager (tests give one that answers without a network); everything else, the
    redirect, timeout and error rules included, runs as in production.
    """

    def __init__(self, base_url: str, *, timeout: Timeout = 10.0, verify: bool | str = True,
                 ca_data: str | None = None, cert: str | tuple[str, str] | None = None,
                 pool_size: int = 32, headers: Mapping[str, str] | None = None,
                 max_redirects: int = 5, pool_manager: Any = None):
        self.base_url = base_url
        self.timeout = timeout
        self.headers = {**DEFAULT_HEADERS, **(headers or {})}
        if pool_manager is None:
            pool_manager = _pool_manager(base_url, verify=verify, ca_data=ca_data, cert=cert,
                                         pool_size=pool_size)
        self._pool = pool_manager
        self._proxied = isinstance(pool_manager, urllib3.ProxyManager)
        # A request to the session's own server skips the manager's per-call pool lookup
        # (a key built from every pool setting): the base URL's pool is kept here, and
        # fetched again from the manager if it was closed. Through a proxy the manager
        # decides each request's form, so every call goes through it. Measured with
        # `python -m benchmarks.transport`: about a fifth of the client's CPU per call.
        parts = urlsplit(base_url)
        self._origin = f"{parts.scheme}://{parts.netloc}/".lower()
        self._home: Any = None
        self._retries = {
            follow: Retry(total=None, connect=0, read=0, status=0, other=0,
                          redirect=max_redirects if follow else 0, raise_on_redirect=follow,
                          raise_on_status=False)
            for follow in (False, True)}
        self._timeout = _timeout(timeout)

    @property
    def pool_manager(self) -> Any:
        """The urllib3 pool manager (or proxy manager) the requests go through."""
        return self._pool

    def _home_pool(self) -> Any:
        pool = self._home
        if pool is None or pool.pool is None:  # not made yet, or closed (clear(), evicted)
            pool = self._home = self._pool.connection_from_url(self._origin)
        return pool

    def close(self) -> None:
        """Close the kept-alive connections; the session may still be used after."""
        self._home = None
        self._pool.clear()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def request(self, method: str, url: str, *, params: Mapping[str, str] | None = None,
                body: bytes | str | None = None, form: Mapping[str, str] | None = None,
                json: Any = None, headers: Mapping[str, str] | None = None,
                timeout: Timeout | None = None, redirect: bool = False) -> Response:
        """Send one request and read the whole answer.

        ``url`` is absolute, or a path joined to ``base_url``. The body is ``body``
        as given, ``form`` URL-encoded, or ``json`` serialised (with its
        Content-Type). Any answer, 4xx and 5xx included, is returned; a failure
        below HTTP raises a :class:`TransportError`.
        """
        if not _ABSOLUTE.match(url):
            url = self.base_url.rstrip("/") + "/" + url.lstrip("/")
        if params:
            url += ("&" if urlsplit(url).query else "?") + urlencode(params)
        sent = {**self.headers, **(headers or {})}
        if json is not None:
            body = jsonlib.dumps(json).encode("utf-8")
            sent.setdefault("Content-Type", "application/json")
        elif form is not None:
            body = urlencode(form).encode("utf-8")
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""  # "Content-Length: 0": some proxies refuse a POST without a length
        _check_headers(method, url, sent)
        retries = self._retries[redirect]
        limit = self._timeout if timeout is None or timeout == self.timeout else _timeout(timeout)
        try:
            answer = None
            if not self._proxied and url[:len(self._origin)].lower() == self._origin:
                answer = self._home_pool().urlopen(
                    method, url[len(self._origin) - 1:], body=body, headers=sent, redirect=False,
                    retries=self._retries[False], timeout=limit, preload_content=True,
                    assert_same_host=False)
                if redirect and answer.get_redirect_location():
                    # Rare (a Vault standby, a Jenkins login page). The redirect answer says the
                    # server did not act, so the request is asked again through the manager,
                    # whose redirect logic (and its header rules) follows it.
                    answer = None
            if answer is None:
                answer = self._pool.urlopen(method, url, body=body, headers=sent, redirect=redirect,
                                            retries=retries, timeout=limit, preload_content=True)
        except Exception as exc:  # noqa: BLE001 - every failure is translated, below
            raise _translate(exc, method, url) from None
        final = answer.geturl() or url
        if final.startswith("/"):  # a pool names the path only
            slash = url.find("/", url.find("//") + 2)
            final = (url if slash < 0 else url[:slash]) + final
        return Response(status=answer.status, reason=answer.reason or "",
                        headers=answer.headers, body=answer.data or b"", url=final)


    def stream(self, method: str, url: str, *, body: bytes | None,
               headers: Mapping[str, str], timeout: Timeout | None = None) -> Any:
        """Send one request with exactly ``headers`` (not the session's) and return urllib3's
        answer unread, for a proxy to pass on: its body comes undecoded from
        ``stream()``, and the caller must ``release_conn()`` (read to the end) or
        ``close()`` it. Never follows a redirect; failures raise :class:`TransportError`."""
        if not _ABSOLUTE.match(url):
            url = self.base_url.rstrip("/") + "/" + url.lstrip("/")
        sent = dict(headers)
        given = {name.lower() for name in sent}
        for name in ("User-Agent", "Accept-Encoding"):  # http.client and urllib3 add their own
            if name.lower() not in given:
                sent[name] = SKIP_HEADER
        _check_headers(method, url, {k: v for k, v in sent.items() if v is not SKIP_HEADER})
        limit = self._timeout if timeout is None or timeout == self.timeout else _timeout(timeout)
        try:
            return self._pool.urlopen(method, url, body=body, headers=sent, redirect=False,
                                      retries=self._retries[False], timeout=limit,
                                      preload_content=False, decode_content=False)
        except Exception as exc:  # noqa: BLE001 - every failure is translated, below
            raise _translate(exc, method, url) from None


def _timeout(limit: Timeout) -> urllib3.Timeout:
    connect, read = limit if isinstance(limit, tuple) else (limit, limit)
    return urllib3.Timeout(connect=connect, read=read)


def _pool_manager(base_url: str, *, verify: bool | str, ca_data: str | None,
                  cert: str | tuple[str, str] | None, pool_size: int) -> Any:
    tls: dict[str, Any] = {}
    if verify is False:
        tls["cert_reqs"] = ssl.CERT_NONE
    else:
        tls["cert_reqs"] = ssl.CERT_REQUIRED
        if ca_data:
            tls["ca_cert_data"] = ca_data
        elif isinstance(verify, str):
            if not os.path.exists(verify):
                raise LocalFailure("TLS", base_url, f"the CA bundle {verify!r} does not exist")
            tls["ca_cert_dir" if os.path.isdir(verify) else "ca_certs"] = verify
        else:
            tls["ca_certs"] = certifi.where()
    if cert:
        tls["cert_file"], tls["key_file"] = cert if isinstance(cert, tuple) else (cert, None)
    _check_tls_files(base_url, tls)
    proxy = proxy_for(base_url)
    options = dict(num_pools=4, maxsize=pool_size, block=False, retries=False, **tls)
    if proxy is None:
        return urllib3.PoolManager(**options)
    try:
        parts = urllib3.util.parse_url(proxy)
    except u3.LocationParseError:
        raise LocalFailure("PROXY", base_url, "the proxy URL in the environment "
                           "(HTTPS_PROXY, HTTP_PROXY, ALL_PROXY) is not a URL") from None
    proxy_headers = urllib3.make_headers(proxy_basic_auth=parts.auth) if parts.auth else None
    return urllib3.ProxyManager(proxy, proxy_headers=proxy_headers, **options)


def _check_tls_files(base_url: str, tls: dict[str, Any]) -> None:
    """Load the CA bundle and client certificate once now, so that a bad one is named
    when the session is built rather than as a handshake failure on the first call."""
    if not any(tls.get(k) for k in ("ca_cert_data", "ca_certs", "ca_cert_dir", "cert_file")) \
            or tls.get("ca_certs") == certifi.where() and not tls.get("cert_file"):
        return
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        if tls.get("ca_cert_data") or tls.get("ca_certs") or tls.get("ca_cert_dir"):
            context.load_verify_locations(cafile=tls.get("ca_certs"), capath=tls.get("ca_cert_dir"),
                                          cadata=tls.get("ca_cert_data"))
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise LocalFailure("TLS", base_url, f"the CA bundle cannot be used ({_reason(exc)}: "
                                            "not PEM certificates?)") from None
    try:
        if tls.get("cert_file"):
            context.load_cert_chain(tls["cert_file"], tls.get("key_file"))
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise LocalFailure("TLS", base_url, "the client certificate or key cannot be used "
                                            f"({_reason(exc)})") from None


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url``, or None (``NO_PROXY`` honoured)."""
    proxies = urllib.request.getproxies_environment()
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host or urllib.request.proxy_bypass(host):
        return None
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    return proxy or None


# -- translating urllib3's failures ---------------------------------------------------

# Phrases worth quoting from an exception's text; the rest names internal objects.
_REASONS = ("certificate verify failed", "NO_CERTIFICATE_OR_CRL_FOUND", "No such file",
            "PEM lib", "doesn't match", "wrong version number",
            "Connection refused", "Connection reset", "Name or service not known",
            "nodename nor servname", "Temporary failure in name resolution",
            "Network is unreachable", "No route to host", "timed out", "Broken pipe")


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for phrase in _REASONS:
        if phrase in text:
            return phrase
    return type(exc).__name__


def _translate(exc: BaseException, method: str, url: str) -> TransportError:
    """The one mapping from urllib3's (and the socket's) failures to ours."""
    if isinstance(exc, u3.MaxRetryError):
        if exc.reason is None or isinstance(exc.reason, u3.ResponseError):
            return TooManyRedirects(method, url, "too many redirects")
        exc = exc.reason
    if isinstance(exc, u3.ProxyError):
        return ProxyFailure(method, url, f"proxy failed: {_reason(exc.original_error or exc)}")
    # NewConnectionError (and NameResolutionError under it) subclass ConnectTimeoutError
    # in urllib3 2: test them first.
    if isinstance(exc, (u3.NewConnectionError, u3.NameResolutionError)):
        return ConnectFailed(method, url, f"cannot connect: {_reason(exc)}")
    if isinstance(exc, u3.ConnectTimeoutError):
        return ConnectTimeout(method, url, "connect timed out")
    if isinstance(exc, (u3.ReadTimeoutError, TimeoutError)):
        return ReadTimeout(method, url, "read timed out")
    if isinstance(exc, u3.SSLError):
        return TLSFailure(method, url, f"TLS handshake failed: {_reason(exc)}")
    if isinstance(exc, (u3.ProtocolError, u3.DecodeError)):
        return ConnectionBroken(method, url, f"connection broken: {_reason(exc)}")
    if isinstance(exc, (u3.LocationValueError, u3.LocationParseError, u3.URLSchemeUnknown)):
        return BadRequest(method, url, "the URL cannot be used")
    if isinstance(exc, u3.HTTPError):
        return ConnectionBroken(method, url, type(exc).__name__)
    if isinstance(exc, (ssl.SSLError, FileNotFoundError, IsADirectoryError, PermissionError)):
        # Raised while building the TLS context: the CA bundle or the client certificate.
        return LocalFailure(method, url, "the CA bundle or client certificate cannot be "
                                         f"used ({type(exc).__name__})")
    if isinstance(exc, OSError):
        return ConnectionBroken(method, url, f"connection failed: {_reason(exc)}")
    if isinstance(exc, (ValueError, TypeError, UnicodeError)):
        return BadRequest(method, url, "the request cannot be sent as given")
    # Anything else (http.client's own exceptions, should one escape urllib3): named by
    # its class only, since its text may quote what was sent.
    return ConnectionBroken(method, url, f"the exchange failed ({type(exc).__name__})")


_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_BAD_NAME = re.compile(r"^$|[\s:\x00]")
_BAD_VALUE = re.compile(r"[\r\n\x00]|^[ \t]")


def _check_headers(method: str, url: str, headers: Mapping[str, str]) -> None:
    # The standard library refuses these with a message quoting the value; refuse them first,
    # naming the header only.
    for name, value in headers.items():
        if not isinstance(value, str) or _BAD_VALUE.search(value) or _BAD_NAME.search(name):
            raise BadRequest(method, url, f"header {name!r} cannot be sent (line break, NUL, "
                                          "leading whitespace or not a string)")
