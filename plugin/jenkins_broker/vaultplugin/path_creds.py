"""``jenkins/creds/<role>``: a read mints a new Jenkins token under a new Vault lease.

The answer has the same shape as broker mode's: ``username``, ``token``,
``token_name``, ``jenkins_url``, ``expires_at``. The lease gets the role's ttl
(or the ``ttl`` asked for, up to ``max_ttl``); its internal data
(:class:`.secret_token.TokenLease`) holds what revocation needs.

Token names are ``<prefix><role>-<deadline>-<8 hex>``, where ``deadline`` is
the Unix time at which ``max_ttl`` ends: anything that finds such a token in
Jenkins after that moment knows its lease is over (see docs/plugin-mode.md).

Every token minted is written to the engine's ledger (:mod:`.minted`, by uuid)
before the answer goes back, and is marked in flight until then: the periodic
reconciliation revokes tokens on the role's user that are in neither.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ..durations import parse_duration
from ..errors import BrokerError, ConfigError, redact, reworded
from ..jenkins import MintedToken
from ..values import engine_token_name
from . import minted as ledger
from .framework import NAME, Field, Path
from .logical import BadRequest, LogicalError, NotFound, Request, Response
from .path_config import load_config
from .path_roles import load_role
from .secret_token import TokenLease, lease_secret
from .storage import StorageError

if TYPE_CHECKING:
    from .backend import JenkinsBackend


def _mint(backend: "JenkinsBackend", request: Request, groups: dict) -> Response | None:
    name = groups["name"]
    role = load_role(request.storage, name)
    if role is None:
        raise NotFound(f"unknown role {name!r}: write jenkins/roles/{name} first")
    requested = None
    if request.data.get("ttl") not in (None, ""):
        try:
            requested = parse_duration(request.data["ttl"], field="ttl")
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
    ttl = role.lease_ttl(requested)
    config = load_config(request.storage)
    if config is None:
        raise BadRequest("Jenkins is not configured: write jenkins/config url=... username=... token=...")
    try:
        strategy = backend.strategy(request.storage, role.strategy, role.credential)
    except ConfigError as exc:
        raise reworded(exc, f"role {name!r} cannot mint with the stored credential: {exc}") from None
    issued = time.time()
    wanted = engine_token_name(role.token_name_prefix, name, issued + role.max_ttl)
    with backend.in_flight.minting(role.jenkins_user, wanted):
        try:
            minted = strategy.mint(user=role.jenkins_user, name=wanted, max_lease_seconds=role.max_ttl)
        except ConfigError as exc:
            raise reworded(exc, f"role {name!r}: {exc}") from None
        except BrokerError as exc:
            raise reworded(exc, f"minting a token for role {name!r} failed: {exc}") from None
        _record(backend, request, name, strategy, minted, deadline=issued + role.max_ttl, issued=issued)
    lease = TokenLease.for_minted(role, config, minted, issued_at=issued, ttl=ttl)
    expires = datetime.fromtimestamp(issued + ttl, timezone.utc).replace(microsecond=0)
    backend.log.info("minted token %s (%s) for Jenkins user %s, role %s, ttl %ss", minted.name, minted.uuid,
                     minted.user, name, ttl)
    return Response(
        data={"username": minted.user, "token": minted.value, "token_name": minted.name,
              "jenkins_url": config.connection.url,
              "expires_at": expires.isoformat().replace("+00:00", "Z")},
        secret=lease_secret(lease))


def _record(backend: "JenkinsBackend", request: Request, role: str, strategy, minted: MintedToken, *,
            deadline: float, issued: float) -> None:
    """Write ``minted`` to the ledger; if that fails, revoke it again and fail the read (a token
    outside the ledger would be revoked as foreign by the next periodic run)."""
    if minted.legacy:
        return  # the user's single legacy token: accounted for by the legacy role itself (see periodic)
    try:
        ledger.record(request.storage, ledger.LedgerEntry(
            uuid=minted.uuid, user=minted.user, name=minted.name, role=role, minted_at=issued,
            deadline=deadline))
    except StorageError as exc:
        try:
            strategy.revoke(user=minted.user, uuid=minted.uuid)
            fate = "it was revoked again"
        except BrokerError:
            fate = "it could not be revoked again; the periodic reconciliation will"
        raise LogicalError(f"minting a token for role {role!r}: the engine could not record token "
                           f"{minted.uuid} ({redact(str(exc))}); {fate}") from None


FIELDS = {
    "ttl": Field("duration", "Lease ttl wanted (default: the role's ttl; capped at its max_ttl)."),
}


def paths() -> list[Path]:
    """The ``creds/<role>`` path."""
    return [Path(
        pattern=f"creds/{NAME}",
        operations={"read": _mint, "update": _mint, "create": _mint},
        fields=FIELDS,
        synopsis="Mint a Jenkins API token for a role, under a new lease.",
        description="""
        Each read creates a new API token in Jenkins for the role's user and returns
        username, token, token_name, jenkins_url and expires_at, with a Vault lease
        of the role's ttl (or ttl=... when written). Renewing the lease extends it up
        to the role's max_ttl; revoking it, or letting it expire, revokes the token
        in Jenkins.
        """)]
