"""The broker's state in Vault, in the layout of README.md, "Vault layout".

``jenkins-broker/`` (KV v2, private)::

    config                      the Jenkins connection
    credentials/<name>          a Jenkins credential (username, kind, origin, token uuid)
    secrets/<name>              its secret alone (writable without being readable)
    roles/<role>                a role
    leases/<role>/<suffix>      one record per minted token (never its value)
    shared/<role>               shared-mode rotation state (check-and-set)
    quota/<role>                max_live_tokens: mints in flight (check-and-set)
    revoking/<role>/<suffix>    a revocation asked for and not done yet (read by every resync)

``jenkins/`` (KV v1, what consumers read in shared mode)::

    creds/<role>                username, token, token_name, jenkins_url, expires_at, lease_id, ttl

Roles, the connection and credentials are read on every mint, so they are
cached for a few seconds; a write through this store refreshes the cache at
once, and other replicas see it within ``cache_seconds``.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import replace
from typing import Any, Callable, Iterable, Iterator

from ..domain.jenkins_config import JenkinsConfig, StoredCredential
from ..domain.records import LeaseRecord
from ..domain.roles import Role
from ..errors import ConfigError, VaultConflict, VaultForbidden, VaultUnavailable
from .client import VaultClient
from .kv import DEFAULT_KV1_MOUNT, DEFAULT_KV2_MOUNT, KVv1, KVv2

log = logging.getLogger(__name__)


class _TTLCache:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self._data: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, load: Callable[[], Any]) -> Any:
        now = time.monotonic()
        with self._lock:
            hit = self._data.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = load()
        with self._lock:
            self._data[key] = (now + self.seconds, value)
        return value

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._data[key] = (time.monotonic() + self.seconds, value)

    def drop(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)


class _Guarded:
    """Wraps a KV helper so that a refusal of the broker's own token is reported."""

    def __init__(self, kv: Any, on_forbidden: Callable[[], None] | None):
        self._kv = kv
        self._on_forbidden = on_forbidden
        self.mount = kv.mount

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._kv, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except VaultForbidden:
                if self._on_forbidden is not None:
                    self._on_forbidden()
                raise
        return call


