"""Errors to HTTP, in one place, in Vault's ``{"errors": [...]}`` shape.

Caller mistakes are 4xx with a message that says what to fix. Jenkins trouble
is 502/503/504 (the broker is a gateway to it); Vault trouble is 503. Anything
unexpected is a 500 whose message carries no detail (the log has it).
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from .. import errors as e

log = logging.getLogger(__name__)

# Most specific class first: the first match wins.
STATUS = (
    (e.UnknownRole, 404),
    (e.RoleDisabled, 403),
    (e.LeaseNotFound, 400),
    (e.LeaseRevoking, 400),
    (e.QuotaExceeded, 429),
    (e.InvalidRequest, 400),
    (e.RequestError, 400),
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


class Unauthorized(e.RequestError):
    """401: no Vault token was sent."""


class Forbidden(e.RequestError):
    """403: the caller's Vault token does not grant the capability."""


def status_for(exc: BaseException) -> int:
    """The HTTP status for a broker exception."""
    if isinstance(exc, Unauthorized):
        return 401
    if isinstance(exc, Forbidden):
        return 403
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


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
        if status >= 500:
            log.warning("%s: %s", type(exc).__name__, e.redact(str(exc)))
        return vault_error(status, e.redact(str(exc), limit=1000))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        messages = {404: "unsupported path", 405: "unsupported operation",
                    413: "request body too large (the limit is 1 MB)"}
        response = vault_error(exc.code or 500, messages.get(exc.code, exc.description or exc.name))
        if exc.code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unexpected error")
        return vault_error(500, "internal error; see the broker's log")
