"""``jenkins-broker check``: is everything the broker needs in place and working?

Checks, in order, and reports each with ok/FAIL and a hint: Vault reachable and
unsealed; the broker's mounts present; Jenkins configured, reachable, answering as
Jenkins (the ``X-Jenkins`` header, docs/jenkins-behaviour.md §6), and its version;
every role's stored credential logs in to Jenkins as its user, and can mint for the
role's ``jenkins_user`` with the role's strategy (:func:`pairing`).
Exit status 0 only if everything passed.

Whether the URL answers as Jenkins is :func:`~jenkins_broker.commands.jenkins_probe.jenkins_version`,
which ``config write`` also asks before it stores a URL.
"""

from __future__ import annotations

import argparse
import functools
from typing import TYPE_CHECKING, Any, Callable

from ..domain.jenkins_config import JenkinsConfig, StoredCredential, check_origin, jenkins_origin
from ..errors import (
    BrokerError,
    JenkinsAuthError,
    JenkinsForbidden,
    JenkinsNotFound,
    JenkinsProtocolError,
    VaultForbidden,
    redact,
)
from ..jenkins.client import logs_in_as
from .admin import UNREADABLE_SECRET
from .jenkins_probe import jenkins_version

#: Strategies that act as the credential's own user, and those that need an administrator to
#: act on another user (docs/jenkins-behaviour.md §9). legacy is both: the user's own
#: changeToken, or an administrator's on another user.
SELF_SERVICE = ("user-token", "user-password")
ADMINISTRATOR = ("admin-script", "admin-rest")

if TYPE_CHECKING:
    from ..domain.roles import Role
    from ..jenkins.client import JenkinsClient
    from ..jenkins.gateway import JenkinsGateway
    from ..vault.store import VaultStore


def _step(results: list[dict[str, Any]], name: str, action: Callable[[], str]) -> bool:
    try:
        detail = action()
        results.append({"check": name, "ok": True, "detail": detail})
        return True
    except BrokerError as exc:
        results.append({"check": name, "ok": False, "detail": redact(str(exc), limit=400)})
        return False


def run_check(args: argparse.Namespace) -> int:
    """Run every check and print the results; returns the exit status."""
    from .output import emit_rows

    results = _Checks().run()
    for row in results:
        row["ok"] = "ok" if row["ok"] is True else ("FAIL" if row["ok"] is False else row["ok"])
    emit_rows(args, results, ["check", "ok", "detail"])
    return 0 if all(r["ok"] == "ok" for r in results) else 1


