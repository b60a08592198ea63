"""How Jenkins' answers and transport failures become errors.py exceptions.

This is the mapping half of the client boundary: :mod:`.client` sends requests
and hands every failure and every answer to the functions here, and nothing else
in the project turns HTTP into exceptions. Everything is pure (no I/O), so each
row of the tables is unit-tested on its own.

Two tables:

* :data:`TRANSPORT_ERRORS`: every :class:`~jenkins_broker.transport.TransportError`
  class → (error class, advice); a test fails if a class is missing.
* :func:`error_for_status`: HTTP status (and, for 403, the body and headers) →
  error, following docs/jenkins-behaviour.md §5.

Messages name the URL (never with credentials: the client refuses URLs with
user-info), the Jenkins user and what to do. Any text Jenkins sent is passed
through :func:`~jenkins_broker.errors.redact` first, and credentials are never
formatted in.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any, Mapping, TypeVar

from .. import transport
from ..errors import (
    BrokerError,
    ConfigError,
    JenkinsAuthError,
    JenkinsBadRequest,
    JenkinsConnectionError,
    JenkinsCrumbError,
    JenkinsError,
    JenkinsForbidden,
    JenkinsMethodNotAllowed,
    JenkinsNotFound,
    JenkinsOperationFailed,
    JenkinsProtocolError,
    JenkinsServerError,
    JenkinsTimeout,
    JenkinsUnavailable,
    JenkinsUnsupported,
    redact,
)
from ..transport import safe_url

CRUMB_ERROR_TEXT = "No valid crumb was included in the request"
LEGACY_DISABLED_TEXT = "Capability to generate a legacy token"
TOKEN_IS_HIDDEN_TEXT = "Token is hidden"
ADMIN_PROPERTY = "-Djenkins.security.ApiTokenProperty.adminCanGenerateNewTokens=true"

_LEGACY_VALUE = re.compile(r"[0-9a-f]{32}")

# ---------------------------------------------------------------------------
# transport failures
# ---------------------------------------------------------------------------

#: :class:`~jenkins_broker.transport.TransportError` class → (exception raised, advice
#: for the operator). A test fails if a transport class is missing.
TRANSPORT_ERRORS: dict[type[transport.TransportError], tuple[type[BrokerError], str]] = {
    transport.ConnectTimeout: (
        JenkinsTimeout, "could not connect within the client timeout; check the URL, "
                        "firewalls and that Jenkins is running"),
    transport.ReadTimeout: (
        JenkinsTimeout, "Jenkins accepted the connection but did not answer within the "
                        "client timeout; it may be overloaded, restarting or hung"),
    transport.TLSFailure: (
        JenkinsConnectionError, "the TLS handshake failed; if Jenkins' certificate comes from "
                                "a private CA, configure its CA bundle (the verify setting), "
                                "and check that the URL scheme matches the port"),
    transport.ProxyFailure: (
        JenkinsConnectionError, "the HTTP proxy (HTTP_PROXY/HTTPS_PROXY) refused or failed the "
                                "connection; check the proxy or add Jenkins to NO_PROXY"),
    transport.ConnectFailed: (
        JenkinsConnectionError, "could not connect; check the URL and that Jenkins is running "
                                "and reachable from the broker"),
    transport.ConnectionBroken: (
        JenkinsConnectionError, "the connection broke while Jenkins was answering; retry later"),
    transport.TooManyRedirects: (
        JenkinsProtocolError, "Jenkins (or a proxy) redirected in a loop; check that the URL is "
                              "Jenkins' root URL as configured in Manage Jenkins → System"),
    transport.BadRequest: (
        JenkinsProtocolError, "the request cannot be sent (a header value such as a crumb "
                              "field Jenkins sent cannot be sent back); something in front of "
                              "Jenkins answered oddly"),
    transport.LocalFailure: (
        ConfigError, "a local TLS or proxy setting cannot be used (is the CA bundle readable "
                     "PEM? is the proxy URL valid?)"),
}


_E = TypeVar("_E", bound=BaseException)


def scrub(error: _E, secrets: tuple[str, ...] = ()) -> _E:
    """``error`` with any of ``secrets`` masked in its message (defence in depth)."""
    message = str(error)
    for secret in secrets:
        if secret and secret in message:
            message = message.replace(secret, "<redacted>")
    error.args = (message,)
    return error


def error_for_transport(exc: transport.TransportError, *, method: str, url: str,
                        user: str | None, what: str, timeout: Any = None,
                        secrets: tuple[str, ...] = ()) -> BrokerError:
    """The errors.py exception for a request that got no answer from Jenkins.

    ``secrets`` (the credential in use) are masked should they ever appear.
    """
    target, advice = TRANSPORT_ERRORS[type(exc)]
    shown = safe_url(url)
    limit = f" (timeout {timeout} s)" if target is JenkinsTimeout and timeout else ""
    message = (f"Jenkins request failed while {what}: {method} {shown}: {advice}{limit} "
               f"[{redact(exc.reason, limit=160)}].")
    if issubclass(target, JenkinsError):
        return scrub(target(message, url=shown, user=user), secrets)
    return scrub(target(message), secrets)


# ---------------------------------------------------------------------------
# HTTP answers
# ---------------------------------------------------------------------------

def page_text(body: str, limit: int = 200) -> str:
    """The readable text of an HTML error page (or plain text), redacted and cut."""
    body = body or ""
    body = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", body)
    body = re.sub(r"(?s)<[^>]*>", " ", body)
    return redact(html.unescape(body), limit=limit)


def is_crumb_error(status: int, body: str, reason: str | None = None) -> bool:
    """True for Jenkins' 403 "No valid crumb was included in the request" (§3.5)."""
    return status == 403 and (CRUMB_ERROR_TEXT in (body or "") or CRUMB_ERROR_TEXT in (reason or ""))


def error_for_status(status: int, headers: Mapping[str, str], body: str, *, url: str,
                     user: str | None, as_user: str | None, what: str,
                     reason: str | None = None,
                     empty_403: type[JenkinsForbidden] | None = None,
                     empty_403_message: str | None = None,
                     secrets: tuple[str, ...] = ()) -> JenkinsError | None:
    """The errors.py exception for a non-2xx answer, or ``None`` for a 2xx one.

    ``user`` is the Jenkins user acted on, ``as_user`` the one authenticated as
    (``None`` when anonymous). ``empty_403``/``empty_403_message`` give the class
    and message for a 403 with an empty body, which only the token-creation
    endpoints send (§4.1). ``secrets`` are masked should Jenkins echo one.
    """
    if 200 <= status < 300:
        return None
    return scrub(_status_error(status, headers, body, url=url, user=user, as_user=as_user,
                               what=what, reason=reason, empty_403=empty_403,
                               empty_403_message=empty_403_message), secrets)


def _status_error(status: int, headers: Mapping[str, str], body: str, *, url: str,
                  user: str | None, as_user: str | None, what: str, reason: str | None,
                  empty_403: type[JenkinsForbidden] | None,
                  empty_403_message: str | None) -> JenkinsError:
    shown = safe_url(url)
    who = f"user {as_user!r}" if as_user else "an anonymous caller"
    where = f"Jenkins at {shown} answered HTTP {status} while {what}"
    if status == 401:
        return JenkinsAuthError(
            f"{where}: it rejected the credential of {who}. The password or token is wrong, "
            "revoked or expired; store a working credential for this Jenkins user.",
            url=shown, user=user, status=status)
    if status == 403:
        return _forbidden(headers, body, shown=shown, user=user, as_user=as_user, who=who,
                          where=where, reason=reason, empty_403=empty_403,
                          empty_403_message=empty_403_message)
    if status == 404:
        return JenkinsNotFound(
            f"{where}: not found. Check that Jenkins has a user with the id {user!r} and that "
            "the URL is the Jenkins root URL." if user else
            f"{where}: not found. Check that the URL is the Jenkins root URL.",
            url=shown, user=user, status=status)
    if status == 405:
        return JenkinsMethodNotAllowed(
            f"{where}: the endpoint requires POST. A proxy in front of Jenkins may be turning "
            "the POST into a GET through a redirect (check the URL, including any context path).",
            url=shown, user=user, status=status)
    if status == 400:
        return JenkinsBadRequest(f"{where}: Jenkins rejected a parameter: {page_text(body)}",
                                 url=shown, user=user, status=status)
    if status == 429:
        return JenkinsUnavailable(f"{where}: too many requests (rate-limited by a proxy?); "
                                  "retry later.", url=shown, user=user, status=status)
    if status >= 500:
        return JenkinsServerError(
            f"{where}: Jenkins failed internally. Retry later; if it persists, read the "
            "Jenkins log.", url=shown, user=user, status=status)
    if 300 <= status < 400:
        target = safe_url(headers.get("Location", "")) if headers.get("Location") else "nowhere"
        return JenkinsProtocolError(
            f"{where}: it redirected to {redact(target, limit=120)}. A proxy or single sign-on "
            "in front of Jenkins probably wants a browser login; the broker needs direct API "
            "access with Basic credentials at Jenkins' root URL.",
            url=shown, user=user, status=status)
    return JenkinsProtocolError(f"{where}, a status Jenkins does not use here: "
                                f"{page_text(body, limit=120)}", url=shown, user=user,
                                status=status)


