"""``jenkins/rotate-root``: replace the stored credential with a token only the engine knows.

A write mints a new API token for the credential's own user (with no
Jenkins-side expiry: the engine depends on it), checks that it logs in, stores
it in place of the old credential, and then revokes the old one:

- a token the engine made in an earlier rotation is revoked by its uuid;
- a token written by hand at ``jenkins/config`` cannot be: Jenkins identifies
  tokens by uuid, and the engine was only given the value. The answer warns;
  revoke it in Jenkins (the user's Security page);
- a password stays valid in Jenkins (the engine cannot change it): the answer
  warns; change it in Jenkins. Because ``user-password`` roles need the
  password, rotation is refused while such a role exists.

The new token's value is never returned.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..domain.jenkins_config import StoredCredential
from ..errors import BrokerError, redact, reworded
from ..jenkins import Credential
from ..values import engine_root_token_name
from .framework import Path
from .logical import BadRequest, Request, Response, UpstreamError
from .path_config import ROOT_CREDENTIAL, PluginConfig, load_config, now_iso, save_config
from .path_roles import PREFIX as ROLES
from .path_roles import load_role

if TYPE_CHECKING:
    from .backend import JenkinsBackend


def _password_roles(request: Request) -> list[str]:
    found = []
    for name in request.storage.list(ROLES):
        role = load_role(request.storage, name)
        if role is not None and role.strategy == "user-password" and role.credential == ROOT_CREDENTIAL:
            found.append(name)
    return found


def _rotate(backend: "JenkinsBackend", request: Request, groups: dict) -> Response | None:
    config = load_config(request.storage)
    if config is None:
        raise BadRequest("Jenkins is not configured: write jenkins/config first")
    old = config.credential
    if old.kind == "password":
        blocking = _password_roles(request)
        if blocking:
            raise BadRequest(f"roles {', '.join(blocking)} use the user-password strategy, which needs the "
                             "password: rotate-root would replace it by a token. Change them to "
                             "user-token first")
    user = old.username
    client = backend.client(request.storage)
    name = engine_root_token_name(time.time())
    # In flight until the config names its uuid: the periodic reconciliation must not take the
    # new credential for a foreign token in between.
    with backend.in_flight.minting(user, name):
        try:
            made = client.generate_new_token(Credential(user, old.secret, old.kind), user, name, None)
        except BrokerError as exc:
            raise reworded(exc, f"rotate-root could not create a new token for {user!r}: {exc}") from None
        value, uuid = made["tokenValue"], made["tokenUuid"]
        try:
            works = client.verify_token(user, value)
        except BrokerError:
            works = False
        if not works:
            try:
                client.revoke_token(Credential(user, value, "token"), user, uuid)
            except BrokerError:
                pass
            raise UpstreamError(f"rotate-root: the new token of {user!r} does not log in; the stored "
                                "credential was kept")
        save_config(request.storage, PluginConfig(
            connection=config.connection, managed_uuid=uuid, rotated_at=now_iso(),
            credential=StoredCredential(name=ROOT_CREDENTIAL, username=user, kind="token", secret=value)))
    backend.forget_connection()
    warnings = []
    if config.managed_uuid:
        try:
            client.revoke_token(Credential(user, value, "token"), user, config.managed_uuid)
        except BrokerError as exc:
            warnings.append(f"the previous token ({config.managed_uuid}) could not be revoked: "
                            f"{redact(str(exc))}; revoke it in Jenkins")
    elif old.kind == "token":
        warnings.append("the previous token was written by hand, so its uuid is unknown to the engine and "
                        f"it was not revoked: revoke it in Jenkins (user {user!r}, Security, API Token); "
                        "if a role names this user, the periodic reconciliation revokes it now unless the "
                        "role has foreign_tokens=report")
    else:
        warnings.append(f"the previous credential was {user!r}'s password, which stays valid in Jenkins: "
                        "change it there; the engine no longer keeps it")
    backend.log.info("rotated the root credential of Jenkins user %s (new token %s)", user, uuid)
    return Response(data={"username": user, "token_name": str(made.get("tokenName") or name),
                          "token_uuid": uuid, "rotated_at": now_iso()}, warnings=warnings)


def paths() -> list[Path]:
    """The ``rotate-root`` path."""
    return [Path(
        pattern="rotate-root",
        operations={"update": _rotate, "create": _rotate},
        synopsis="Replace the stored Jenkins credential with a new token only the engine knows.",
        description="""
        Mints a new API token for the configured user, stores it in place of the
        current credential and revokes the previous token when the engine made it.
        A token or password written by hand stays valid in Jenkins: the answer
        warns, and it should be revoked or changed there. Refused while a
        user-password role needs the password.
        """)]

