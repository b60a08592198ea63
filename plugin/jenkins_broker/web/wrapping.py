"""Response wrapping (``X-Vault-Wrap-TTL``) of the broker's own answers, as Vault does it.

The header is read before the request does anything: a value Vault cannot read is a 400
in Vault's words ("error parsing X-Vault-Wrap-TTL header: ..."), so nothing is minted or
written; absent, empty or ``0`` means no wrapping, as in Vault. A mint wraps its own secret
(:mod:`.creds`, which must withdraw the lease when the wrapping fails); any other answer of
the broker's that carries ``data`` (a role, the config, a lease lookup, a list) is wrapped
here, after the view, in Vault with the caller's token (``sys/wrapping/wrap``), and the
caller gets only ``wrap_info``.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, g, jsonify, request

from ..durations import parse_duration
from ..errors import BrokerError, InvalidRequest, VaultForbidden
from .auth import caller_token
from .errors import Forbidden, for_caller, status_for, vault_error

HEADER = "X-Vault-Wrap-TTL"


def parse_wrap_ttl(raw: str | None) -> int | None:
    """The header's value as seconds, or None for no wrapping; raises ``InvalidRequest``."""
    text = (raw or "").strip()
    if not text:
        return None
    if text.startswith("-"):
        raise InvalidRequest(f"error parsing {HEADER} header: requested wrap ttl cannot be negative")
    try:
        seconds = parse_duration(text, field=HEADER)
    except ValueError as exc:
        raise InvalidRequest(f"error parsing {HEADER} header: {str(exc).removeprefix(HEADER + ': ')}") from None
    return seconds or None


def wrap_ttl() -> int | None:
    """This request's wrapping TTL in seconds (read by :func:`init_app`'s hook), or None."""
    return g.get("wrap_ttl")


def wrap(services, data: dict, ttl: int) -> dict:
    """Wrap ``data`` in Vault for ``ttl`` seconds with the caller's token; Vault's answer
    (``wrap_info``). The token was found valid just before: a refusal means its policies deny
    ``sys/wrapping/wrap`` (Vault's default policy grants it), which is the caller's 403."""
    try:
        return services.authorizer.wrap(caller_token(), data, str(ttl))
    except VaultForbidden:
        raise Forbidden("permission denied: this token may not use sys/wrapping/wrap, which "
                        f"{HEADER} asks for (Vault's default policy grants it)") from None


def init_app(app: Flask) -> None:
    """Read the header before every view; wrap the answers that carry data after it."""

    @app.before_request
    def _read_wrap_ttl() -> None:
        g.wrap_ttl = parse_wrap_ttl(request.headers.get(HEADER))

    @app.after_request
    def _wrap(response: Response) -> Response:
        ttl = g.get("wrap_ttl")
        if not ttl or response.status_code != 200 or not response.is_json:
            return response
        payload = response.get_json(silent=True)
        if not isinstance(payload, dict) or payload.get("data") is None or payload.get("wrap_info"):
            return response
        try:
            wrapped = wrap(current_app.extensions["jenkins_broker"], payload["data"], ttl)
        except BrokerError as exc:
            return vault_error(status_for(exc), for_caller(exc))
        return jsonify(wrapped)