def _forbidden(headers: Mapping[str, str], body: str, *, shown: str, user: str | None,
               as_user: str | None, who: str, where: str, reason: str | None,
               empty_403: type[JenkinsForbidden] | None,
               empty_403_message: str | None) -> JenkinsForbidden:
    if is_crumb_error(403, body, reason):
        return JenkinsCrumbError(
            f"{where}: no valid CSRF crumb for {who}, even with a freshly fetched crumb and "
            "session. A proxy may be dropping the session cookie (JSESSIONID.*) or spreading "
            "requests over several Jenkins instances; an API-token credential needs no crumb.",
            url=shown, user=user, status=403)
    if not (body or "").strip() and empty_403 is not None:
        return empty_403(f"{where}: {empty_403_message or 'forbidden'}",
                         url=shown, user=user, status=403)
    permission = headers.get("X-Required-Permission")
    if permission:
        authenticated = headers.get("X-You-Are-Authenticated-As") or as_user or "anonymous"
        return JenkinsForbidden(
            f"{where}: {redact(authenticated, limit=80)!r} lacks the permission "
            f"{redact(permission, limit=80)}. Grant it, or use an administrator's credential.",
            url=shown, user=user, status=403)
    if "Authentication required" in (body or "") or as_user is None:
        return JenkinsForbidden(
            f"{where}: Jenkins treated the request as anonymous and anonymous may not do this. "
            "Configure a credential for this Jenkins.", url=shown, user=user, status=403)
    return JenkinsForbidden(
        f"{where}: {who} is not allowed to do this. Use a credential with the needed "
        f"permission. Jenkins said: {page_text(body, limit=120) or '<empty body>'}",
        url=shown, user=user, status=403)


def token_envelope(body: str, content_type: str, *, url: str, user: str | None,
                   what: str, secrets: tuple[str, ...] = ()) -> dict[str, Any]:
    """The ``data`` of a 200 ``{"status":"ok","data":{...}}`` answer (§4.0).

    Raises :class:`JenkinsOperationFailed` for ``{"status":"error"}`` (still
    HTTP 200 in Jenkins) and :class:`JenkinsProtocolError` for anything that is
    not the envelope (typically an SSO login page answered with 200).
    """
    shown = safe_url(url)
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict) or document.get("status") not in ("ok", "error"):
        return _not_envelope(content_type, shown, user, what)
    if document["status"] == "error":
        message = redact(str(document.get("message") or "no reason given"))
        raise scrub(JenkinsOperationFailed(f"Jenkins at {shown} refused {what}: {message}",
                                           url=shown, user=user, status=200), secrets)
    data = document.get("data")
    if data is None:
        return {}
    if not isinstance(data, dict):
        return _not_envelope(content_type, shown, user, what)
    return data