class VaultStore:
    """Everything the broker keeps in Vault. Methods raise ``VaultError`` subclasses."""

    def __init__(self, client: VaultClient, *, kv_mount: str = DEFAULT_KV2_MOUNT,
                 shared_mount: str = DEFAULT_KV1_MOUNT, cache_seconds: float = 5.0,
                 read_workers: int = 8, on_forbidden: Callable[[], None] | None = None):
        self.client = client
        # on_forbidden: Vault refused the broker's own token (revoked?): the renewer logs in again.
        self.kv = _Guarded(KVv2(client, kv_mount), on_forbidden)
        self.shared = _Guarded(KVv1(client, shared_mount), on_forbidden)
        self._cache = _TTLCache(cache_seconds)
        self.malformed: set[tuple[str, str]] = set()  # lease records that could not be read
        self._malformed_lock = threading.Lock()
        self._read_workers = read_workers

    # -- config and credentials -------------------------------------------------

    def get_jenkins_config(self) -> JenkinsConfig | None:
        """The Jenkins connection, or None if not configured (cached)."""
        def load():
            found = self.kv.read("config")
            return JenkinsConfig.from_record(found[0]) if found else None
        return self._cache.get("config", load)

    def put_jenkins_config(self, config: JenkinsConfig) -> None:
        self.kv.write("config", config.to_record())
        self._cache.put("config", config)

    def forget_jenkins_config(self) -> None:
        """Drop the cached connection, so the next read asks Vault."""
        self._cache.drop("config")

    def get_credential(self, name: str) -> StoredCredential | None:
        """A stored Jenkins credential with its secret, or None (cached).

        ``credentials/<name>`` names the version of ``secrets/<name>`` that belongs to it
        (``secret_version``), and exactly that version is read: a secret written by a
        rotation or a write that stopped before its record was written is never paired
        with the record of the one before. Raises ``ConfigError`` when the secret is gone.
        """
        def load():
            found = self.kv.read(f"credentials/{name}")
            if not found:
                return None
            record = found[0]
            if "secret" in record:  # inline, as brokers before the split stored it
                return StoredCredential.from_record(name, record)
            version = record.get("secret_version")
            secret = self.kv.read(f"secrets/{name}",
                                  version=version if isinstance(version, int) and version > 0
                                  else None)
            if secret is None or not isinstance(secret[0].get("secret"), str):
                raise ConfigError(f"credential {name!r} has no stored secret (deleted by hand?): "
                                  f"write it again (`jenkins-broker credentials write {name} ...`)")
            return StoredCredential.from_record(name, record, secret=secret[0]["secret"])
        return self._cache.get(f"credentials/{name}", load)

    def get_credential_info(self, name: str) -> StoredCredential | None:
        """What is known of a credential, without its secret (``secret`` is empty): what a
        token that may write secrets but not read them (an administrator's) can read."""
        found = self.kv.read(f"credentials/{name}")
        return StoredCredential.from_record(name, found[0], secret="") if found else None

    def put_credential(self, credential: StoredCredential, *, cas: int | None = None) -> None:
        """Store a credential: its secret first, then its record naming that secret's
        version (``cas``: the record's version this write replaces; ``VaultConflict`` if
        it changed). Needs no right to read either path."""
        version = self.kv.write(f"secrets/{credential.name}", {"secret": credential.secret})
        self.kv.write(f"credentials/{credential.name}",
                      {**credential.public_record(), "secret_version": version}, cas=cas)
        self._cache.put(f"credentials/{credential.name}", credential)

    def bind_credential_origin(self, name: str, origin: str) -> StoredCredential | None:
        """Record ``origin`` in a credential stored without one (written before origins were
        recorded), with check-and-set so that a concurrent write or rotation wins; returns
        the credential as stored afterwards (None if it is gone)."""
        for _ in range(3):
            found = self.kv.read(f"credentials/{name}")
            if not found:
                self._cache.drop(f"credentials/{name}")
                return None
            self._cache.drop(f"credentials/{name}")
            current = self.get_credential(name)
            if current is None or current.origin:
                return current
            bound = replace(current, origin=origin)
            try:
                if "secret" in found[0]:  # stored inline: moved out on the way
                    self.put_credential(bound, cas=found[1])
                else:  # the record alone; its secret does not change
                    self.kv.write(f"credentials/{name}", {**found[0], "origin": origin},
                                  cas=found[1])
                    self._cache.put(f"credentials/{name}", bound)
            except VaultConflict:
                continue  # written meanwhile: read it again
            return bound
        raise VaultUnavailable(f"credential {name!r} kept changing while its origin was recorded")

    def move_inline_secrets(self) -> list[str]:
        """Move the secrets of credentials stored inline (by brokers before the split)
        to ``secrets/<name>``, and destroy the record versions that held them, so that a
        policy reading ``credentials/`` reads no secret. Returns the names moved."""
        moved = []
        for name in self.list_credentials():
            found = self.kv.read(f"credentials/{name}")
            if not found or "secret" not in found[0]:
                continue
            credential = StoredCredential.from_record(name, found[0])
            try:
                self.put_credential(credential, cas=found[1])
            except VaultConflict:
                continue  # rewritten meanwhile, so no longer inline
            self.kv.destroy(f"credentials/{name}", list(range(1, found[1] + 1)))
            moved.append(name)
        return moved

    def forget_credential(self, name: str) -> None:
        """Drop a cached credential, so the next read asks Vault (Jenkins refused it)."""
        self._cache.drop(f"credentials/{name}")

    def delete_credential(self, name: str) -> None:
        self.kv.delete(f"credentials/{name}")
        self.kv.delete(f"secrets/{name}")
        self._cache.drop(f"credentials/{name}")

    def list_credentials(self) -> list[str]:
        return self.kv.list("credentials")

    # -- roles ------------------------------------------------------------------

    def get_role(self, name: str) -> Role | None:
        """A role, or None (cached)."""
        def load():
            found = self.kv.read(f"roles/{name}")
            return Role.from_record(name, found[0]) if found else None
        return self._cache.get(f"roles/{name}", load)

    def put_role(self, role: Role) -> None:
        self.kv.write(f"roles/{role.name}", role.to_record())
        self._cache.put(f"roles/{role.name}", role)
        self._cache.drop("roles/")

    def delete_role(self, name: str) -> None:
        """Delete a role and its shared-mode state. Its live leases stay and end as recorded."""
        self.kv.delete(f"roles/{name}")
        self._cache.drop(f"roles/{name}")
        self._cache.drop("roles/")
        try:
            self.kv.delete(f"shared/{name}")
            self.shared.delete(f"creds/{name}")
        except VaultForbidden:
            pass  # an administrator's token may not touch these; the broker cleans them itself

    def list_roles(self) -> list[str]:
        return self._cache.get("roles/", lambda: self.kv.list("roles"))

    # -- lease records ---------------------------------------------------------

    def get_lease(self, role: str, suffix: str) -> tuple[LeaseRecord, int] | None:
        """A lease record, or None. A record that cannot be read as one (written by
        hand, or damaged) is logged, remembered (:meth:`malformed_leases`) and treated as
        absent: it cannot stop the broker from starting, and reconciliation revokes
        its token by name and then deletes it."""
        found = self.kv.read(f"leases/{role}/{suffix}")
        if not found:
            return None
        try:
            return LeaseRecord.from_record(found[0]), found[1]
        except (TypeError, KeyError, ValueError, AttributeError) as exc:
            log.error("ignoring malformed lease record %s/leases/%s/%s (%s)", self.kv.mount, role,
                      suffix, type(exc).__name__)
            with self._malformed_lock:
                self.malformed.add((role, suffix))
            return None

    def get_leases(self, keys: Iterable[tuple[str, str]]) -> Iterator[tuple[LeaseRecord, int]]:
        """Read many records in parallel (start-up, resync, audits), yielding each as it
        arrives, in no particular order; missing ones are skipped."""
        keys = list(keys)
        if len(keys) < 4:
            for key in keys:
                found = self.get_lease(*key)
                if found is not None:
                    yield found
            return
        with ThreadPoolExecutor(max_workers=self._read_workers) as pool:
            for future in as_completed([pool.submit(self.get_lease, *k) for k in keys]):
                found = future.result()
                if found is not None:
                    yield found

    def put_lease(self, record: LeaseRecord, cas: int | None = None) -> int:
        return self.kv.write(f"leases/{record.role}/{record.suffix}", record.to_record(), cas=cas)

    def delete_lease(self, role: str, suffix: str) -> None:
        self.kv.delete(f"leases/{role}/{suffix}")
        with self._malformed_lock:
            self.malformed.discard((role, suffix))

    def malformed_leases(self) -> set[tuple[str, str]]:
        """(role, suffix) of the lease records read and found malformed, until deleted."""
        with self._malformed_lock:
            return set(self.malformed)

    def list_leases(self, role: str) -> list[str]:
        return self.kv.list(f"leases/{role}")

    def list_lease_roles(self) -> list[str]:
        return [name.rstrip("/") for name in self.kv.list("leases") if name.endswith("/")]

    # -- revocations asked for, for every replica to see ------------------------

    def mark_revoking(self, role: str, suffix: str) -> None:
        """Note that a revocation of this lease was asked for (resyncs read these first)."""
        self.kv.write(f"revoking/{role}/{suffix}", {"lease": f"{role}/{suffix}"})

    def unmark_revoking(self, role: str, suffix: str) -> None:
        self.kv.delete(f"revoking/{role}/{suffix}")

    def list_revoking(self) -> list[tuple[str, str]]:
        """(role, suffix) of every lease whose revocation was asked for and is not done."""
        roles = [name.rstrip("/") for name in self.kv.list("revoking") if name.endswith("/")]
        return [(role, suffix) for role in roles for suffix in self.kv.list(f"revoking/{role}")]

    # -- max_live_tokens across replicas ---------------------------------------

    def get_quota(self, role: str) -> tuple[dict[str, Any], int] | None:
        """The role's mints in flight (``pending``: suffix -> time), with its version."""
        return self.kv.read(f"quota/{role}")

    def put_quota(self, role: str, data: dict[str, Any], cas: int) -> int:
        return self.kv.write(f"quota/{role}", data, cas=cas)

    # -- shared mode -----------------------------------------------------------

    def get_rotation_state(self, role: str) -> tuple[dict[str, Any], int] | None:
        return self.kv.read(f"shared/{role}")

    def put_rotation_state(self, role: str, state: dict[str, Any], cas: int) -> int:
        return self.kv.write(f"shared/{role}", state, cas=cas)

    def read_shared(self, role: str) -> dict[str, Any] | None:
        return self.shared.read(f"creds/{role}")

    def write_shared(self, role: str, data: dict[str, Any]) -> None:
        self.shared.write(f"creds/{role}", data)

    def delete_shared(self, role: str) -> None:
        self.shared.delete(f"creds/{role}")

    # -- health ----------------------------------------------------------------

    def vault_health(self, query: str = "") -> tuple[int, dict[str, Any] | None]:
        """Vault's own ``sys/health`` answer, status and body, for ``query`` (Vault's
        parameters: ``standbyok``, ``activecode``...); raises ``VaultUnavailable``."""
        status, body = self.client.request("GET", "sys/health", action="check health of",
                                           query=query or None, with_status=True)
        return status, body if isinstance(body, dict) else None

    def health(self) -> dict[str, Any]:
        """Vault's ``sys/health`` (initialized, sealed, version); raises ``VaultUnavailable``."""
        data = self.client.request("GET", "sys/health", action="check health of",
                                   any_status=True) or {}
        return {k: data.get(k) for k in ("initialized", "sealed", "standby", "version")}
