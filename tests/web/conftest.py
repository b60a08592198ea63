"""The HTTP API over in-memory fakes: a policy table stands in for Vault's answers."""

import fnmatch

import pytest

from jenkins_broker.errors import VaultForbidden
from jenkins_broker.leases import LeaseManager
from jenkins_broker.observability import Metrics
from jenkins_broker.roles import build_role
from jenkins_broker.web import create_app
from jenkins_broker.web.auth import FastPath
from tests.fakes import FakeGateway, MemoryStore


class PolicyAuthorizer:
    """Capabilities from a {token: {path-glob: [caps]}} table, as Vault would answer."""

    def __init__(self, table):
        self.table = table

    def capabilities(self, token, path):
        if token not in self.table:
            raise VaultForbidden("permission denied")
        caps = set()
        for pattern, granted in self.table[token].items():
            if fnmatch.fnmatchcase(path, pattern):
                caps |= set(granted)
        return caps or {"deny"}

    def lookup_self(self, token):
        if token not in self.table:
            raise VaultForbidden("permission denied")
        return {"accessor": f"acc-{token}", "entity_id": f"ent-{token}", "display_name": f"token-{token}",
                "expires_at": None}

    def authorize(self, token, path):
        return self.capabilities(token, path), self.lookup_self(token)

    def known(self, token):
        return False


class Services:
    version = "test"

    def __init__(self):
        self.store = MemoryStore()
        self.gateway = FakeGateway()
        self.gateway.reset = lambda: None
        self.metrics = Metrics()
        self.manager = LeaseManager(self.store, self.gateway, metrics=self.metrics)
        self.reaper = None
        self.fast_path = FastPath()
        self.authorizer = PolicyAuthorizer({
            "ci": {"jenkins/creds/ci-bot": ["read"], "sys/leases/renew": ["update"],
                   "sys/leases/lookup": ["update"]},
            "admin": {"jenkins/roles*": ["create", "read", "update", "delete", "list"],
                      "jenkins/config": ["create", "read", "update"]},
            "auditor": {"jenkins/leases/*": ["read", "list"], "jenkins/revoke/*": ["update"],
                        "sys/leases/revoke": ["update"], "sys/leases/lookup/jenkins/creds*": ["list", "sudo"],
                        "sys/leases/revoke-prefix/jenkins/creds/*": ["update", "sudo"],
                        "jenkins/creds/*": ["deny"]},
            "root": {"*": ["root"]},
        })
        self.store.put_role(build_role("ci-bot", {"jenkins_user": "ci-bot", "strategy": "user-token",
                                                  "credential": "ci-bot", "ttl": "10m", "max_ttl": "1h"}))
        self.store.health = lambda: {"initialized": True, "sealed": False, "version": "test"}
        self.store.list_credentials = lambda: []


@pytest.fixture
def services():
    services = Services()
    yield services
    services.fast_path.close()


@pytest.fixture
def client(services):
    return create_app(services, {"TESTING": True}).test_client()


def as_(token):
    return {"X-Vault-Token": token}
