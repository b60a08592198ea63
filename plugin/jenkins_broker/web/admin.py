"""Administration: ``jenkins/config``, ``jenkins/credentials/<name>``, ``jenkins/roles/<role>``,
and for auditors ``jenkins/leases/<role>`` (live tokens, who asked, when they die)
and ``jenkins/revoke/<role>`` (the incident button).

Each checks the capability Vault would for the same path and verb: ``read``
for GET, ``create``/``update`` for writes, ``delete``, ``list``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from flask import Blueprint, current_app, request

from ..domain.credentials import rotate, write_token_credential
from ..domain.jenkins_config import build_config, build_credential
from ..domain.records import rfc3339
from ..domain.roles import build_role, check_name, require_stored_credential
from ..errors import InvalidRequest, UnknownRole
from ..values import request_flag
from .auth import identify, require
from .common import body, is_list, keys_response, no_content, response
from .errors import vault_error

if TYPE_CHECKING:
    from ..server.services import Services

bp = Blueprint("admin", __name__)

_WRITE = ("create", "update")


def _services() -> Services:
    return current_app.extensions["jenkins_broker"]


@bp.route("/v1/jenkins/config", methods=["GET", "POST", "PUT"])
def config():
    """Read or write the Jenkins connection (url, kind, timeout, verify_tls, ca_bundle)."""
    store = _services().store
    if request.method == "GET":
        require("jenkins/config", "read")
        current = store.get_jenkins_config()
        if current is None:
            return vault_error(404, "Jenkins is not configured yet: write jenkins/config url=...")
        return response(current.to_api())
    require("jenkins/config", *_WRITE)
    store.put_jenkins_config(build_config(body(), store.get_jenkins_config()))
    _services().gateway.reset()
    return no_content()


@bp.route("/v1/jenkins/credentials", methods=["GET", "LIST"])
def list_credentials():
    require("jenkins/credentials", "list")
    if not is_list():
        return vault_error(405, "unsupported operation")
    return keys_response(_services().store.list_credentials())


@bp.route("/v1/jenkins/credentials/<path:name>", methods=["GET", "POST", "PUT", "DELETE", "LIST"])
def credential(name: str):
    """Write (username + password or token), read (never the secret), delete a credential."""
    if is_list():
        return list_credentials()
    check_name(name, what="credential")
    path = f"jenkins/credentials/{name}"
    store = _services().store
    if request.method == "GET":
        require(path, "read")
        found = store.get_credential_info(name)
        if found is None:
            return vault_error(404, f"no credential named {name!r}")
        return response(found.to_api())
    if request.method == "DELETE":
        require(path, "delete")
        store.delete_credential(name)
        _services().gateway.reset()
        return no_content()
    require(path, *_WRITE)
    data = dict(body())
    rotate_it = data.pop("rotate", None)
    credential = build_credential(name, data)
    # Bound to (and rotated on) the Jenkins stored now, not the one this replica cached.
    _services().gateway.reset()
    result = write_token_credential(store, _services().gateway, credential,
                                    rotate_it=rotate_it is None or request_flag("rotate", rotate_it))
    _services().gateway.reset()
    return response(result)


@bp.route("/v1/jenkins/rotate-credential/<path:name>", methods=["POST", "PUT"])
def rotate_credential(name: str):
    """Rotate a token credential now: the broker mints its own replacement with it, stores
    it and revokes the replaced token (the rotate-root of Vault's engines)."""
    check_name(name, what="credential")
    require(f"jenkins/rotate-credential/{name}", *_WRITE)
    if _services().store.get_credential_info(name) is None:
        return vault_error(404, f"no credential named {name!r}")
    _services().gateway.reset()  # the Jenkins stored now, not the one this replica cached
    result = rotate(_services().store, _services().gateway, name)
    _services().gateway.reset()
    return response(result)


@bp.route("/v1/jenkins/roles", methods=["GET", "LIST"])
def list_roles():
    require("jenkins/roles", "list")
    if not is_list():
        return vault_error(405, "unsupported operation")
    return keys_response(_services().store.list_roles())


@bp.route("/v1/jenkins/roles/<path:name>", methods=["GET", "POST", "PUT", "DELETE", "LIST"])
def role(name: str):
    """Write (validated, partial updates keep other fields), read or delete a role."""
    if is_list():
        return list_roles()
    check_name(name)
    path = f"jenkins/roles/{name}"
    store = _services().store
    if request.method == "GET":
        require(path, "read")
        found = store.get_role(name)
        if found is None:
            raise UnknownRole(f"no role named {name!r}")
        return response(found.to_api())
    if request.method == "DELETE":
        require(path, "delete")
        store.delete_role(name)
        return no_content()
    require(path, *_WRITE)
    data, existing = body(), store.get_role(name)
    built = build_role(name, data, existing)
    require_stored_credential(built, data, existing, store)  # the CLI's rule too
    store.put_role(built)
    return no_content()


@bp.route("/v1/jenkins/leases/<path:name>", methods=["GET", "LIST"])
def live_tokens(name: str):
    """For auditors: every live lease of a role with who asked and when it dies (no token values)."""
    check_name(name)
    require(f"jenkins/leases/{name}", "read", "list")
    store = _services().store
    rows: list[dict[str, Any]] = []
    now = time.time()
    for record, _ in store.get_leases((name, s) for s in store.list_leases(name)):
        rows.append({
            "lease_id": record.lease_id, "jenkins_user": record.jenkins_user,
            "token_name": record.token_name, "token_uuid": record.token_uuid,
            "token_sha256": record.token_sha256, "shared": record.shared,
            "issued_at": rfc3339(record.issued_at), "expires_at": rfc3339(record.expires_at),
            "requester": record.requester.__dict__, "revoke_attempts": record.revoke_attempts,
            "last_error": record.last_error, "state": record.state(now),
            "revoke_requested_at": rfc3339(record.revoke_requested_at),
            "revoke_reason": record.revoke_reason,
        })
    rows.sort(key=lambda r: r["expires_at"])
    return response({"leases": rows})


@bp.route("/v1/jenkins/revoke/<path:name>", methods=["POST", "PUT"])
def incident(name: str):
    """The incident button: revoke every token of a role now, or only one requester's
    (``requester`` = accessor, entity id or display name); ``suspend=true`` also
    suspends the role (no mints, no shared value) until an administrator lifts it."""
    check_name(name)
    actor = identify(f"jenkins/revoke/{name}", *_WRITE).requester
    who = body().get("requester")
    if who is not None and (not isinstance(who, str) or not who):
        raise InvalidRequest("requester: expected an accessor, entity id or display name")
    suspend = body().get("suspend")
    if suspend is not None and request_flag("suspend", suspend):
        if who is not None:
            raise InvalidRequest("suspend: suspends the whole role; send it without requester")
        return response(_services().manager.suspend(name, actor=actor))
    counts = _services().manager.revoke_many(name, requester=who, actor=actor)
    return response(counts)
