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
import logging
import re
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Protocol, runtime_checkable

from flask import current_app, request

from ..domain.records import Requester
from ..errors import VaultForbidden, redact
from .errors import Forbidden, Unauthorized

log = logging.getLogger(__name__)

# Vault tokens are short printable ASCII (hvs./s./b. prefixes plus base62).
_TOKEN = re.compile(r"[\x21-\x7e]{1,512}")


@runtime_checkable
class Authorizer(Protocol):
    """Asks Vault about a caller's token (implemented in ``vault/authz.py``)."""

    def capabilities(self, caller_token: str, path: str) -> set[str]: ...
    def lookup_self(self, caller_token: str) -> Mapping[str, Any]: ...
    def authorize(self, caller_token: str, path: str) -> tuple[set[str], Mapping[str, Any]]: ...
    def known(self, caller_token: str) -> bool: ...
    def wrap(self, caller_token: str, data: dict[str, Any], ttl: str) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Caller:
    """Who is calling (for the lease record) and when its Vault token expires (wall
    clock, None: never), which caps the leases it gets, as in Vault."""

    requester: Requester
    token_expires_at: float | None = None


def _caller(info: Mapping[str, Any]) -> Caller:
    return Caller(Requester(accessor=str(info.get("accessor") or ""),
                            entity_id=str(info.get("entity_id") or ""),
                            display_name=str(info.get("display_name") or "")),
                  info.get("expires_at"))



def caller_token() -> str:
    """The caller's Vault token from the request; raises ``Unauthorized``/``Forbidden``."""
    token = request.headers.get("X-Vault-Token", "")
    if not token:
        auth = request.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            token = auth[7:].strip()
    if not token:
        raise Unauthorized("permission denied: no Vault token was sent; send yours in the "
                           "X-Vault-Token header (or Authorization: Bearer), as the Vault CLI "
                           "does with VAULT_TOKEN")
    if not _TOKEN.fullmatch(token):
        raise Forbidden("permission denied: the X-Vault-Token header is not a well-formed Vault token")
    return token


def _allowed(granted: set[str], wanted: Iterable[str]) -> bool:
    if "deny" in granted:
        return False
    return "root" in granted or bool(granted & set(wanted))


def _refused(exc: VaultForbidden) -> Forbidden:
    # The caller's token is invalid or expired: the caller's problem (403). Elsewhere a
    # VaultForbidden means the broker's own token was refused, which is a 503. Vault's
    # message names the broker's Vault address: it goes to the log, not to the caller.
    if exc.status is None:
        # The broker's own words (a token with one use left, a malformed one): they name no
        # address and say more than the fixed answer below.
        return Forbidden(redact(str(exc)))
    log.info("a caller's token was refused: %s", redact(str(exc)))
    return Forbidden("permission denied: the Vault token sent is invalid, expired or revoked; "
                     "log in to Vault again (vault login) and retry with a fresh token")


def _deny_unless(granted: set[str], capabilities: tuple[str, ...], path: str) -> None:
    if not _allowed(granted, capabilities):
        raise Forbidden(f"permission denied: this token may not {'/'.join(capabilities)} {path}")


def _granted(path: str) -> set[str]:
    """The caller's capabilities on ``path`` (``sys/capabilities-self``: one use of its
    token). Raises ``Unauthorized`` (no token) or ``Forbidden`` (a refused token)."""
    token = caller_token()
    authorizer: Authorizer = current_app.extensions["jenkins_broker"].authorizer
    try:
        return authorizer.capabilities(token, path)
    except VaultForbidden as exc:
        raise _refused(exc) from None


def require(path: str, *capabilities: str) -> None:
    """Check that the caller holds one of ``capabilities`` on Vault path ``path``
    (``sys/capabilities-self``: one use of its token). Raises ``Unauthorized`` (no token)
    or ``Forbidden``; Vault errors propagate."""
    _deny_unless(_granted(path), capabilities, path)


def require_any(path: str) -> None:
    """Check that the caller may do something on ``path`` (any capability but ``deny``),
    as Vault asks of a ``help`` request. Raises as :func:`require`."""
    granted = _granted(path)
    if "deny" in granted or not granted:
        raise Forbidden(f"permission denied: this token may do nothing on {path}")


def identify(path: str, *capabilities: str) -> Caller:
    """:func:`require`, and who the caller is (for the record and the audit trail), for one
    use of its token (see ``CallerAuthz.authorize``)."""
    token = caller_token()
    authorizer: Authorizer = current_app.extensions["jenkins_broker"].authorizer
    try:
        granted, info = authorizer.authorize(token, path)
    except VaultForbidden as exc:
        raise _refused(exc) from None
    _deny_unless(granted, capabilities, path)
    return _caller(info)


class FastPath:
    """The mint fast path's state, one per broker (built by the composition root, closed
    with it): which (token, path) pairs Vault allowed within the last ``seconds`` (keyed by
    a SHA-256, never the token), and a small pool that runs the overlapped capability check.
    """

    def __init__(self, *, seconds: float = 60.0, entries: int = 10_000, workers: int = 16,
                 clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.entries = entries
        self.clock = clock
        self._recent: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="authz")

    @staticmethod
    def key(token: str, path: str) -> bytes:
        return hashlib.sha256(f"{path}\0{token}".encode()).digest()

    def recent(self, key: bytes) -> bool:
        """True if Vault allowed this pair within the last ``seconds``."""
        with self._lock:
            return self._recent.get(key, 0.0) > self.clock()

    def remember(self, key: bytes, allowed: bool) -> None:
        with self._lock:
            if allowed:
                self._recent[key] = self.clock() + self.seconds
                self._recent.move_to_end(key)
                while len(self._recent) > self.entries:
                    self._recent.popitem(last=False)
            else:
                self._recent.pop(key, None)

    def submit(self, fn: Callable, *args):
        return self._pool.submit(fn, *args)

    def close(self) -> None:
        """Stop the pool (checks in flight finish)."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def _fast_path() -> FastPath:
    return current_app.extensions["jenkins_broker"].fast_path


def mint_authorization(path: str, capability: str = "read") -> tuple[Caller, Callable[[], None] | None]:
    """Authorize a mint on ``path``: returns the caller and, on the fast path, a
    ``confirm`` to call once the token is minted (it raises ``Forbidden`` if Vault
    now says no; the caller must then revoke what it minted). On the slow path the
    check is done here and ``confirm`` is None. Either way one use of the token is spent.
    """
    token = caller_token()
    authorizer = current_app.extensions["jenkins_broker"].authorizer
    fast = _fast_path()
    key = fast.key(token, path)
    if not fast.recent(key) or not authorizer.known(token):
        caller = identify(path, capability)
        fast.remember(key, True)
        return caller, None
    pending = fast.submit(authorizer.capabilities, token, path)
    info = authorizer.lookup_self(token)  # answered from the identity cache

    def confirm() -> None:
        try:
            try:
                granted = pending.result()
            except VaultForbidden as exc:
                raise _refused(exc) from None
            _deny_unless(granted, (capability,), path)
        except Forbidden:
            fast.remember(key, False)
            raise
        fast.remember(key, True)

    return _caller(info), confirm
