"""Broker mode is a Vault front: the broker answers what it owns, Vault everything else.

:class:`VaultFront` wraps the broker's Flask application (as ``app.wsgi_app``). For
each request it decides, before Flask sees it, whether the broker owns it:

- a route of the broker's own (``jenkins/creds/<role>``, the admin paths under
  ``jenkins/``, ``sys/health``, the OpenAPI document) in the broker's namespace;
- ``sys/leases/*`` naming a lease id, or a prefix, under ``jenkins/creds/`` (the
  broker's leases); any other lease is Vault's;
- ``/metrics`` and ``/openapi.yaml``, outside Vault's ``/v1/``.

Every other request goes to the upstream Vault unchanged: method, path and query as
the caller sent them, body, and the caller's headers (``X-Vault-Token``,
``X-Vault-Namespace``, ``X-Vault-Wrap-TTL``, ``X-Vault-Request``, ``X-Vault-Index``,
``X-Vault-Inconsistent``, ...) but the hop-by-hop ones (RFC 9110, section 7.6.1: those of the
connection, and any the ``Connection`` header names). Vault's answer comes back as it
is (status, headers but the hop-by-hop ones, the body streamed without decoding). The
broker adds no token of its own, follows no redirect (a standby's 307 goes back to the
caller, as from Vault), and bounds what it forwards: request bodies at
``JENKINS_BROKER_FORWARD_MAX_BODY`` (Vault's own default, 32 MiB), each exchange at
``JENKINS_BROKER_FORWARD_TIMEOUT``. Forwarded requests are counted in
``jenkins_broker_forwarded_requests_total`` (method and status class only: a path can
hold a token) and never logged with their headers, path or body.

One answer of Vault's is completed, not only passed on: the list of lease prefixes at the
root (``LIST sys/leases/lookup/``, in the broker's namespace, unwrapped) gets ``jenkins/``
while the broker holds leases, as Vault's own list has it in plugin mode; the broker lists
what is below it (``jenkins/creds/``, the roles, the leases). Vault has answered the
caller first (200, or 404 for no lease at all): its policy decides, as always.

Namespaces: the broker serves its mount in its own namespace (its ``VAULT_NAMESPACE``,
root when unset). The namespace of a request is its ``X-Vault-Namespace`` followed by
any namespace at the front of its path, as Vault reads it; a request for a path in
another namespace does not match the broker's routes and goes to Vault.

Why not a library: werkzeug's ``ProxyMiddleware`` is meant for development (a new
``http.client`` connection per request, no pool, no TLS client settings, no body
bound); the proxy here is the request/answer copy above on urllib3, the pool and TLS
rules the broker already uses for Vault (``transport.Session.stream``).
"""

from __future__ import annotations

import io
import json
import logging
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import parse_qs, quote

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, RequestRedirect

from .. import transport
from ..errors import InvalidRequest
from ..values import LEASE_PREFIX
from .wrapping import parse_wrap_ttl

log = logging.getLogger(__name__)

#: Headers of one connection, never passed on (RFC 9110, section 7.6.1), and the ones the
#: exchange itself sets: the length of what is sent, and the host it is sent to.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "proxy-authenticate",
                        "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"})
_SET_BY_EXCHANGE = frozenset({"host", "content-length"})

#: The broker's own paths outside Vault's /v1/.
OWN_PATHS = frozenset({"/metrics", "/openapi.yaml"})

#: Lease endpoints: the lease they act on decides who answers.
_BY_LEASE_ID = frozenset({"leases.renew", "leases.revoke", "leases.lookup"})
_BY_PREFIX = frozenset({"leases.revoke_prefix", "leases.revoke_force", "leases.list_leases"})

_LEASE_BODY_LIMIT = 1024 * 1024  # the broker's own request limit (MAX_CONTENT_LENGTH)
_CHUNK = 64 * 1024

StartResponse = Callable[..., Any]


@dataclass(frozen=True)
class Upstream:
    """Where forwarded requests go: the Vault the broker runs in front of."""

    session: transport.Session
    namespace: str = ""          # the broker's own (its VAULT_NAMESPACE); "" is root
    max_body: int = 32 * 1024 * 1024
    timeout: float = 60.0

    def close(self) -> None:
        self.session.close()


def broker_lease(lease_id: Any) -> bool:
    """Whether ``lease_id`` is one of the broker's (``jenkins/creds/<role>/<id>``)."""
    return isinstance(lease_id, str) and lease_id.startswith(LEASE_PREFIX + "/")


def broker_prefix(prefix: str) -> bool:
    """Whether a lease prefix lies within the broker's leases (or names their parents)."""
    clean = prefix.strip("/")
    return clean in ("jenkins", LEASE_PREFIX) or clean.startswith(LEASE_PREFIX + "/")


class _TooLarge(Exception):
    pass


def _read_body(environ: dict[str, Any], limit: int) -> bytes:
    """The request body, at most ``limit`` bytes (``_TooLarge`` beyond it)."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length = environ.get("CONTENT_LENGTH") or ""
    if length:
        try:
            size = int(length)
        except ValueError:
            size = -1
        if size > limit:
            raise _TooLarge()
        return stream.read(size) if size > 0 else b""
    if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return b""
    data = stream.read(limit + 1)  # the server removed the chunked coding
    if len(data) > limit:
        raise _TooLarge()
    return data


def _error(start_response: StartResponse, status: int, message: str) -> list[bytes]:
    body = json.dumps({"errors": [message]}).encode()
    start_response(f"{status} {HTTPStatus(status).phrase}",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                    ("Cache-Control", "no-store")])
    return [body]


class _Answer:
    """Vault's answer body, passed on as it arrives; the connection goes back to the
    pool once it is read to the end, and is dropped if the caller left before."""

    def __init__(self, answer: Any):
        self._answer = answer
        self._done = False

    def __iter__(self) -> Iterator[bytes]:
        yield from self._answer.stream(_CHUNK, decode_content=False)
        self._done = True

    def close(self) -> None:
        if self._done:
            self._answer.release_conn()
        else:
            self._answer.close()


class VaultFront:
    """WSGI middleware: the broker's own requests to ``app``, the rest to ``upstream``."""

    def __init__(self, app: Callable[..., Iterable[bytes]], url_map: Map, upstream: Upstream, *,
                 forwarded: Any = None, holds_leases: Callable[[], bool] | None = None):
        self.app = app
        self.url_map = url_map
        self.upstream = upstream
        self.namespace = upstream.namespace.strip("/")
        self._forwarded = forwarded  # a prometheus Counter (method, status class), or None
        # Whether the broker holds any lease: ``jenkins/`` in the root list of lease prefixes.
        self._holds_leases = holds_leases

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            owned, body = self._owned(environ)
        except _TooLarge:  # a body for one of the broker's lease endpoints
            return _error(start_response, 413, "request body too large (the limit is 1 MB)")
        if owned:
            return self.app(environ, start_response)
        return self._forward(environ, start_response, body)

    # -- who answers -------------------------------------------------------------------

    def _owned(self, environ: dict[str, Any]) -> tuple[bool, bytes | None]:
        """(whether the broker answers, the body if it had to be read to decide). When the
        broker answers, ``environ`` is left ready for it: the path without its namespace,
        the body (if read) put back."""
        path = environ.get("PATH_INFO") or "/"
        if path in OWN_PATHS:
            return True, None
        local = self._local(environ)
        if local is None:
            return False, None
        try:
            rule, args = self.url_map.bind("broker").match(
                "/v1/" + local, method=environ.get("REQUEST_METHOD", "GET"), return_rule=True)
        except NotFound:
            return False, None
        except (MethodNotAllowed, RequestRedirect):
            if local.strip("/") == "sys/leases/lookup" and environ.get("REQUEST_METHOD") in ("GET", "LIST"):
                # PUT there looks a lease up (the broker's, for its leases); listing the
                # prefixes at the root is Vault's (completed with jenkins/, see above).
                return False, None
            return True, None  # the broker's path: it answers 405 (or 404) in Vault's shape
        body = None
        if rule.endpoint in _BY_LEASE_ID:
            lease_id = args.get("lease_id")
            if lease_id is None:
                try:
                    body = _read_body(environ, _LEASE_BODY_LIMIT)
                except _TooLarge:
                    if environ.get("CONTENT_LENGTH"):  # nothing read: the broker says 413
                        environ["PATH_INFO"] = "/v1/" + local
                        return True, None
                    raise
                environ["wsgi.input"] = io.BytesIO(body)
                environ["CONTENT_LENGTH"] = str(len(body))
                environ.pop("HTTP_TRANSFER_ENCODING", None)
                try:
                    parsed = json.loads(body or b"{}")
                except ValueError:
                    parsed = None
                if not isinstance(parsed, dict):  # names no lease: the broker says what is wrong
                    environ["PATH_INFO"] = "/v1/" + local
                    return True, body
                lease_id = parsed.get("lease_id")
            if not broker_lease(lease_id):
                return False, body
        elif rule.endpoint in _BY_PREFIX and not broker_prefix(args.get("prefix", "")):
            return False, None
        environ["PATH_INFO"] = "/v1/" + local
        return True, body

    def _local(self, environ: dict[str, Any]) -> str | None:
        """The request's Vault path (after ``/v1/``) within the broker's namespace, or None
        for a path outside ``/v1/`` or in another namespace."""
        path = environ.get("PATH_INFO") or "/"
        if not path.startswith("/v1/"):
            return None
        namespace = environ.get("HTTP_X_VAULT_NAMESPACE", "").strip("/")
        full = "/".join(part for part in (namespace, path[4:].lstrip("/")) if part)
        if self.namespace:
            if not full.startswith(self.namespace + "/"):
                return None
            return full[len(self.namespace) + 1:]
        if namespace:
            return None  # the root namespace is the broker's; this one is not
        return path[4:]

    def _lists_lease_roots(self, environ: dict[str, Any]) -> bool:
        """Whether the request lists the lease prefixes at the root, unwrapped, in the
        broker's namespace (the answer the broker completes with ``jenkins/``)."""
        # The cheap tests first: this runs for every request passed on to Vault.
        method = environ.get("REQUEST_METHOD", "GET")
        if self._holds_leases is None or method not in ("LIST", "GET"):
            return False
        local = self._local(environ)
        if local is None or local.strip("/") != "sys/leases/lookup":
            return False
        if method == "GET" and parse_qs(environ.get("QUERY_STRING", "")).get("list") != ["true"]:
            return False
        try:
            return parse_wrap_ttl(environ.get("HTTP_X_VAULT_WRAP_TTL")) is None
        except InvalidRequest:
            return False  # Vault refuses the header itself

    def _with_broker_leases(self, answer: Any, start_response: StartResponse) -> Iterable[bytes]:
        """Vault's root list of lease prefixes (200, or 404 for none), with ``jenkins/``
        added while the broker holds leases; Vault's answer unchanged otherwise."""
        try:
            raw = answer.read(decode_content=False)  # a short list, from the Vault the broker trusts
        except Exception as exc:  # noqa: BLE001 - urllib3's read failures: the answer is lost
            answer.close()
            log.warning("listing lease prefixes: Vault's answer broke off (%s)", type(exc).__name__)
            return _error(start_response, 502, "Vault's answer broke off; try again")
        answer.release_conn()
        status, headers = answer.status, self._answer_headers(answer.headers)
        try:
            held = self._holds_leases is not None and self._holds_leases()
            document = json.loads(raw or b"{}")
            keys = list((document.get("data") or {}).get("keys") or []) if status == 200 else []
        except Exception as exc:  # noqa: BLE001 - Vault down for the broker, or not JSON: Vault's answer
            log.warning("listing lease prefixes: Vault's answer passed on as it is (%s)",
                        type(exc).__name__)
            held = False
        if held:
            if status != 200:  # Vault's 404 for no lease at all: its list shape, as from Vault
                document = {"request_id": "", "lease_id": "", "renewable": False,
                            "lease_duration": 0, "wrap_info": None, "warnings": None, "auth": None}
            document["data"] = {"keys": sorted(set(keys) | {"jenkins/"})}
            raw, status = json.dumps(document).encode(), 200
        headers = [(k, v) for k, v in headers if k.lower() not in ("content-length", "content-encoding")]
        start_response(f"{status} {_phrase(status)}", [*headers, ("Content-Length", str(len(raw)))])
        return [raw]

    # -- passing it on -------------------------------------------------------------------

    def _forward(self, environ: dict[str, Any], start_response: StartResponse,
                 body: bytes | None) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        started = time.monotonic()
        if body is None:
            try:
                body = _read_body(environ, self.upstream.max_body)
            except _TooLarge:
                self._count(method, 413)
                return _error(start_response, 413, "request body too large for the broker to "
                              f"pass on (over {self.upstream.max_body} bytes)")
        completed = self._lists_lease_roots(environ)
        headers = self._request_headers(environ)
        if completed:  # its answer is read and rewritten: as plain JSON
            headers = {k: v for k, v in headers.items() if k.lower() != "accept-encoding"}
        try:
            answer = self.upstream.session.stream(
                method, self._target(environ), body=body or None,
                headers=headers, timeout=self.upstream.timeout)
        except transport.TransportError as exc:
            self._count(method, 502)
            log.warning("forwarding a %s request to Vault failed: %s", method, exc.reason)
            return _error(start_response, 502, "Vault did not answer the broker "
                          f"({type(exc).__name__}); try again, or ask the broker's operator")
        self._count(method, answer.status)
        log.debug("forwarded %s to Vault: %s in %.3f s", method, answer.status,
                  time.monotonic() - started)
        if completed and answer.status in (200, 404):
            return self._with_broker_leases(answer, start_response)
        reason = answer.reason or _phrase(answer.status)
        start_response(f"{answer.status} {reason}", self._answer_headers(answer.headers))
        return _Answer(answer)

    def _target(self, environ: dict[str, Any]) -> str:
        """The path and query exactly as the caller sent them."""
        raw = environ.get("REQUEST_URI") or environ.get("RAW_URI")
        if raw and raw.startswith("/"):
            return raw
        path = quote(environ.get("PATH_INFO") or "/", safe="/:@!$&'()*+,;=-._~")
        query = environ.get("QUERY_STRING")
        return f"{path}?{query}" if query else path

    @staticmethod
    def _request_headers(environ: dict[str, Any]) -> dict[str, str]:
        named = {n.strip().lower() for n in environ.get("HTTP_CONNECTION", "").split(",")}
        headers = {}
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                name = key[5:].replace("_", "-")
            elif key in ("CONTENT_TYPE",):
                name = "CONTENT-TYPE"
            else:
                continue
            lower = name.lower()
            if lower in HOP_BY_HOP or lower in named or lower in _SET_BY_EXCHANGE or not value:
                continue
            headers[name.title()] = value
        return headers

    @staticmethod
    def _answer_headers(headers: Any) -> list[tuple[str, str]]:
        named = {n.strip().lower() for n in headers.get("Connection", "").split(",")}
        return [(name, value) for name, value in headers.items()
                if name.lower() not in HOP_BY_HOP and name.lower() not in named]

    def _count(self, method: str, status: int) -> None:
        if self._forwarded is not None:
            self._forwarded.labels(method if method.isalpha() and len(method) <= 8 else "other",
                                   f"{status // 100}xx").inc()


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