def _not_envelope(content_type: str, shown: str, user: str | None, what: str):
    kind = (content_type or "no content type").split(";")[0]
    raise JenkinsProtocolError(
        f"Jenkins at {shown} answered {kind} instead of its JSON envelope while {what}. "
        "Is the URL Jenkins' root URL, without a login page or proxy in between?",
        url=shown, user=user, status=200)


def json_object(body: str, content_type: str, *, url: str, user: str | None,
                what: str) -> dict[str, Any]:
    """A JSON object answer (``api/json``), or :class:`JenkinsProtocolError`."""
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        _not_envelope(content_type, safe_url(url), user, what)
    return document


def legacy_token_value(headers: Mapping[str, str], body: str, *, url: str, user: str,
                       as_user: str) -> str:
    """The new legacy token from a 200 ``changeToken`` answer (§4.7).

    Reads ``X-Jenkins-ValidateButton-Callback`` (2.540+) or else the ``script``
    header (before 2.540). Raises :class:`JenkinsUnsupported` when Jenkins may not
    create legacy tokens, :class:`JenkinsForbidden` when it hid the value, and
    :class:`JenkinsProtocolError` when no value can be found.
    """
    shown = safe_url(url)
    if LEGACY_DISABLED_TEXT in (body or ""):
        raise JenkinsUnsupported(
            f"Jenkins at {shown} refused to create a legacy token for {user!r}: creating a "
            "legacy token without an existing one is disabled in its security configuration. "
            "Enable it (Manage Jenkins → Security → API Token, creationOfLegacyTokenEnabled) or "
            "use the user-token, user-password, admin-script or admin-rest strategy.",
            url=shown, user=user, status=200)
    callback = headers.get("X-Jenkins-ValidateButton-Callback")
    if callback is not None:
        try:
            document = json.loads(callback)
        except ValueError:
            document = None
        arguments = document.get("arguments") if isinstance(document, dict) else None
        if (isinstance(document, dict) and document.get("callback") == "changeTokenCallback"
                and isinstance(arguments, list) and len(arguments) == 1
                and isinstance(arguments[0], str) and _LEGACY_VALUE.fullmatch(arguments[0])):
            return arguments[0]
        raise JenkinsProtocolError(
            f"Jenkins at {shown} rotated the legacy token of {user!r}, but its "
            "X-Jenkins-ValidateButton-Callback header holds no token value the broker "
            "recognises.", url=shown, user=user, status=200)
    script = headers.get("script")
    if script is not None:
        found = re.search(r"\.value\s*=\s*(['\"])(.*?)\1", script)
        value = found.group(2) if found else ""
        if _LEGACY_VALUE.fullmatch(value):
            return value
        if value == TOKEN_IS_HIDDEN_TEXT or TOKEN_IS_HIDDEN_TEXT in script:
            raise JenkinsForbidden(
                f"Jenkins at {shown} rotated the legacy token of {user!r} but showed "
                f"{as_user!r} only 'Token is hidden'. Before 2.540 Jenkins shows a legacy token "
                "only to its owner (or to administrators when started with "
                "-Djenkins.security.ApiTokenProperty.showTokenToAdmins=true): use the user's "
                "own credential for the legacy strategy.", url=shown, user=user, status=200)
        raise JenkinsProtocolError(
            f"Jenkins at {shown} rotated the legacy token of {user!r}, but its 'script' header "
            "holds no token value the broker recognises.", url=shown, user=user, status=200)
    raise JenkinsProtocolError(
        f"Jenkins at {shown} answered changeToken for {user!r} without the new value "
        "(neither X-Jenkins-ValidateButton-Callback nor script header). Is a proxy "
        "stripping response headers?", url=shown, user=user, status=200)


_VERSION = re.compile(r"\s*(\d+(?:\.\d+)*)")


def parse_version(text: str | None) -> tuple[int, ...] | None:
    """``"2.555.1"`` → ``(2, 555, 1)``; a suffix such as ``-rolling`` is ignored."""
    if not text:
        return None
    found = _VERSION.match(text)
    if not found:
        return None
    return tuple(int(part) for part in found.group(1).split("."))
