"""The secrets engine as its tests drive it: one request at a time, as OpenBao sends them."""

from __future__ import annotations

from dataclasses import dataclass

from jenkins_broker.vaultplugin.backend import JenkinsBackend
from jenkins_broker.vaultplugin.logical import LeaseOptions, Request, Secret
from jenkins_broker.vaultplugin.storage import MemoryStorage


@dataclass
class Engine:
    backend: JenkinsBackend
    storage: MemoryStorage

    def call(self, operation: str, path: str = "", data: dict | None = None, secret: Secret | None = None):
        """Send one request; returns the Response (or None), raises LogicalError."""
        return self.backend.handle(Request(operation=operation, path=path, storage=self.storage,
                                           data=dict(data or {}), secret=secret))

    def revoke(self, response, **lease):
        secret = response.secret
        return self.call("revoke", "creds/x", secret=Secret(lease=LeaseOptions(**lease) if lease else secret.lease,
                                                               internal_data=secret.internal_data))

    def renew(self, response, increment: int = 0, issue_time: float | None = None):
        secret = response.secret
        options = LeaseOptions(ttl=secret.lease.ttl, max_ttl=secret.lease.max_ttl, increment=increment,
                               issue_time=issue_time if issue_time is not None else secret.lease.issue_time)
        return self.call("renew", "creds/x", secret=Secret(lease=options, internal_data=secret.internal_data))
