"""``jenkins/creds/<role>``: each read through the broker mints a new token under a new lease.

This holds for shared roles too: their rotating credential is what Vault itself
answers at ``jenkins/creds/<role>``; the broker's own answer is always fresh.

Response wrapping: with ``X-Vault-Wrap-TTL`` the secret is wrapped in Vault with the
caller's own token (``sys/wrapping/wrap``) and only Vault's ``wrap_info`` is answered; the
token never leaves the broker in plain text. Unwrapping (through the broker or from Vault
directly) gives ``data``: the secret and, since a wrapped lease cannot carry its envelope,
``lease_id``, ``lease_duration`` and ``renewable`` with it. If the wrapping fails, the
lease is revoked at once. A header Vault cannot read is refused before anything is minted
(:mod:`.wrapping`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from flask import Blueprint, current_app, jsonify

from ..domain.records import rfc3339
from ..domain.roles import check_name
from ..errors import BrokerError
from . import wrapping
from .auth import mint_authorization
from .common import body, duration_param, lease_response

if TYPE_CHECKING:
    from ..server.services import Services

bp = Blueprint("creds", __name__)


@bp.route("/v1/jenkins/creds/<path:role>", methods=["GET", "POST", "PUT"])
def creds(role: str):
    """Mint a token for ``role`` under a new lease (``ttl`` optional, capped at max_ttl).

    Needs ``read`` on ``jenkins/creds/<role>`` in the caller's Vault policies.
    """
    check_name(role)
    caller, confirm = mint_authorization(f"jenkins/creds/{role}", "read")
    ttl = duration_param(body(), "ttl")
    services: Services = current_app.extensions["jenkins_broker"]
    record, value = services.manager.mint(role, ttl=ttl, requester=caller.requester,
                                          token_expires_at=caller.token_expires_at)
    if confirm is not None:
        try:
            confirm()
        except Exception:
            # Allowed a minute ago, not now (or Vault cannot say): the token never leaves the broker.
            _withdraw(services, record, "authorization-denied")
            raise
    data = {
        "username": record.jenkins_user,
        "token": value,
        "token_name": record.token_name,
        "jenkins_url": services.gateway.jenkins_url,
        "expires_at": rfc3339(record.expires_at),
    }
    now = time.time()
    wrap_ttl = wrapping.wrap_ttl()  # read (and a bad value refused) before the mint
    if wrap_ttl:
        envelope = lease_response(record, now).get_json()
        try:
            wrapped = wrapping.wrap(services, {
                **data, "lease_id": record.lease_id, "renewable": envelope["renewable"],
                "lease_duration": envelope["lease_duration"]}, wrap_ttl)
        except Exception:
            _withdraw(services, record, "wrapping-failed")  # nobody can ever read this token
            raise
        return jsonify(wrapped)
    return lease_response(record, now, data)


def _withdraw(services: Services, record, cause: str) -> None:
    """Revoke a lease whose token was never handed out."""
    try:
        services.manager.revoke(record.lease_id, cause=cause)
    except BrokerError:
        # Not even claimed (Vault unreachable): the reaper revokes it as soon as it can.
        if services.reaper is not None:
            services.reaper.expedite(record.role, record.suffix, cause)
