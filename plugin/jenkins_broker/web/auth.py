"""Who is calling, and may they? Vault policies are the only source of truth.

The caller sends its own Vault token (``X-Vault-Token``, or ``Authorization:
Bearer``). The broker asks Vault, with that token, for its capabilities on the
Vault path the request stands for (``sys/capabilities-self``), and for who it
is (``auth/token/lookup-self``); the two calls run at the same time.

Mints have a fast path (:func:`mint_authorization`): when the same token was
allowed the same path within the last minute, the capability check runs while
the token is being minted instead of before, and a mint it turns out the
caller may no longer have is revoked before it is answered. Every mint is still
checked against Vault; only the waiting overlaps.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Protocol

from flask import current_app, request

from ..errors import VaultForbidden
from ..records import Requester
from .errors import Forbidden, Unauthorized

# Vault tokens are short printable ASCII (hvs./s./b. prefixes plus base62).
_TOKEN = re.compile(r"[\x21-\x7e]{1,512}")


class Authorizer(Protocol):
    """Asks Vault about a caller's token (implemented in ``vault/authz.py``)."""

    def capabilities(self, caller_token: str, path: str) -> set[str]: ...
    def lookup_self(self, caller_token: str) -> dict: ...
    def authorize(self, caller_token: str, path: str) -> tuple[set[str], dict]: ...
    def known(self, caller_token: str) -> bool: ...


@dataclass(frozen=True)
class Caller:
    """Who is calling (for the lease record) and when its Vault token expires (wall
    clock, None: never), which caps the leases it gets, as in Vault."""

    requester: Requester
    token_expires_at: float | None = None


def _caller(info: dict) -> Caller:
    return Caller(Requester(accessor=str(info.get("accessor") or ""),
                            entity_id=str(info.get("entity_id") or ""),
                            display_name=str(info.get("display_name") or "")),
                  info.get("expires_at"))


_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="authz")


def caller_token() -> str:
    """The caller's Vault token from the request; raises ``Unauthorized``/``Forbidden``."""
    token = request.headers.get("X-Vault-Token", "")
    if not token:
        auth = request.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            token = auth[7:].strip()
    if not token:
        raise Unauthorized("missing client token: send your Vault token in the X-Vault-Token header")
    if not _TOKEN.fullmatch(token):
        raise Forbidden("permission denied: the X-Vault-Token header is not a well-formed Vault token")
    return token


def _allowed(granted: set[str], wanted: Iterable[str]) -> bool:
    if "deny" in granted:
        return False
    return "root" in granted or bool(granted & set(wanted))


def require(path: str, *capabilities: str) -> None:
    """Check that the caller holds one of ``capabilities`` on Vault path ``path``
    (``sys/capabilities-self``: one use of its token). Raises ``Unauthorized`` (no token)
    or ``Forbidden``; Vault errors propagate."""
    token = caller_token()
    authorizer: Authorizer = current_app.extensions["jenkins_broker"].authorizer
    try:
        granted = authorizer.capabilities(token, path)
    except VaultForbidden as exc:
        # The caller's token is invalid or expired: the caller's problem (403). Elsewhere a
        # VaultForbidden means the broker's own token was refused, which is a 503.
        raise Forbidden(f"permission denied: {exc}") from None
    if not _allowed(granted, capabilities):
        raise Forbidden(f"permission denied: this token may not {'/'.join(capabilities)} {path}")


def identify(path: str, *capabilities: str) -> Caller:
    """:func:`require`, and who the caller is (for the record and the audit trail), for one
    use of its token (see ``CallerAuthz.authorize``)."""
    token = caller_token()
    authorizer: Authorizer = current_app.extensions["jenkins_broker"].authorizer
    try:
        granted, info = authorizer.authorize(token, path)
    except VaultForbidden as exc:
        raise Forbidden(f"permission denied: {exc}") from None
    if not _allowed(granted, capabilities):
        raise Forbidden(f"permission denied: this token may not {'/'.join(capabilities)} {path}")
    return _caller(info)


_RECENT_SECONDS = 60.0
_RECENT_ENTRIES = 10_000
_recent: OrderedDict[bytes, float] = OrderedDict()
_recent_lock = threading.Lock()


def _recent_key(token: str, path: str) -> bytes:
    return hashlib.sha256(f"{path}\0{token}".encode()).digest()


def _remember(key: bytes, allowed: bool) -> None:
    with _recent_lock:
        if allowed:
            _recent[key] = time.monotonic() + _RECENT_SECONDS
            _recent.move_to_end(key)
            while len(_recent) > _RECENT_ENTRIES:
                _recent.popitem(last=False)
        else:
            _recent.pop(key, None)


def mint_authorization(path: str, capability: str = "read") -> tuple[Caller, Callable[[], None] | None]:
    """Authorize a mint on ``path``: returns the caller and, on the fast path, a
    ``confirm`` to call once the token is minted (it raises ``Forbidden`` if Vault
    now says no; the caller must then revoke what it minted). On the slow path the
    check is done here and ``confirm`` is None. Either way one use of the token is spent.
    """
    token = caller_token()
    authorizer = current_app.extensions["jenkins_broker"].authorizer
    key = _recent_key(token, path)
    with _recent_lock:
        recent = _recent.get(key, 0.0) > time.monotonic()
    if not recent or not authorizer.known(token):
        caller = identify(path, capability)
        _remember(key, True)
        return caller, None
    pending = _pool.submit(authorizer.capabilities, token, path)
    info = authorizer.lookup_self(token)  # answered from the identity cache

    def confirm() -> None:
        try:
            granted = pending.result()
        except VaultForbidden as exc:
            _remember(key, False)
            raise Forbidden(f"permission denied: {exc}") from None
        if not _allowed(granted, (capability,)):
            _remember(key, False)
            raise Forbidden(f"permission denied: this token may not {capability} {path}")
        _remember(key, True)

    return _caller(info), confirm
