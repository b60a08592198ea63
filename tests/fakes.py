"""In-memory stand-ins for the Vault store and the Jenkins gateway, for fast domain tests.

They keep the semantics the domain relies on: KV v2 check-and-set (``cas=0``
means "must not exist yet"), idempotent deletes, and a gateway that can be told
to fail. Each implements the same ports as the real class it stands in for
(``tests/test_ports.py`` checks it): ``MemoryStore`` those of ``VaultStore``,
``FakeGateway`` those of ``JenkinsGateway``.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, replace

from jenkins_broker.domain.records import LeaseRecord
from jenkins_broker.domain.roles import Role
from jenkins_broker.errors import JenkinsConnectionError, VaultConflict, VaultUnavailable
from jenkins_broker.jenkins.models import TokenInfo


class MemoryStore:
    def __init__(self):
        self.roles: dict[str, Role] = {}
        self.leases: dict[tuple[str, str], tuple[dict, int]] = {}
        self.rotation: dict[str, tuple[dict, int]] = {}
        self.shared: dict[str, dict] = {}
        self.credentials: dict = {}
        self.quota: dict[str, tuple[dict, int]] = {}
        self.revoking: set[tuple[str, str]] = set()
        self.malformed: set[tuple[str, str]] = set()
        self.config = None
        self.fail_writes = False
        self.lock = threading.Lock()

    def get_role(self, name):
        return self.roles.get(name)

    def list_roles(self):
        return sorted(self.roles)

    def put_role(self, role):
        self.roles[role.name] = role

    def delete_role(self, name):
        self.roles.pop(name, None)

    def _cas(self, table, key, data, cas):
        with self.lock:
            if self.fail_writes:
                raise VaultUnavailable("vault is down (test)")
            current = table.get(key)
            version = current[1] if current else 0
            if cas is not None and cas != version:
                raise VaultConflict("check-and-set mismatch")
            table[key] = (data, version + 1)
            return version + 1

    def get_jenkins_config(self):
        return self.config

    def put_jenkins_config(self, config):
        self.config = config

    def health(self):
        return {"initialized": True, "sealed": False, "version": "test"}

    def vault_health(self, query=""):
        return 200, {"initialized": True, "sealed": False, "standby": False, "version": "test"}

    def get_credential(self, name):
        return self.credentials.get(name)

    def get_credential_info(self, name):
        found = self.credentials.get(name)
        return None if found is None else replace(found, secret="")

    def put_credential(self, credential, *, cas=None):
        self.credentials[credential.name] = credential

    def move_inline_secrets(self):
        return []  # nothing is ever stored inline here

    def list_credentials(self):
        return sorted(self.credentials)

    def forget_jenkins_config(self):
        pass  # nothing is cached here

    def forget_credential(self, name):
        pass  # nothing is cached here

    def bind_credential_origin(self, name, origin):
        found = self.credentials.get(name)
        if found is not None and not found.origin:
            found = self.credentials[name] = replace(found, origin=origin)
        return found

    def delete_credential(self, name):
        self.credentials.pop(name, None)

    def get_lease(self, role, suffix):
        found = self.leases.get((role, suffix))
        if not found:
            return None
        try:
            return LeaseRecord.from_record(found[0]), found[1]
        except (TypeError, KeyError, ValueError, AttributeError):
            self.malformed.add((role, suffix))  # as VaultStore: remembered, treated as absent
            return None

    def get_leases(self, keys):
        return [found for found in (self.get_lease(*k) for k in keys) if found]

    def put_lease(self, record, cas=None):
        return self._cas(self.leases, (record.role, record.suffix), record.to_record(), cas)

    def delete_lease(self, role, suffix):
        self.leases.pop((role, suffix), None)
        self.malformed.discard((role, suffix))

    def malformed_leases(self):
        return set(self.malformed)

    def list_leases(self, role):
        return [s for (r, s) in self.leases if r == role]

    def list_lease_roles(self):
        return sorted({r for (r, _) in self.leases})

    def mark_revoking(self, role, suffix):
        self.revoking.add((role, suffix))

    def unmark_revoking(self, role, suffix):
        self.revoking.discard((role, suffix))

    def list_revoking(self):
        return sorted(self.revoking)

    def get_quota(self, role):
        return self.quota.get(role)

    def put_quota(self, role, data, cas):
        return self._cas(self.quota, role, dict(data), cas)

    def get_rotation_state(self, role):
        return self.rotation.get(role)

    def put_rotation_state(self, role, state, cas):
        return self._cas(self.rotation, role, dict(state), cas)

    def write_shared(self, role, data):
        self.shared[role] = dict(data)

    def delete_shared(self, role):
        self.shared.pop(role, None)


@dataclass
class FakeMinted:
    user: str
    uuid: str
    name: str
    value: str


class FakeGateway:
    jenkins_url = "http://jenkins.test/"
    call_timeout = 0.0

    def __init__(self):
        self.live: dict[str, FakeMinted] = {}
        self.revoked: list[str] = []
        self.fail_mint = False
        self.fail_revoke = False
        self.refused: set[str] = set()  # names of the credentials Jenkins refuses
        self.on_credential = None
        self.closed = False
        self.lock = threading.Lock()

    def close(self):
        self.closed = True

    def reset(self):
        pass  # nothing is cached here

    def mint(self, role, name):
        if self.fail_mint:
            raise JenkinsConnectionError("connection refused (test)", url=self.jenkins_url)
        minted = FakeMinted(role.jenkins_user, secrets.token_hex(8), name, "11" + secrets.token_hex(16))
        with self.lock:
            self.live[minted.uuid] = minted
        return minted

    def revoke(self, record):
        self._revoke(record.token_uuid)

    def _revoke(self, uuid):
        if self.fail_revoke:
            raise JenkinsConnectionError("connection refused (test)", url=self.jenkins_url)
        with self.lock:
            self.live.pop(uuid, None)
            self.revoked.append(uuid)

    # -- what reconciliation uses ---------------------------------------------------------

    def add_token(self, user, name):
        """Seed a token the broker did not mint (e.g. one the secrets engine made); returns its uuid."""
        minted = FakeMinted(user, secrets.token_hex(8), name, "11" + secrets.token_hex(16))
        with self.lock:
            self.live[minted.uuid] = minted
        return minted.uuid

    def list_tokens(self, role):
        with self.lock:
            return [TokenInfo(uuid=m.uuid, name=m.name) for m in self.live.values()
                    if m.user == role.jenkins_user]

    def revoke_token(self, role, uuid):
        self._revoke(uuid)

    # -- what the credentials' rotation and health checks use -------------------------------

    def check_credential(self, stored):
        return stored.name not in self.refused

    def mint_credential_token(self, stored, name):
        minted = FakeMinted(stored.username, secrets.token_hex(8), name, "11" + secrets.token_hex(16))
        with self.lock:
            self.live[minted.uuid] = minted
        return minted, stored.token_uuid

    def revoke_credential_token(self, stored, uuid):
        self._revoke(uuid)


class Clock:
    def __init__(self, now=1_000_000.0):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds
