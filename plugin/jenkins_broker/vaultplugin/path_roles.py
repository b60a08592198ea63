"""``jenkins/roles/<role>`` and ``LIST jenkins/roles``: which Jenkins user a read of
``jenkins/creds/<role>`` gets a token for, how it is minted, and for how long.

Validated by the broker's own rules (:func:`roles.build_role`); fields not sent
on an update keep their stored values. Shared mode and rotation periods belong
to broker mode: here every read mints its own token under its own Vault lease.

``foreign_tokens`` (validated by :func:`roles.build_role`, as in broker mode): what
the periodic reconciliation (:mod:`.periodic`) does with a token on the role's
Jenkins user that the engine cannot account for, ``revoke`` (the default) or
``report``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..domain.roles import DEFAULT_MAX_TTL, DEFAULT_TTL, FOREIGN_TOKENS, STRATEGIES, Role, build_role
from ..durations import parse_duration
from ..values import ENGINE_ROOT_ROLE, ENGINE_TOKEN_PREFIX, parse_bool
from .framework import NAME, Field, Path
from .logical import BadRequest, Request, Response
from .path_config import ROOT_CREDENTIAL
from .storage import Storage, get_json, put_json

if TYPE_CHECKING:
    from .backend import JenkinsBackend

PREFIX = "roles/"
# Suspension (disabled) is broker mode's: the field is unknown here, and never shown.
_BROKER_ONLY = ("shared", "rotation_period", "disabled")


def load_role(storage: Storage, name: str) -> Role | None:
    """The role called ``name``, or ``None``."""
    data = get_json(storage, PREFIX + name)
    return Role.from_record(name, data) if data else None


def load_role_and_policy(storage: Storage, name: str) -> tuple[Role, str] | None:
    """The role called ``name`` and its ``foreign_tokens`` setting, or ``None``.

    A role stored before the field existed has the default, ``revoke``; a stored
    value this version does not know reads as ``report``, which revokes nothing.
    """
    role = load_role(storage, name)
    if role is None:
        return None
    return role, role.foreign_tokens if role.foreign_tokens in FOREIGN_TOKENS else "report"


def _read(backend: "JenkinsBackend", request: Request, groups: dict) -> Response | None:
    found = load_role_and_policy(request.storage, groups["name"])
    if found is None:
        return None
    role, policy = found
    data = role.to_api()
    for key in (*_BROKER_ONLY, "credential"):
        data.pop(key, None)
    data["credential"] = role.credential
    data["foreign_tokens"] = policy
    return Response(data=data)


def _write(backend: "JenkinsBackend", request: Request, groups: dict) -> Response | None:
    name = groups["name"]
    data = {k: v for k, v in request.data.items()}
    for key in _BROKER_ONLY:
        if _broker_setting_on(key, data.pop(key, None)):
            raise BadRequest(f"{key}: a broker-mode setting; in plugin mode every read mints its own "
                             "token under its own Vault lease")
    if name == ENGINE_ROOT_ROLE:
        # Its tokens would be named like the engine's own credential (rotate-root), which
        # every reconciliation, the broker's and the engine's, leaves alone as no lease's.
        raise BadRequest(f"name: {ENGINE_ROOT_ROLE!r} is reserved in plugin mode for the engine's own "
                         "credential; choose another role name")
    existing = load_role(request.storage, name)
    if existing is None:
        data.setdefault("credential", ROOT_CREDENTIAL)
        data.setdefault("token_name_prefix", ENGINE_TOKEN_PREFIX)
    if data.get("credential") not in (None, ROOT_CREDENTIAL):
        raise BadRequest(f"credential: plugin mode has one stored credential, {ROOT_CREDENTIAL!r} "
                         "(written at jenkins/config)")
    role = build_role(name, data, existing)
    if role.max_live_tokens and role.strategy != "legacy":
        raise BadRequest("max_live_tokens: not enforced in plugin mode yet; use Vault's lease count "
                         "quotas (sys/quotas/lease-count) on jenkins/creds/<role>")
    put_json(request.storage, PREFIX + name, role.to_record())
    if role.strategy == "legacy":
        return Response(warnings=[
            "legacy: Jenkins keeps one legacy token per user, so every read rotates it and the "
            "previous lease's token stops working"])
    return None


def _broker_setting_on(key: str, value) -> bool:
    """True if ``value`` turns broker-only ``key`` on; off or absent (in any of the words
    broker mode takes for off) is accepted and ignored. Raises ``BadRequest`` naming it."""
    if value is None or value == "":
        return False
    try:
        return parse_duration(value, field=key) > 0 if key == "rotation_period" else parse_bool(value)
    except ValueError as exc:
        raise BadRequest(f"{key}: {str(exc).removeprefix(f'{key}: ')}") from None


def _delete(backend: "JenkinsBackend", request: Request, groups: dict) -> Response | None:
    request.storage.delete(PREFIX + groups["name"])
    return None


def _list(backend: "JenkinsBackend", request: Request, groups: dict) -> Response | None:
    return Response(data={"keys": request.storage.list(PREFIX)})


def _exists(backend: "JenkinsBackend", request: Request, groups: dict) -> bool:
    return request.storage.get(PREFIX + groups["name"]) is not None


FIELDS = {
    "jenkins_user": Field("string", "The Jenkins user id the tokens belong to (required)."),
    "strategy": Field("string", f"How tokens are minted: {', '.join(STRATEGIES)} (required). "
                                "user-token and user-password mint with the user's own credential; "
                                "admin-script and admin-rest with an administrator's."),
    "credential": Field("string", f"The stored credential to mint with; only {ROOT_CREDENTIAL!r}, the "
                                  "one written at jenkins/config."),
    "ttl": Field("duration", f"Lease duration of a token (default {DEFAULT_TTL}s). A read may ask "
                             "for less or more with ttl=..., capped by max_ttl."),
    "max_ttl": Field("duration", f"Longest a token may live, renewals included (default "
                                 f"{DEFAULT_MAX_TTL}s). On Jenkins 2.548+ tokens also get a Jenkins-side "
                                 "expiry past it, in whole days."),
    "token_name_prefix": Field("string", f"Start of the Jenkins token names "
                                         f"(default {ENGINE_TOKEN_PREFIX})."),
    "max_live_tokens": Field("int", "Must be 0 (legacy roles: 1); cap live tokens with Vault's lease "
                                    "count quotas instead."),
    "description": Field("string", "Free text for people."),
    "foreign_tokens": Field("string", "What the periodic reconciliation (about once a minute) does with a "
                                      "token on the role's Jenkins user that the engine did not mint for a "
                                      "live lease and that is not its own credential: revoke (default) or "
                                      "report (log only; for a user people also use by hand)."),
    "shared": Field("bool", "Broker mode only; must be false."),
    "rotation_period": Field("duration", "Broker mode only; must be 0."),
}


def paths() -> list[Path]:
    """``roles/<name>`` and the ``roles/`` listing."""
    return [
        Path(pattern="roles/?", operations={"list": _list},
             synopsis="List the roles.",
             description="LIST jenkins/roles returns the names of all roles."),
        Path(pattern=f"roles/{NAME}",
             operations={"read": _read, "create": _write, "update": _write, "delete": _delete},
             fields=FIELDS, exists=_exists,
             synopsis="Manage the roles that jenkins/creds/<role> mints tokens for.",
             description="""
             A role names a Jenkins user, the strategy that mints its tokens, and the
             lease's ttl and max_ttl. A read of jenkins/creds/<role> mints a new token
             for that user under a new Vault lease; revoking or expiring the lease
             revokes the token in Jenkins. Deleting a role leaves existing leases alone:
             they are still revoked when they end.

             The engine owns the Jenkins users its roles name: about once a minute it
             revokes any other token on them (one a holder made with a leased token,
             say), unless a role naming the user has foreign_tokens=report.
             """),
    ]
