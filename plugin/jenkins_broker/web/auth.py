"""Who is calling, and may they? Vault policies are the only source of truth.

The caller sends its own Vault token (``X-Vault-Token``, or ``Authorization:
Bearer``). The broker asks Vault, with that token, for its capabilities on the
Vault path the request stands for (``sys/capabilities-self``), and for who it
is (``auth/token/lookup-self``); the two calls run at the same time.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Protocol

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


def require(path: str, *capabilities: str, who: bool = False) -> Requester | None:
    """Check that the caller holds one of ``capabilities`` on Vault path ``path``.

    With ``who`` also return the caller's identity (for the lease record).
    Raises ``Unauthorized`` (no token) or ``Forbidden``; Vault errors propagate.
    """
    token = caller_token()
    authorizer: Authorizer = current_app.extensions["jenkins_broker"].authorizer
    lookup = _pool.submit(authorizer.lookup_self, token) if who else None
    try:
        granted = authorizer.capabilities(token, path)
        if not _allowed(granted, capabilities):
            raise Forbidden(f"permission denied: this token may not {'/'.join(capabilities)} {path}")
        if lookup is None:
            return None
        info = lookup.result()
    except VaultForbidden as exc:
        # The caller's token is invalid or expired: the caller's problem (403). Elsewhere a
        # VaultForbidden means the broker's own token was refused, which is a 503.
        raise Forbidden(f"permission denied: {exc}") from None
    finally:
        if lookup is not None and not lookup.done():
            lookup.cancel()
    return Requester(accessor=str(info.get("accessor") or ""),
                     entity_id=str(info.get("entity_id") or ""),
                     display_name=str(info.get("display_name") or ""))
