"""Asking Vault what a caller may do, with the caller's own token.

The broker never decides access itself: for ``read jenkins/creds/<role>`` it
asks Vault ``sys/capabilities-self`` with the token the caller sent, and
records who asked from ``auth/token/lookup-self``. Vault policies stay the only
source of truth.

These calls carry a different token on every request, in a per-request header,
through the broker's :class:`~jenkins_broker.vault.client.VaultClient` (the broker
shares its own; its default token is never used for a caller's question).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, TypedDict

from jenkins_broker.errors import CallerTokenGone, VaultError, VaultForbidden, VaultInvalidRequest
from jenkins_broker.vault.client import VaultClient
from jenkins_broker.vault.kv import check_path
from jenkins_broker.vault.settings import VaultSettings

_MAX_TOKEN = 4096
_IDENTITY_SECONDS = 3600.0
_IDENTITY_ENTRIES = 10_000


class CallerIdentity(TypedDict):
    """Who a caller is, as Vault knows it; never the token itself."""

    accessor: str
    entity_id: str
    display_name: str
    policies: list[str]
    ttl: int
    num_uses: int  # uses left after the lookup; 0: not use-limited
    expires_at: float | None  # wall clock; None for a token that never expires (root)


def _check_token(token: str | None) -> str:
    # Checked before anything is sent: a header with a newline or non-ASCII
    # would make requests raise, and a huge one is never a real Vault token.
    if not token:
        raise VaultForbidden("no Vault token was sent; log in to Vault and send the token "
                             "in X-Vault-Token")
    if (len(token) > _MAX_TOKEN or not token.isascii() or not token.isprintable()
            or any(c.isspace() for c in token)):
        raise VaultForbidden("the Vault token sent is malformed (not a Vault token); log in "
                             "to Vault again and send the token in X-Vault-Token")
    return token


class CallerAuthz:
    """Capability checks and identity lookups for callers' tokens.

    Build one per process from the broker's :class:`VaultSettings` (address,
    TLS, namespace, timeout); it is safe to share between threads.
    """

    def __init__(self, settings: VaultSettings, *, pool_size: int = 32,
                 broker_token: Callable[[], str] | None = None,
                 client: VaultClient | None = None):
        # The broker shares its own client (one pool of connections to Vault); the token
        # goes in each request's header, so sharing it shares no identity.
        self._owns_client = client is None
        self._client = client if client is not None else VaultClient(settings,
                                                                     pool_size=pool_size)
        self._identities: OrderedDict[bytes, tuple[float, CallerIdentity]] = OrderedDict()
        self._identity_lock = threading.Lock()
        # The broker's own token (it changes when the broker logs in again), for the calls
        # about a caller that must not spend the caller's token: lookup-accessor and
        # capabilities-accessor.
        self._broker_token = broker_token

    def close(self) -> None:
        """Close the kept-alive connections (of a client this authorizer built)."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> CallerAuthz:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _call(self, method: str, api: str, token: str, action: str,
              json: dict | None = None, kind: str = "caller") -> dict[str, Any]:
        token = _check_token(token)
        return self._client.request(method, api, token=token, action=action, json=json,
                                    kind=kind) or {}

    def capabilities(self, caller_token: str, path: str) -> set[str]:
        """Return the caller's capabilities on ``path`` (e.g. ``{"read"}``, ``{"deny"}``).

        ``POST /v1/sys/capabilities-self`` with the caller's token. Raises
        VaultForbidden if the token is missing, malformed, invalid or expired;
        VaultInvalidRequest for a bad path; VaultUnavailable if Vault is down.
        """
        path = check_path(path)
        body = self._call("POST", "sys/capabilities-self", caller_token,
                          f"check the caller's capabilities on {path}", json={"paths": [path]})
        data = body.get("data") or body
        caps = data.get(path)
        if caps is None:
            caps = data.get("capabilities") or []
        return set(caps)

    def wrap(self, caller_token: str, data: dict[str, Any], ttl: str) -> dict[str, Any]:
        """Wrap ``data`` in Vault with the caller's token (``sys/wrapping/wrap``, which Vault's
        default policy grants), for ``ttl`` (``X-Vault-Wrap-TTL``); returns Vault's answer
        (``wrap_info``, no data). Raises as :meth:`capabilities`, and VaultInvalidRequest
        for a TTL Vault refuses."""
        token = _check_token(caller_token)
        return self._client.request("POST", "sys/wrapping/wrap", token=token,
                                    action="wrap the answer", json=data, kind="caller",
                                    headers={"X-Vault-Wrap-TTL": ttl}, secrets=(token,)) or {}

    def can(self, caller_token: str, path: str, capability: str = "read") -> bool:
        """True if the caller has ``capability`` (or ``root``) on ``path``."""
        caps = self.capabilities(caller_token, path)
        return "deny" not in caps and (capability in caps or "root" in caps)

    def lookup_self(self, caller_token: str) -> CallerIdentity:
        """Return who the caller is: accessor, entity_id, display_name, policies, ttl.

        ``GET /v1/auth/token/lookup-self`` with the caller's token (which, unlike
        the answer's ``id`` field, is never returned). Raises as :meth:`capabilities`.

        A token's identity never changes, so answers are kept (keyed by the token's
        SHA-256, never the token) until the token would expire, for at most an hour.
        This decides nothing: whether the token is still valid and allowed is asked
        of Vault on every request, by :meth:`capabilities`.
        """
        key = hashlib.sha256(_check_token(caller_token).encode()).digest()
        now = time.monotonic()
        with self._identity_lock:
            hit = self._identities.get(key)
            if hit is not None and hit[0] > now:
                self._identities.move_to_end(key)
                return hit[1]
        body = self._call("GET", "auth/token/lookup-self", caller_token,
                          "look up the caller's token")
        identity = _identity(body.get("data") or {})
        if identity["num_uses"]:
            # A use-limited token is looked up on each read: that lookup is the read's one use.
            return identity
        keep = min(identity["ttl"] or _IDENTITY_SECONDS, _IDENTITY_SECONDS)
        with self._identity_lock:
            self._identities[key] = (now + keep, identity)
            while len(self._identities) > _IDENTITY_ENTRIES:
                self._identities.popitem(last=False)
        return identity

    def known(self, caller_token: str) -> bool:
        """True if this token's identity is already known (see :meth:`lookup_self`)."""
        return self._cached(caller_token) is not None

    def _cached(self, caller_token: str) -> CallerIdentity | None:
        key = hashlib.sha256(caller_token.encode()).digest()
        with self._identity_lock:
            hit = self._identities.get(key)
        return hit[1] if hit is not None and hit[0] > time.monotonic() else None

    def authorize(self, caller_token: str, path: str) -> tuple[set[str], CallerIdentity]:
        """The caller's capabilities on ``path`` and who it is, spending one use of its token.

        Vault counts every request made with a use-limited token, so a read through the
        broker must cost what a read from Vault costs: one. A known identity needs only
        ``sys/capabilities-self``. Otherwise ``auth/token/lookup-self`` is the one use, and
        a use-limited token's capabilities are then asked with the broker's own token
        (``sys/capabilities-accessor``); a token without a use limit (or a batch token,
        which has no accessor and no use limit) is asked ``sys/capabilities-self``.
        Raises as :meth:`capabilities`.
        """
        known = self._cached(caller_token)
        if known is not None:
            return self.capabilities(caller_token, path), known
        identity = self.lookup_self(caller_token)
        if identity["num_uses"] < 0:
            # Vault says -1 when this lookup was the token's last use: it is being revoked now.
            raise VaultForbidden("this Vault token had one use left, spent on identifying it, and "
                                 "Vault is revoking it; a lease never outlives its token, so it would "
                                 "die at once: use a token with at least two uses")
        if identity["num_uses"] and identity["accessor"] and self._broker_token is not None:
            return self.capabilities_accessor(identity["accessor"], path), identity
        return self.capabilities(caller_token, path), identity

    def _broker_call(self, api: str, action: str, json: dict) -> dict[str, Any]:
        """A call about a caller's token by its accessor, made with the broker's own token.
        Raises ``CallerTokenGone`` when Vault says the accessor is invalid."""
        if self._broker_token is None:
            raise VaultError(f"cannot {action}: this authorizer has no broker token")
        try:
            return self._call("POST", api, self._broker_token(), action, json=json, kind="op")
        except VaultInvalidRequest as exc:
            if "invalid accessor" in str(exc):
                raise CallerTokenGone(f"the Vault token with accessor {json['accessor']} was revoked "
                                      "or has expired") from None
            raise

    def capabilities_accessor(self, accessor: str, path: str) -> set[str]:
        """The capabilities on ``path`` of the token behind ``accessor``, asked with the
        broker's token (``POST /v1/sys/capabilities-accessor``), so no use of it is spent.
        Raises ``VaultForbidden`` (as a caller refusal) when the accessor is invalid."""
        path = check_path(path)
        try:
            body = self._broker_call("sys/capabilities-accessor", f"check capabilities on {path}",
                                     {"accessor": accessor, "paths": [path]})
        except CallerTokenGone:
            raise VaultForbidden("the caller's Vault token was revoked or has expired; log in "
                                 "to Vault again and retry with a fresh token") from None
        data = body.get("data") or body
        return set(data.get(path) or data.get("capabilities") or [])

    def token_expiry(self, accessor: str) -> float | None:
        """When the token behind ``accessor`` expires (wall clock; None: never), from
        ``POST /v1/auth/token/lookup-accessor`` with the broker's token (no use spent).
        Raises ``CallerTokenGone`` when Vault says the accessor is invalid (the token was
        revoked, directly or through a parent, or expired); any other ``VaultError`` means
        Vault could not say, and nothing may be concluded from them."""
        body = self._broker_call("auth/token/lookup-accessor", "look up a caller's token",
                                 {"accessor": accessor})
        return _identity(body.get("data") or {})["expires_at"]


def _identity(data: dict[str, Any]) -> CallerIdentity:
    ttl = int(data.get("ttl") or 0)
    return CallerIdentity(
        accessor=data.get("accessor") or "",
        entity_id=data.get("entity_id") or "",
        display_name=data.get("display_name") or "",
        policies=list(data.get("policies") or []),
        ttl=ttl,
        num_uses=int(data.get("num_uses") or 0),
        expires_at=time.time() + ttl if ttl else None,
    )
