"""The leased secret ``jenkins_token``: what a lease keeps, and its revoke and renew.

Everything revocation needs travels in the lease's internal data, which OpenBao
stores with the lease and sends back on revoke and renew, so a lease still
revokes after its role is deleted or changed. Only the credential's secret is
not in it: revocation uses the credential stored at ``jenkins/config`` (which
rotate-root may have replaced by then, for the same user). Revocation is
idempotent (Jenkins answers 200 for a token that is already gone); when Jenkins
cannot confirm it, the error goes back to OpenBao, which retries with backoff.
Once Jenkins confirmed, the token's entry in the engine's ledger (:mod:`.minted`)
is dropped.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from ..domain.roles import Role
from ..errors import BrokerError, ConfigError, reworded
from ..jenkins import LEGACY_TOKEN_ID, Credential, MintedToken
from . import minted as ledger
from .logical import BadRequest, LeaseOptions, LogicalError, Request, Response, Secret
from .path_config import PluginConfig, load_config
from .storage import StorageError

if TYPE_CHECKING:
    from .backend import JenkinsBackend

SECRET_TYPE = "jenkins_token"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TokenLease:
    """The internal data of one lease: who the token belongs to and how to revoke it."""

    role: str
    jenkins_url: str
    kind: str
    strategy: str
    credential: str
    credential_username: str
    credential_kind: str
    jenkins_user: str
    token_uuid: str
    token_name: str
    legacy: bool
    issued_at: float
    ttl: int
    max_ttl: int

    def to_internal(self) -> dict[str, Any]:
        """The JSON object stored as the lease's internal data."""
        return {"secret_type": SECRET_TYPE, **asdict(self)}

    @classmethod
    def from_internal(cls, data: dict[str, Any]) -> "TokenLease":
        """Read a lease's internal data back; raises :class:`BadRequest` if it is not one of ours."""
        if data.get("secret_type") != SECRET_TYPE:
            raise BadRequest(f"this lease is not a {SECRET_TYPE} (secret_type "
                             f"{str(data.get('secret_type'))[:40]!r})")
        missing = [f.name for f in fields(cls) if f.name not in data]
        if missing:
            raise BadRequest(f"the lease's internal data lacks {', '.join(missing)}")
        return cls(**{f.name: data[f.name] for f in fields(cls)})

    @classmethod
    def for_minted(cls, role: Role, config: PluginConfig, minted: MintedToken, *, issued_at: float,
                   ttl: int) -> "TokenLease":
        """The internal data of a token just minted for ``role``."""
        return cls(role=role.name, jenkins_url=config.connection.url, kind=config.connection.kind,
                   strategy=role.strategy, credential=role.credential,
                   credential_username=config.credential.username, credential_kind=config.credential.kind,
                   jenkins_user=minted.user, token_uuid=minted.uuid, token_name=minted.name,
                   legacy=minted.legacy, issued_at=issued_at, ttl=ttl, max_ttl=role.max_ttl)


def lease_secret(lease: TokenLease) -> Secret:
    """The Vault secret for a new lease: renewable, ``ttl`` now, never past ``max_ttl``."""
    return Secret(lease=LeaseOptions(ttl=lease.ttl, max_ttl=lease.max_ttl, renewable=True,
                                     issue_time=lease.issued_at),
                  internal_data=lease.to_internal())


def revoke(backend: "JenkinsBackend", request: Request) -> Response | None:
    """Operation ``revoke``: revoke the lease's token in Jenkins (idempotent).

    Raises the Jenkins error when Jenkins cannot confirm (the backend's table answers
    it; OpenBao retries) and :class:`LogicalError` when the engine has no config to
    revoke with.
    """
    lease = TokenLease.from_internal(_internal(request))
    config = load_config(request.storage)
    if config is None:
        raise LogicalError(f"cannot revoke token {lease.token_name!r} of Jenkins user {lease.jenkins_user!r}: "
                           "jenkins/config is gone; write it again and OpenBao's retries will revoke it")
    if config.connection.url != lease.jenkins_url:
        log.warning("revoking token %s minted at %s through the configured Jenkins %s",
                    lease.token_uuid, lease.jenkins_url, config.connection.url)
    try:
        _revoke(backend, request, config, lease)
    except BrokerError as exc:
        raise reworded(exc, f"revoking token {lease.token_name!r} ({lease.token_uuid}) of Jenkins user "
                            f"{lease.jenkins_user!r} failed: {exc}") from None
    log.info("revoked token %s (%s) of Jenkins user %s, role %s", lease.token_name, lease.token_uuid,
             lease.jenkins_user, lease.role)
    if not lease.legacy and lease.token_uuid != LEGACY_TOKEN_ID:
        try:
            ledger.forget(request.storage, lease.token_uuid)
        except StorageError as exc:
            # Harmless: the entry stops accounting for anything once the lease's deadline
            # passes, and the periodic reconciliation drops it then.
            log.warning("token %s is revoked but its ledger entry stays: %s", lease.token_uuid, exc)
    return None


def _revoke(backend: "JenkinsBackend", request: Request, config: PluginConfig, lease: TokenLease) -> None:
    try:
        strategy = backend.strategy(request.storage, lease.strategy, lease.credential)
    except ConfigError:
        # The stored credential no longer fits the strategy that minted (say rotate-root
        # turned a password into a token): revoking by uuid works with any credential of
        # the same user, or an administrator's.
        if lease.legacy:
            raise
        client = backend.client(request.storage)
        stored = config.credential
        client.revoke_token(Credential(stored.username, stored.secret, stored.kind), lease.jenkins_user,
                            lease.token_uuid)
        return
    strategy.revoke(user=lease.jenkins_user, uuid=lease.token_uuid)


def renew(backend: "JenkinsBackend", request: Request) -> Response | None:
    """Operation ``renew``: extend the lease by the increment asked (or the ttl), never past
    ``max_ttl`` counted from the lease's issue time. Jenkins is not called: the token
    lives until revoked. Raises :class:`BadRequest` once ``max_ttl`` is reached."""
    lease = TokenLease.from_internal(_internal(request))
    options = request.secret.lease if request.secret else LeaseOptions()
    issued = options.issue_time or lease.issued_at
    remaining = int(issued + lease.max_ttl - time.time())
    if remaining <= 0:
        raise BadRequest(f"the lease has reached its max_ttl ({lease.max_ttl}s); read "
                         f"jenkins/creds/{lease.role} for a new token")
    ttl = min(options.increment or lease.ttl, remaining)
    return Response(secret=Secret(lease=LeaseOptions(ttl=ttl, max_ttl=lease.max_ttl, renewable=True,
                                                     issue_time=issued),
                                  internal_data=lease.to_internal()))


def _internal(request: Request) -> dict[str, Any]:
    if request.secret is None:
        raise BadRequest(f"a {request.operation} request carries the lease's secret; none was sent")
    return request.secret.internal_data

