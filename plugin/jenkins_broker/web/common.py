"""Request parsing and Vault-shaped responses shared by the blueprints."""

from __future__ import annotations

import random
import uuid
from typing import Any

from flask import current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from ..domain.records import LeaseRecord
from ..durations import parse_duration
from ..errors import InvalidRequest
from ..values import request_flag


def body() -> dict[str, Any]:
    """The request's JSON object (empty if none); raises ``InvalidRequest`` otherwise.

    Vault's CLI sends JSON; form bodies and query parameters are accepted too.
    """
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and request.content_length > limit:
        _drain(request.content_length)
        raise RequestEntityTooLarge()
    raw = request.get_data(cache=True)
    if request.content_length is None and len(raw) >= current_app.config["MAX_CONTENT_LENGTH"]:
        # A chunked body is cut at the limit by werkzeug rather than refused: refuse it.
        raise RequestEntityTooLarge()
    if not raw:
        data: Any = {}
    else:
        try:
            data = request.get_json(silent=True, force=True)
        except RecursionError:
            raise InvalidRequest("the request body is nested too deeply") from None
        if data is None:
            raise InvalidRequest("the request body is not valid JSON")
    if not isinstance(data, dict):
        raise InvalidRequest("the request body must be a JSON object")
    merged = {k: v for k, v in request.args.items() if k != "list"}
    merged.update(data)
    return merged


_DRAIN_LIMIT = 16 * 1024 * 1024


def _drain(length: int) -> None:
    """Read and drop a refused body (up to 16 MB), so the client, still sending it, can
    read the 413 instead of seeing its connection reset mid-upload."""
    if length > _DRAIN_LIMIT:
        return
    stream = request.environ.get("wsgi.input")
    left = length
    while stream is not None and left > 0:
        chunk = stream.read(min(left, 64 * 1024))
        if not chunk:
            break
        left -= len(chunk)


def duration_param(data: dict[str, Any], name: str) -> int | None:
    """``data[name]`` as seconds, ``None`` if absent or empty; raises ``InvalidRequest``."""
    value = data.get(name)
    # As in Vault, an empty or zero duration means "the default"; a boolean is a mistake.
    if value is None or (not isinstance(value, bool) and value in ("", 0, "0")):
        return None
    try:
        return parse_duration(value, field=name)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


def is_list() -> bool:
    """True for Vault's LIST verb, or ``GET ?list=true`` (any boolean word of the vocabulary;
    another value is a 400, as Vault answers it)."""
    if request.method == "LIST":
        return True
    flag = request.args.get("list", "")
    return request.method == "GET" and flag != "" and request_flag("list", flag)


def response(data: dict[str, Any] | None = None, *, lease_id: str = "", lease_duration: int = 0,
             renewable: bool = False, warnings: list[str] | None = None, status: int = 200):
    """A Vault secret/response envelope."""
    # A request id needs to be unique, not secret: no need to pay for os.urandom here.
    request_id = str(uuid.UUID(int=random.getrandbits(128), version=4))
    out = jsonify({"request_id": request_id, "lease_id": lease_id, "renewable": renewable,
                   "lease_duration": lease_duration, "data": data, "wrap_info": None,
                   "warnings": warnings or None, "auth": None})
    out.status_code = status
    return out


def keys_response(keys: list[str]):
    """Vault's LIST answer; 404 with no errors when there is nothing, as Vault does."""
    if not keys:
        out = jsonify({"errors": []})
        out.status_code = 404
        return out
    return response({"keys": keys})


def lease_response(record: LeaseRecord, now: float, data: dict[str, Any] | None = None,
                   warnings: list[str] | None = None):
    """The envelope for a minted or renewed lease."""
    return response(data, lease_id=record.lease_id, renewable=not record.shared,
                    lease_duration=max(0, int(round(record.expires_at - now))), warnings=warnings)


def no_content():
    """Vault's 204 for writes that return nothing."""
    return "", 204
