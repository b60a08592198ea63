"""The HTTP API's test doubles: its services over in-memory fakes, and a policy table that
stands in for Vault's answers about callers' tokens."""

import fnmatch

from jenkins_broker.domain.leases import LeaseManager
from jenkins_broker.errors import CallerTokenGone, VaultForbidden
from jenkins_broker.observability import Metrics
from jenkins_broker.web.auth import FastPath
from tests.fakes import FakeGateway, MemoryStore
from tests.support.roles import ci_bot_role


class PolicyAuthorizer:
    """Capabilities from a {token: {path-glob: [caps]}} table, as Vault would answer; like
    ``CallerAuthz`` it remembers the identities it looked up (``known``: the mint fast path)."""

    def __init__(self, table):
        self.table = table
        self.identified: set[str] = set()
        self.wrapped: list[tuple[str, dict]] = []

    def capabilities(self, caller_token, path):
        if caller_token not in self.table:
            raise VaultForbidden("permission denied")
        caps = set()
        for pattern, granted in self.table[caller_token].items():
            if fnmatch.fnmatchcase(path, pattern):
                caps |= set(granted)
        return caps or {"deny"}

    def lookup_self(self, caller_token):
        if caller_token not in self.table:
            raise VaultForbidden("permission denied")
        self.identified.add(caller_token)
        return {"accessor": f"acc-{caller_token}", "entity_id": f"ent-{caller_token}",
                "display_name": f"token-{caller_token}", "expires_at": None}

    def authorize(self, caller_token, path):
        return self.capabilities(caller_token, path), self.lookup_self(caller_token)

    def known(self, caller_token):
        return caller_token in self.identified

    def wrap(self, caller_token, data, ttl):
        """As Vault's sys/wrapping/wrap: the data kept, a wrapping token answered."""
        if caller_token not in self.table:
            raise VaultForbidden("permission denied")
        self.wrapped.append((ttl, data))
        return {"data": None, "wrap_info": {"token": f"wrap-{len(self.wrapped)}", "ttl": 60,
                                            "creation_path": "sys/wrapping/wrap"}}

    def token_expiry(self, accessor):
        if accessor.removeprefix("acc-") not in self.table:
            raise CallerTokenGone(f"accessor {accessor} is invalid")
        return None


class Services:
    version = "test"

    def __init__(self):
        self.store = MemoryStore()
        self.gateway = FakeGateway()
        self.metrics = Metrics()
        self.manager = LeaseManager(self.store, self.gateway, metrics=self.metrics)
        self.reaper = None
        self.credentials = None
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
            "scraper": {"sys/metrics": ["read"]},
            "root": {"*": ["root"]},
        })
        self.store.put_role(ci_bot_role(ttl="10m", max_ttl="1h"))
        self.store.list_credentials = lambda: []


def as_(token):
    return {"X-Vault-Token": token}
