"""The broker's door to Jenkins: builds the client and strategies from what is stored in Vault.

The Jenkins connection and credentials live in Vault and can change at run
time, written by this broker's API, another replica's or the CLI straight to
Vault. The gateway keeps the client and one strategy per (strategy, credential)
pair, but asks the store for the connection and the credential on every call
(the store caches them for ``cache_seconds``) and rebuilds what no longer
matches, so every change reaches every replica within ``cache_seconds``;
:meth:`reset` drops everything at once after a write through this process.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any, Callable, Protocol, runtime_checkable

from ..domain.jenkins_config import JenkinsConfig, StoredCredential, check_origin, jenkins_origin
from ..domain.records import LeaseRecord
from ..domain.roles import Role
from ..errors import ConfigError, JenkinsAuthError, JenkinsUnavailable
from . import Credential, JenkinsClient, MintedToken, TokenInfo, make_strategy
from .client import open_client
from .rotation import mint_own_token, token_in_use


@runtime_checkable
class ConnectionStore(Protocol):
    def get_jenkins_config(self) -> JenkinsConfig | None: ...
    def get_credential(self, name: str) -> StoredCredential | None: ...
    def forget_credential(self, name: str) -> None: ...
    def forget_jenkins_config(self) -> None: ...
    def bind_credential_origin(self, name: str, origin: str) -> StoredCredential | None: ...


class JenkinsGateway:
    """Mints, revokes and lists tokens with the stored connection and credentials."""

    def __init__(self, store: ConnectionStore, *, client_options: dict[str, Any] | None = None):
        self.store = store
        self.client_options = client_options or {}
        self._lock = threading.Lock()
        self._closed = False
        self._client: JenkinsClient | None = None
        self._config: JenkinsConfig | None = None
        self._strategies: dict[tuple[str, str], tuple[StoredCredential, Any]] = {}
        # Told (credential name, accepted?) when Jenkins refuses a credential, and when the
        # retry with the credential read again settles it; plain successes are not reported
        # (they are every mint), the periodic whoAmI check covers them.
        self.on_credential: Callable[[str, bool], None] | None = None

    @property
    def jenkins_url(self) -> str:
        """Jenkins' root URL, as configured."""
        return self._connection()[1].url

    @property
    def call_timeout(self) -> float:
        """The longest one revocation can take, at the configured timeout per request: the
        crumb, the POST, a crumb refreshed and the POST again, and all of it once more with a
        credential read again after a 401 (eight requests). 0 when Jenkins is not configured."""
        try:
            return 8 * float(self._connection()[1].timeout)
        except ConfigError:
            return 0.0

    def reset(self) -> None:
        """Forget the cached client and strategies, and the store's cached config (before and
        after a config or credential write); the next call builds them again from what Vault
        stores now, not from what this replica read up to a cache lifetime ago."""
        self.store.forget_jenkins_config()
        with self._lock:
            client, self._client, self._config = self._client, None, None
            self._strategies.clear()
        if client is not None:
            client.close()

    def close(self) -> None:
        """Shut down: close the connections; every later call fails with
        ``JenkinsUnavailable`` (a revocation asked for then is retried by the next broker)."""
        with self._lock:
            self._closed = True
        self.reset()

    def _connection(self) -> tuple[JenkinsClient, JenkinsConfig]:
        """The client for the stored connection. The store is asked every time (it caches
        for ``cache_seconds``), and a connection that differs from the one the client was
        built for (written by the CLI straight to Vault, or by another replica) replaces the
        client and every strategy built on it: a change reaches every replica within
        ``cache_seconds``, whoever wrote it."""
        self._check_open()
        config = self.store.get_jenkins_config()
        if config is None:
            raise ConfigError("Jenkins is not configured: write jenkins/config url=<Jenkins root URL> "
                              "(or run `jenkins-broker config write`)")
        stale = None
        with self._lock:
            self._check_open()
            if self._client is not None and self._config == config:
                return self._client, config
            stale, self._client = self._client, open_client(config, **self.client_options)
            self._config = config
            self._strategies.clear()
            client = self._client
        if stale is not None:
            stale.close()
        return client, config

    def _check_open(self) -> None:
        if self._closed:
            raise JenkinsUnavailable("the broker is shutting down: its Jenkins connections "
                                     "are closed")

    def strategy(self, strategy: str, credential_name: str):
        """The strategy object for a (strategy, stored credential) pair; rebuilt when the
        stored credential changed (a rotation, here or on another replica)."""
        client, config = self._connection()
        stored = self.store.get_credential(credential_name)
        if stored is None:
            raise ConfigError(f"no Jenkins credential named {credential_name!r}: write "
                              f"jenkins/credentials/{credential_name} username=... token=...")
        stored = self.bound(stored, config)
        key = (strategy, credential_name)
        with self._lock:
            found = self._strategies.get(key)
        if found is not None and found[0] == stored:
            return found[1]
        made = make_strategy(strategy, client, Credential(stored.username, stored.secret, stored.kind))
        with self._lock:
            self._strategies[key] = (stored, made)
        return made

    def bound(self, stored: StoredCredential, config: JenkinsConfig | None = None) -> StoredCredential:
        """``stored``, checked to be bound to the configured Jenkins origin; ``ConfigError``
        (the URL moved from X to Y, write the credential again) if it was written for another.

        A credential stored before origins were recorded is bound here, at its first use by
        this code, to the origin configured now, and the binding is written to Vault (with
        check-and-set) so that every replica and every later restart holds it: see
        :func:`~jenkins_broker.domain.jenkins_config.check_origin` for why that is the safe
        reading."""
        if config is None:
            config = self._connection()[1]
        if not stored.origin:
            found = self.store.bind_credential_origin(stored.name, jenkins_origin(config.url))
            if found is None:
                raise ConfigError(f"no Jenkins credential named {stored.name!r}: write "
                                  f"jenkins/credentials/{stored.name} username=... token=...")
            if found.username != stored.username or found.secret != stored.secret:
                stored = found  # rewritten meanwhile: check what is stored now
            else:
                stored = replace(stored, origin=found.origin)
        check_origin(stored, config)
        return stored

    def _call(self, strategy: str, credential_name: str, call: Callable[[Any], Any]) -> Any:
        """``call(strategy)``, once more with the credential read again from Vault if Jenkins
        refused it (401): another replica may have rotated it within the cache time. A 401
        means Jenkins did nothing, so trying again is safe."""
        try:
            return call(self.strategy(strategy, credential_name))
        except JenkinsAuthError:
            self.store.forget_credential(credential_name)
            try:
                result = call(self.strategy(strategy, credential_name))
            except JenkinsAuthError:
                self._report(credential_name, False)
                raise
        self._report(credential_name, True)
        return result

    def _report(self, credential_name: str, accepted: bool) -> None:
        if self.on_credential is not None:
            self.on_credential(credential_name, accepted)

    def mint(self, role: Role, name: str) -> MintedToken:
        """Mint a token named ``name`` for the role's Jenkins user (see the strategies)."""
        return self._call(role.strategy, role.credential, lambda s: s.mint(
            user=role.jenkins_user, name=name, max_lease_seconds=role.max_ttl))

    def revoke(self, record: LeaseRecord) -> None:
        """Revoke the token of ``record`` with the strategy and credential that minted it."""
        self._call(record.strategy, record.credential, lambda s: s.revoke(
            user=record.jenkins_user, uuid=record.token_uuid))

    def revoke_token(self, role: Role, uuid: str) -> None:
        """Revoke token ``uuid`` of the role's Jenkins user with the role's strategy and
        credential (reconciliation: orphans, foreign tokens, the tokens of failed mints)."""
        self._call(role.strategy, role.credential, lambda s: s.revoke(
            user=role.jenkins_user, uuid=uuid))

    def list_tokens(self, role: Role) -> list[TokenInfo]:
        """The tokens Jenkins holds for the role's user (for reconciliation)."""
        return self._call(role.strategy, role.credential,
                          lambda s: s.list_tokens(user=role.jenkins_user))

    def check_credential(self, stored: StoredCredential) -> bool:
        """True if Jenkins accepts the stored credential (``GET whoAmI/api/json`` as its user).
        Raises the client's mapped errors when Jenkins cannot say."""
        client, config = self._connection()
        stored = self.bound(stored, config)
        return client.verify_token(stored.username, stored.secret)

    def mint_credential_token(self, stored: StoredCredential, name: str) -> tuple[MintedToken, str | None]:
        """With the token credential ``stored``, mint the broker's own replacement named ``name``
        (see :mod:`jenkins_broker.jenkins.rotation`); return it and the uuid of the token
        ``stored`` holds, when known or found from Jenkins' usage statistics."""
        client, config = self._connection()
        stored = self.bound(stored, config)
        given = Credential.token(stored.username, stored.secret)
        old = stored.token_uuid or token_in_use(client, given)
        return mint_own_token(client, given, name), old

    def revoke_credential_token(self, stored: StoredCredential, uuid: str) -> None:
        """Revoke token ``uuid`` of the credential's own user, authenticated as ``stored``."""
        client, config = self._connection()
        stored = self.bound(stored, config)
        client.revoke_token(Credential.token(stored.username, stored.secret), stored.username, uuid)

    def version(self) -> str | None:
        """The Jenkins version (``X-Jenkins``), or None if Jenkins does not say."""
        return self._connection()[0].version()
