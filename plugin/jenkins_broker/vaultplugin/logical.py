"""The engine's view of a Vault request and response, free of gRPC and protobuf.

Path handlers take a :class:`Request` and return a :class:`Response` (or
``None``: nothing there, which Vault answers 404 for a read). Caller mistakes
and upstream faults are raised as :class:`LogicalError` subclasses; the gRPC
adapter (:mod:`.grpcbackend`) turns them into OpenBao's error types, so that
Vault answers with the status named here::

    LogicalError                  a status and a message (the message reaches the caller)
    ├── BadRequest                400: the caller sent something wrong; names the field
    ├── NotFound                  404: no such role (the message says which)
    ├── UnsupportedPath           404: no such path in this engine
    ├── UnsupportedOperation      405: the path does not do that
    └── UpstreamError             502: Jenkins failed or refused; the caller may retry

Anything else a handler raises is a fault: 500 with a redacted message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .storage import Storage

NANOSECONDS = 1_000_000_000


class LogicalError(Exception):
    """An answer that is an error; ``status`` is the HTTP status Vault sends."""

    status = 500


class BadRequest(LogicalError):
    """400: the request is malformed or asks for something invalid."""

    status = 400


class NotFound(LogicalError):
    """404 with a message (a role that does not exist)."""

    status = 404


class UnsupportedPath(LogicalError):
    """404: the engine has no such path."""

    status = 404


class UnsupportedOperation(LogicalError):
    """405: the path exists but does not support the operation."""

    status = 405


class UpstreamError(LogicalError):
    """502: Jenkins could not do what was asked (down, refused, credential revoked)."""

    status = 502


@dataclass
class LeaseOptions:
    """A lease's timing, in whole seconds (the adapter converts to Go's nanoseconds)."""

    ttl: int = 0
    max_ttl: int = 0
    renewable: bool = True
    increment: int = 0
    issue_time: float | None = None  # seconds since the epoch


@dataclass
class Secret:
    """A leased secret: its lease options and the internal data Vault keeps for revoke/renew."""

    lease: LeaseOptions
    internal_data: dict[str, Any] = field(default_factory=dict)
    lease_id: str = ""


@dataclass
class Request:
    """One request from Vault, with the mount's storage."""

    operation: str
    path: str
    storage: Storage
    data: dict[str, Any] = field(default_factory=dict)
    secret: Secret | None = None
    display_name: str = ""
    mount_point: str = ""
    entity_id: str = ""
    id: str = ""


@dataclass
class Response:
    """What a handler answers. ``data`` is shown to the caller; ``secret`` makes it a lease."""

    data: dict[str, Any] = field(default_factory=dict)
    secret: Secret | None = None
    warnings: list[str] = field(default_factory=list)


def field_value(request: Request, name: str, default: Any = None) -> Any:
    """The value of ``name`` in the request data, or ``default`` when it was not sent."""
    value = request.data.get(name)
    return default if value is None else value
