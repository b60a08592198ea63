"""The broker knows its own credentials: it rotates them, and notices when one stops working.

Rotation is the rotate-root of Vault's secrets engines. Writing a token
credential (through the API or the CLI) rotates it at once, and ``jenkins-broker
credentials rotate NAME`` (``POST /v1/jenkins/rotate-credential/<name>``) does it
again: with the current token the broker mints its own (named
``<prefix>credential-<name>``, no Jenkins-side expiry), stores it with its uuid,
then revokes the one it replaced. If the new one cannot be stored it is revoked
again and nothing changes.

A holder of a leased token of the same Jenkins user can revoke the broker's
credential (the user's token list shows every uuid). :class:`CredentialHealth`
says so at once: every refusal (401) of a credential is reported to it (and an
acceptance after a refusal retried with the credential read again), and it checks
each credential that a role uses with ``whoAmI`` every few seconds, so
a revoked credential shows in ``/v1/sys/health``, in
``jenkins_broker_credential_ok`` and in one ``credential-rejected`` audit line
before anyone's mint fails.

Domain code: the Vault store and the Jenkins gateway are handed in.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Protocol, runtime_checkable

from ..errors import BrokerError, ConfigError, InvalidRequest, JenkinsAuthError, JenkinsUnsupported, redact
from ..observability import Metrics, audit
from ..values import credential_token_name
from .jenkins_config import StoredCredential, jenkins_origin
from .roles import Role

if TYPE_CHECKING:  # the domain imports no HTTP client, so not the jenkins package at run time
    from ..jenkins.models import MintedToken

log = logging.getLogger(__name__)



@runtime_checkable
class CredentialStore(Protocol):
    """The part of the Vault store credential rotation and health need."""

    def get_credential(self, name: str) -> StoredCredential | None: ...
    def forget_credential(self, name: str) -> None: ...
    def put_credential(self, credential: StoredCredential) -> None: ...
    def list_roles(self) -> list[str]: ...
    def get_role(self, name: str) -> Role | None: ...


@runtime_checkable
class CredentialGateway(Protocol):
    """The part of the Jenkins side credential rotation and health need."""

    def check_credential(self, stored: StoredCredential) -> bool: ...
    def mint_credential_token(self, stored: StoredCredential,
                              name: str) -> tuple[MintedToken, str | None]: ...
    def revoke_credential_token(self, stored: StoredCredential, uuid: str) -> None: ...


def rotate(store: CredentialStore, gateway: CredentialGateway, name: str,
           given: StoredCredential | None = None, *,
           clock: Callable[[], float] = time.time) -> dict[str, Any]:
    """Replace token credential ``name`` (or ``given``, a credential being written) with a
    token the broker mints itself; store it; revoke the replaced one.

    Returns what happened: ``token_uuid``/``token_name`` of the new token,
    ``previous_token_uuid`` and ``previous_revoked``, and a ``note`` when the replaced
    token could not be identified or revoked. Raises ``InvalidRequest`` for a password
    credential, ``ConfigError`` for an unknown one, ``JenkinsUnsupported`` before Jenkins
    2.129, and the Jenkins and Vault errors (nothing stored then).
    """
    current = given or store.get_credential(name)
    if current is None:
        raise ConfigError(f"no Jenkins credential named {name!r}: write jenkins/credentials/{name} "
                          "username=... token=...")
    if current.kind != "token":
        raise InvalidRequest(f"credential {name!r} is a password: only token credentials are "
                             "rotated (change the password in Jenkins, then write it again)")
    minted, previous = gateway.mint_credential_token(current, credential_token_name(name))
    # The gateway refused to send ``current`` to any origin but its own (binding one stored
    # without an origin to the configured one), so the new token is for the configured origin.
    new = replace(current, secret=minted.value, token_uuid=minted.uuid, token_name=minted.name,
                  rotated_at=clock(), origin=current.origin or _configured_origin(gateway))
    try:
        store.put_credential(new)
    except BaseException:
        try:
            gateway.revoke_credential_token(new, minted.uuid)
        except BrokerError:
            log.error("credential %s: the new token %s was neither stored nor revoked; "
                      "reconciliation revokes it as foreign", name, minted.name)
        raise
    result: dict[str, Any] = {"name": name, "username": new.username, "token_uuid": new.token_uuid,
                              "token_name": new.token_name, "previous_token_uuid": previous,
                              "previous_revoked": False}
    if not previous:
        result["note"] = ("the token given could not be identified (Jenkins' usage statistics are "
                          f"off, or it was in use elsewhere): revoke it yourself in Jenkins (user "
                          f"{new.username!r}, Security); reconciliation revokes it as a foreign "
                          "token if a role names that user")
    elif previous != minted.uuid:
        try:
            gateway.revoke_credential_token(new, previous)
            result["previous_revoked"] = True
        except BrokerError as exc:
            result["note"] = f"the replaced token is still live, revoke it in Jenkins: {redact(str(exc))}"
    audit("credential-rotated", credential=name, jenkins_user=new.username, token_uuid=new.token_uuid,
          token_name=new.token_name, reason=result.get("note"))
    return result


def _configured_origin(gateway: object) -> str:
    """The configured Jenkins origin, or "" when Jenkins is not configured yet (the gateway
    then binds the credential at its first use)."""
    try:
        url = getattr(gateway, "jenkins_url", None)  # a property that asks the store
    except ConfigError:
        return ""
    return jenkins_origin(url) if isinstance(url, str) and url else ""


def write_token_credential(store: CredentialStore, gateway: CredentialGateway,
                           credential: StoredCredential, *,
                           rotate_it: bool = True) -> dict[str, Any]:
    """Store a credential being written; a token one is rotated first (unless ``rotate_it``
    is false, or Jenkins is older than 2.129 and cannot mint one: then it is stored as
    given and the answer says so)."""
    if not credential.origin:
        # Bound to the Jenkins it is written for: never sent to another (issue 14).
        credential = replace(credential, origin=_configured_origin(gateway))
    if credential.kind != "token" or not rotate_it:
        store.put_credential(credential)
        return {"name": credential.name, "rotated": False}
    try:
        return {**rotate(store, gateway, credential.name, credential), "rotated": True}
    except JenkinsAuthError:
        raise InvalidRequest(f"token: Jenkins refuses it for user {credential.username!r} (401): "
                             "check the user id and that the token is current") from None
    except JenkinsUnsupported as exc:
        store.put_credential(credential)
        return {"name": credential.name, "rotated": False,
                "note": f"stored as given, not rotated: {redact(str(exc))}"}


class CredentialHealth:
    """Whether Jenkins accepts each stored credential that a role uses, known at once."""

    def __init__(self, store: CredentialStore, gateway: CredentialGateway, *, metrics: Metrics,
                 interval: float = 10.0, clock: Callable[[], float] = time.time):
        self.store = store
        self.gateway = gateway
        self.metrics = metrics
        self.interval = interval
        self.clock = clock
        self._state: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.next_check = 0.0

    def report(self, name: str, accepted: bool, error: str | None = None) -> None:
        """Record what Jenkins said of credential ``name``; a change is audited once."""
        with self._lock:
            before = self._state.get(name, {}).get("ok")
            self._state[name] = {"ok": accepted, "checked_at": self.clock(),
                                 "error": None if accepted else (error or "Jenkins answered 401")}
        self.metrics.credential_ok.labels(name).set(1 if accepted else 0)
        if before is not accepted and not (before is None and accepted):
            audit("credential-accepted" if accepted else "credential-rejected", credential=name,
                  error=None if accepted else error or "Jenkins refused it (401): revoked, expired "
                  "or wrong; write it again")
            if not accepted:
                log.error("Jenkins refuses the stored credential %s: mints and revocations with it "
                          "fail until it is written again", name)

    def check(self) -> dict[str, bool]:
        """Ask Jenkins about every credential a role uses (``whoAmI``); returns name -> ok.
        A credential Jenkins cannot be asked about (down) keeps its last state."""
        self.next_check = self.clock() + self.interval  # also when Vault fails below
        names = {r.credential for r in (self.store.get_role(n) for n in self.store.list_roles()) if r}
        for name in sorted(names):
            stored = self.store.get_credential(name)
            if stored is None:
                continue
            try:
                accepted = self.gateway.check_credential(stored)
                if not accepted:
                    # Maybe rotated by another replica within the cache time: ask Vault again.
                    self.store.forget_credential(name)
                    fresh = self.store.get_credential(name)
                    accepted = fresh is not None and self.gateway.check_credential(fresh)
                self.report(name, accepted)
            except BrokerError as exc:
                log.info("could not check credential %s now: %s", name, redact(str(exc)))
        return {name: state["ok"] for name, state in self.snapshot().items()}

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """name -> {ok, checked_at, error} for every credential heard of."""
        with self._lock:
            return {name: dict(state) for name, state in self._state.items()}