class _Checks:
    """The checks in order, each a method returning its detail or raising ``BrokerError``;
    each finds what the next one needs (the store, then the gateway)."""

    store: VaultStore
    gateway: JenkinsGateway
    config: JenkinsConfig

    def __init__(self) -> None:
        self.results: list[dict[str, Any]] = []

    def run(self) -> list[dict[str, Any]]:
        """The rows: one per check run; a failed check ends the run, except a role's."""
        if (_step(self.results, "vault", self._vault) and _step(self.results, "mounts", self._mounts)
                and _step(self.results, "jenkins", self._jenkins)):
            self._roles()
        return self.results

    def _vault(self) -> str:
        from .admin import open_store

        self.store = store = open_store()
        health = store.health()
        if health.get("sealed"):
            raise BrokerError("Vault is sealed: unseal it (bao operator unseal)")
        return f"reachable, unsealed, version {health.get('version')}"

    def _mounts(self) -> str:
        self.store.kv.list("roles")
        try:
            self.store.shared.list("creds")
        except VaultForbidden:  # jenkins-admin may not list shared credentials, by design
            return (f"{self.store.kv.mount}/ (KV v2) answers; {self.store.shared.mount}/ (KV v1) "
                    "not checked: this Vault token may not list it")
        return f"{self.store.kv.mount}/ (KV v2) and {self.store.shared.mount}/ (KV v1) answer"

    def _jenkins(self) -> str:
        from ..jenkins.gateway import JenkinsGateway

        gateway = self.gateway = JenkinsGateway(self.store)
        client, _ = gateway._connection()
        try:
            version = jenkins_version(client)
        except JenkinsProtocolError as exc:  # something answers, not as Jenkins
            raise BrokerError(f"{exc} Fix it with `jenkins-broker config write --url <Jenkins root "
                              "URL>`.") from None
        return f"{gateway.jenkins_url} answers, Jenkins {version}"

    def _roles(self) -> None:
        client, self.config = self.gateway._connection()
        names = self.store.list_roles()
        for name in names:
            role = self.store.get_role(name)
            if role is not None:
                _step(self.results, f"role {name}", functools.partial(self._credential, client, role))
        if not names:
            self.results.append({"check": "roles", "ok": True, "detail": "no roles yet"})

    def _credential(self, client: JenkinsClient, role: Role) -> str:
        try:
            stored = self.store.get_credential(role.credential)
        except VaultForbidden:
            raise BrokerError(UNREADABLE_SECRET.format(name=role.credential, what="test it")
                              + ": run check with the broker's own Vault identity, or read "
                              "the credential's state in the broker's /v1/sys/health") from None
        if stored is None:
            raise BrokerError(f"credential {role.credential!r} is not stored")
        # Not sent to a Jenkins it was not written for (the URL moved): say so, do not try it.
        check_origin(stored, self.config)
        try:
            who = client.whoami(stored.username, stored.secret)
        except JenkinsAuthError:
            raise BrokerError(f"Jenkins refuses credential {role.credential!r} (401): revoked "
                              "(a holder of a leased token of the same user can do that), "
                              "expired or wrong; write it again with `jenkins-broker "
                              "credentials write`") from None
        if not logs_in_as(who, stored.username):
            raise BrokerError(f"credential {role.credential!r} did not log in as "
                              f"{stored.username!r}")
        self._pairing(client, role, stored)
        detail = f"{role.strategy}: credential {role.credential!r} logs in as {stored.username}"
        if not stored.origin:
            detail += (f"; stored before origins were recorded: the broker binds it to "
                       f"{jenkins_origin(self.config.url)} at its first use")
        if stored.kind == "token" and not stored.token_uuid:
            detail += (f"; not rotated, so foreign tokens on {stored.username!r} are only "
                       f"reported: run `jenkins-broker credentials rotate {role.credential}`")
        return detail

    def _pairing(self, client: JenkinsClient, role: Role, stored: StoredCredential) -> None:
        """Raise ``BrokerError`` (what to change) unless ``stored`` can mint for the role's
        ``jenkins_user`` with the role's strategy: the self-service strategies only for the
        credential's own user, the administrator ones (and legacy for another user) only with
        an administrator, asked of Jenkins with the strategy's own read-only call (listing the
        user's tokens: the token page, or the script console for admin-script). The strategy
        is built here, not through the gateway, so that checking binds nothing in Vault."""
        from ..jenkins import Credential, make_strategy

        own = stored.username.casefold() == role.jenkins_user.casefold()
        try:  # the right kind of credential for the strategy
            strategy = make_strategy(role.strategy, client,
                                     Credential(stored.username, stored.secret, stored.kind))
        except BrokerError as exc:
            raise BrokerError(f"{exc} Write a credential of that kind and name it in the role "
                              f"(`jenkins-broker roles write {role.name} credential=...`).") from None
        if role.strategy in SELF_SERVICE:
            if not own:
                raise BrokerError(
                    f"{role.strategy} mints only for the credential's own user, and credential "
                    f"{role.credential!r} logs in as {stored.username!r}, not the role's "
                    f"jenkins_user {role.jenkins_user!r}: store a "
                    f"{'token' if role.strategy == 'user-token' else 'password'} of Jenkins user "
                    f"{role.jenkins_user} itself (`jenkins-broker credentials write NAME --username "
                    f"{role.jenkins_user} ...`) and name it in the role, or use admin-script or "
                    "admin-rest with an administrator's credential")
            return
        if own and role.strategy not in ADMINISTRATOR:
            return  # legacy on the credential's own user: its own changeToken
        try:
            strategy.list_tokens(user=role.jenkins_user)
        except JenkinsForbidden:
            needs = role.strategy if role.strategy in ADMINISTRATOR else f"{role.strategy} for another user"
            raise BrokerError(
                f"credential {role.credential!r} logs in as {stored.username!r}, which is not a "
                f"Jenkins administrator (Overall/Administer): {needs} needs one; store an "
                f"administrator's credential and name it in the role (`jenkins-broker roles write "
                f"{role.name} credential=...`), or a token of Jenkins user {role.jenkins_user} "
                "itself for strategy user-token") from None
        except JenkinsNotFound:
            raise BrokerError(f"Jenkins has no user {role.jenkins_user!r} (the role's jenkins_user): "
                              "check its spelling as Jenkins shows it (People)") from None
