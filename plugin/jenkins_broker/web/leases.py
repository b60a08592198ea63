"""``sys/leases/*``: renew, revoke, look up and list leases, as Vault's own endpoints do.

Each checks the same capability Vault would (Vault's default policy grants
``update`` on ``sys/leases/renew`` and ``sys/leases/lookup`` to every token).
"""

from __future__ import annotations

import time

from flask import Blueprint, current_app

from ..domain.records import rfc3339
from ..domain.roles import check_name
from ..errors import InvalidRequest, JenkinsError, reworded
from ..values import LEASE_PREFIX, lease_role, request_flag
from .auth import identify, require
from .common import body, duration_param, is_list, keys_response, lease_response, no_content, response
from .errors import vault_error

bp = Blueprint("leases", __name__)


def _manager():
    return current_app.extensions["jenkins_broker"].manager


def _lease_id(given: str | None) -> str:
    lease_id = given or body().get("lease_id")
    if not lease_id or not isinstance(lease_id, str):
        raise InvalidRequest("lease_id: required")
    return lease_id


@bp.route("/v1/sys/leases/renew", methods=["PUT", "POST"])
@bp.route("/v1/sys/leases/renew/<path:lease_id>", methods=["PUT", "POST"])
def renew(lease_id: str | None = None):
    """Extend a lease by ``increment`` (default: the role's ttl), never past its max_ttl."""
    # Vault checks the request's own path: the bare path for the body form, and
    # sys/leases/renew/<id> when the id is in the path.
    require(f"sys/leases/renew/{lease_id}" if lease_id else "sys/leases/renew", "update")
    lease_id = _lease_id(lease_id)
    increment = duration_param(body(), "increment")
    record, warnings = _manager().renew(lease_id, increment)
    return lease_response(record, time.time(), None, warnings)


@bp.route("/v1/sys/leases/revoke", methods=["PUT", "POST"])
@bp.route("/v1/sys/leases/revoke/<path:lease_id>", methods=["PUT", "POST"])
def revoke(lease_id: str | None = None):
    """Revoke a lease now: its token in Jenkins, then its record. Unknown leases: 204.

    With ``sync=false`` a Jenkins failure still answers 202: the revocation is
    queued and retried, as Vault does.
    """
    actor = identify(f"sys/leases/revoke/{lease_id}" if lease_id else "sys/leases/revoke",
                     "update").requester
    lease_id = _lease_id(lease_id)
    sync = request_flag("sync", body().get("sync", True))
    try:
        _manager().revoke(lease_id, actor=actor)
    except JenkinsError as exc:
        if sync:
            raise reworded(exc, f"{exc} The lease is kept and its revocation will be retried.") from None
        return response(None, status=202, warnings=["revocation queued; it will be retried"])
    return no_content()


@bp.route("/v1/sys/leases/revoke-prefix/<path:prefix>", methods=["PUT", "POST"])
def revoke_prefix(prefix: str):
    """Revoke every lease of a role (``jenkins/creds/<role>``): the incident button."""
    actor = identify(f"sys/leases/revoke-prefix/{prefix}", "sudo").requester
    role = lease_role(prefix)
    if role is None:
        raise InvalidRequest(f"prefix: expected {LEASE_PREFIX}/<role>")
    check_name(role)
    counts = _manager().revoke_many(role, actor=actor)
    if counts["failed"]:
        return vault_error(502, f"{counts['failed']} of the leases could not be revoked in Jenkins now; "
                                "they are kept and retried")
    return no_content()


@bp.route("/v1/sys/leases/revoke-force/<path:prefix>", methods=["PUT", "POST"])
def revoke_force(prefix: str):
    """Vault's ``revoke-force``: every lease of a role goes even if Jenkins refuses to revoke
    its token; such a token is left to reconciliation, which revokes it as an orphan."""
    actor = identify(f"sys/leases/revoke-force/{prefix}", "sudo").requester
    role = lease_role(prefix)
    if role is None:
        raise InvalidRequest(f"prefix: expected {LEASE_PREFIX}/<role>")
    check_name(role)
    _manager().revoke_many(role, actor=actor, cause="forced", force=True)
    return no_content()


@bp.route("/v1/sys/leases/lookup", methods=["PUT", "POST"])
def lookup():
    """Describe a live lease: issue, expiry and last renewal times, remaining ttl."""
    require("sys/leases/lookup", "update")
    record = _manager().lookup(_lease_id(None))
    now = time.time()
    return response({
        "id": record.lease_id,
        "path": f"{LEASE_PREFIX}/{record.role}",  # where it was issued, as Vault says
        "issue_time": rfc3339(record.issued_at),
        "expire_time": rfc3339(record.expires_at),
        "last_renewal": rfc3339(record.last_renewal),
        "renewable": not record.shared and record.state(now) == "active",
        "ttl": max(0, int(record.expires_at - now)),
        # Beyond Vault's fields: an ending lease says so, and since when.
        "state": record.state(now),
        "revoke_requested_at": rfc3339(record.revoke_requested_at),
    })


@bp.route("/v1/sys/leases/lookup/<path:prefix>", methods=["GET", "LIST"])
def list_leases(prefix: str):
    """List lease ids under ``jenkins/creds/<role>/`` (or the roles under ``jenkins/creds/``)."""
    if not is_list():
        return vault_error(405, "unsupported operation")
    prefix = prefix.strip("/")
    require(f"sys/leases/lookup/{prefix}", "list", "sudo")
    manager = _manager()
    if prefix in (LEASE_PREFIX, "jenkins"):
        roles = manager.store.list_lease_roles()
        keys = [f"{r}/" for r in roles] if prefix == LEASE_PREFIX else (["creds/"] if roles else [])
        return keys_response(keys)
    role = lease_role(prefix)
    if role is None:
        return keys_response([])
    check_name(role)
    return keys_response(manager.list(role))
