"""A small client for the broker's own HTTP API, used by the CLI when ``JENKINS_BROKER_ADDR`` is set.

Auditors act through the broker (their policy lets them see and revoke leases,
not read the Jenkins credentials a direct revocation would need). The caller's
Vault token is ``VAULT_TOKEN``; a CA for an HTTPS broker is
``JENKINS_BROKER_CACERT`` (else ``VAULT_CACERT``).
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from .. import transport
from ..errors import BrokerError, ConfigError, redact


class BrokerAPI:
    """Calls ``/v1/...`` on a running broker with the caller's Vault token."""

    def __init__(self, addr: str, token: str, *, verify: bool | str = True, timeout: float = 30.0):
        if not addr.startswith(("http://", "https://")):
            raise ConfigError(f"JENKINS_BROKER_ADDR must be an http:// or https:// URL, not {addr!r}")
        if not token:
            raise ConfigError("VAULT_TOKEN is not set: the broker authorizes you by your Vault token")
        self.addr = addr.rstrip("/")
        self.timeout = timeout
        try:
            self._session = transport.Session(self.addr, timeout=timeout, verify=verify,
                                              headers={"X-Vault-Token": token}, pool_size=1)
        except transport.TransportError as exc:
            raise ConfigError(f"JENKINS_BROKER_CACERT / VAULT_CACERT cannot be used: "
                              f"{exc.reason}") from None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "BrokerAPI | None":
        """The API client if ``JENKINS_BROKER_ADDR`` is set, else None."""
        env = os.environ if environ is None else environ
        addr = env.get("JENKINS_BROKER_ADDR", "").strip()
        if not addr:
            return None
        ca = env.get("JENKINS_BROKER_CACERT") or env.get("VAULT_CACERT") or True
        return cls(addr, env.get("VAULT_TOKEN", "").strip(), verify=ca)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, *,
             absent: tuple[int, ...] = ()) -> dict[str, Any] | None:
        """Send one request; return the JSON answer (None for 204/404 on LIST).

        ``absent``: statuses that mean "no such thing" here, answered with None (a lease
        lookup's 400). Raises ``BrokerError`` with the broker's own error messages.
        """
        url = f"{self.addr}/v1/{path.lstrip('/')}"
        try:
            resp = self._session.request(method, url, json=body)
        except transport.TransportError as exc:
            raise BrokerError(f"cannot reach the broker at {self.addr}: {exc.reason}") from None
        if resp.status == 204 or resp.status in absent or (method == "LIST" and resp.status == 404):
            return None
        try:
            data = resp.json()
        except ValueError:
            data = {}
        if resp.status >= 400:
            errors = "; ".join(str(e) for e in data.get("errors") or []) or resp.reason
            raise BrokerError(f"the broker answered {resp.status} for {method} /v1/{path}: "
                              f"{redact(errors)}")
        return data

    def answer(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """:meth:`call` for a request the broker answers with a JSON body; BrokerError if none came."""
        data = self.call(method, path, body)
        if data is None:
            raise BrokerError(f"the broker answered {method} /v1/{path} with no body")
        return data
