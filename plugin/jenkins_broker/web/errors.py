"""Errors to HTTP, in one place, in Vault's ``{"errors": [...]}`` shape.

Caller mistakes are 4xx with a message that says what to fix. Jenkins trouble
is 502/503/504 (the broker is a gateway to it); Vault trouble and a configuration
the broker cannot work with are 503. Anything unexpected is a 500 whose message
carries no detail (the log has it).
"""

from __future__ import annotations

import logging
import re

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from .. import errors as e

log = logging.getLogger(__name__)


class Unauthorized(e.CallerError):
    """401: no Vault token was sent."""


class Forbidden(e.CallerError):
    """403: the caller's Vault token does not grant the capability."""


#: The HTTP API's error table: most specific class first, the first match wins; no match
#: is a 500. The engine has its own (``vaultplugin.backend.ERRORS``) and differs on purpose:
#:
#: - ``ConfigError`` is 503 here, 400 there. The broker is a service of its own: a setting
#:   or a stored Jenkins connection it cannot work with is its operator's to fix, nothing a
#:   caller sent, and the broker is unavailable until then. The engine's config is its
#:   mount's own state, written through the same API: a request it cannot serve without
#:   it gets a 400 saying what to write.
#: - Jenkins failures are told apart here (503 refused, 504 timed out, 502 the rest), as a
#:   gateway does; the engine answers all of them 502.
#: - Vault failures are 503 here (Vault is the broker's upstream); the engine's storage is
#:   OpenBao itself, whose faults are 500 there.
STATUS = (
    (Unauthorized, 403),  # as Vault answers a request without a token
    (Forbidden, 403),
    (e.UnknownRole, 404),
    (e.RoleDisabled, 403),
    (e.LeaseNotFound, 400),
    (e.LeaseRevoking, 400),
    (e.QuotaExceeded, 429),
    (e.InvalidRequest, 400),
    (e.CallerError, 400),
    (e.JenkinsTimeout, 504),
    (e.JenkinsConnectionError, 503),
    (e.JenkinsServerError, 502),
    (e.JenkinsError, 502),
    (e.VaultForbidden, 503),  # the broker's own Vault token was refused (callers' become Forbidden)
    (e.VaultInvalidRequest, 400),
    (e.VaultConflict, 409),
    (e.VaultError, 503),
    (e.ConfigError, 503),
)


def status_for(exc: BaseException) -> int:
    """The HTTP status for a broker exception."""
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


#: An absolute URL, as Vault errors name the broker's Vault address (``Could not read at
#: http://vault:8200/v1/<path>: ...``). Callers get the Vault path; the log keeps the URL.
_ADDRESS = re.compile(r"\bhttps?://[^\s/]*[^\s/:](?:/v1/)?")


def for_caller(exc: e.BrokerError) -> str:
    """The message a caller sees for ``exc``: what went wrong and what to do, with token-shaped
    strings redacted and, for Vault errors, no internal address."""
    message = e.redact(str(exc), limit=1000)
    if isinstance(exc, e.VaultError):
        message = _ADDRESS.sub("Vault path ", message).replace("Vault path :", "Vault:")
    return message


def vault_error(status: int, *messages: str):
    """A Flask response in Vault's error shape."""
    response = jsonify({"errors": list(messages)})
    response.status_code = status
    return response


def init_app(app: Flask) -> None:
    """Register the handlers that turn every exception into Vault's error shape."""

    @app.errorhandler(e.BrokerError)
    def _broker_error(exc: e.BrokerError):
        status = status_for(exc)
        if status >= 500 or isinstance(exc, e.VaultError):
            log.warning("%s: %s", type(exc).__name__, e.redact(str(exc)))
        return vault_error(status, for_caller(exc))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        messages = {404: "unsupported path", 405: "unsupported operation",
                    413: "request body too large (the limit is 1 MB)"}
        code = exc.code or 500
        response = vault_error(code, messages.get(code, exc.description or exc.name))
        if exc.code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unexpected error")
        return vault_error(500, "internal error; see the broker's log")
