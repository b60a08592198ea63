"""The broker's own settings: defaults, then the environment, then explicit arguments.

Validated once at start-up; every error names the environment variable.
Vault connection settings use the Vault CLI's variable names (see
:class:`jenkins_broker.vault.settings.VaultSettings`); the Jenkins connection
and credentials are not here, they are stored in Vault.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any, Mapping

from ..errors import ConfigError
from ..values import parse_bool

PREFIX = "JENKINS_BROKER_"


@dataclass(frozen=True)
class BrokerSettings:
    """Settings of ``jenkins-broker serve`` (environment variable in brackets)."""

    listen: str = "127.0.0.1:8400"        # [JENKINS_BROKER_LISTEN] host:port
    kv_mount: str = "jenkins-broker"      # [JENKINS_BROKER_KV_MOUNT] private KV v2 mount
    shared_mount: str = "jenkins"         # [JENKINS_BROKER_SHARED_MOUNT] shared KV v1 mount
    threads: int = 16                     # [JENKINS_BROKER_THREADS] HTTP worker threads
    spare_threads: int = 100              # [JENKINS_BROKER_SPARE_THREADS] HTTP threads beyond THREADS for clients still sending
    request_deadline: float = 10.0        # [JENKINS_BROKER_REQUEST_DEADLINE] s to send a whole request (TLS handshake, line, headers, body)
    idle_timeout: int = 10                # [JENKINS_BROKER_IDLE_TIMEOUT] whole s before a kept-alive connection between requests is closed
    reap_workers: int = 8                 # [JENKINS_BROKER_REAP_WORKERS] parallel revocations
    resync_interval: float = 60.0         # [JENKINS_BROKER_RESYNC_INTERVAL] s between index resyncs
    reconcile_interval: float = 60.0      # [JENKINS_BROKER_RECONCILE_INTERVAL] s between scans of the roles' Jenkins users
    orphan_grace: float = 60.0            # [JENKINS_BROKER_ORPHAN_GRACE] s before an unrecorded token is an orphan
    retry_base: float = 1.0               # [JENKINS_BROKER_RETRY_BASE] first revocation retry delay, s
    retry_cap: float = 300.0              # [JENKINS_BROKER_RETRY_CAP] longest revocation retry delay, s
    claim_timeout: float = 30.0           # [JENKINS_BROKER_CLAIM_TIMEOUT] s before another replica may take over a revocation
    cache_seconds: float = 5.0            # [JENKINS_BROKER_CACHE_SECONDS] role/config cache lifetime
    token_check_interval: float = 5.0     # [JENKINS_BROKER_TOKEN_CHECK_INTERVAL] s between checks of callers' tokens
    credential_check_interval: float = 10.0  # [JENKINS_BROKER_CREDENTIAL_CHECK_INTERVAL] s between whoAmI checks of credentials
    token_check_rate: float = 200.0       # [JENKINS_BROKER_TOKEN_CHECK_RATE] most token lookups a second
    tls_cert: str = ""                    # [JENKINS_BROKER_TLS_CERT] serve HTTPS with this cert (PEM)
    tls_key: str = ""                     # [JENKINS_BROKER_TLS_KEY] and this key
    log_level: str = "INFO"               # [JENKINS_BROKER_LOG_LEVEL]
    engine_shares_users: bool = False     # [JENKINS_BROKER_ENGINE_SHARES_USERS] the secrets engine mints for the same Jenkins users
    metrics_unauthenticated: bool = False  # [JENKINS_BROKER_METRICS_UNAUTHENTICATED] serve /metrics without a token
    forward_max_body: int = 33554432      # [JENKINS_BROKER_FORWARD_MAX_BODY] largest body, bytes, passed on to Vault (Vault's own default, 32 MiB)
    forward_timeout: float = 60.0         # [JENKINS_BROKER_FORWARD_TIMEOUT] s Vault may take to answer a request passed on

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]") or "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> "BrokerSettings":
        """Defaults, then ``JENKINS_BROKER_*`` variables, then ``overrides``; validated."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(PREFIX + f.name.upper(), "").strip()
            if not raw:
                continue
            if f.type == "bool":
                try:
                    values[f.name] = parse_bool(raw)
                except ValueError:
                    raise ConfigError(f"{PREFIX}{f.name.upper()} must be true or false, not {raw!r}") from None
            elif f.type == "int":
                try:
                    values[f.name] = int(raw)
                except ValueError:
                    raise ConfigError(f"{PREFIX}{f.name.upper()} must be a whole number, not {raw!r}") from None
            elif f.type == "float":
                try:
                    values[f.name] = float(raw)
                except ValueError:
                    raise ConfigError(f"{PREFIX}{f.name.upper()} must be a number, not {raw!r}") from None
            else:
                values[f.name] = raw
        values.update(overrides)
        settings = replace(cls(), **values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the first invalid setting."""
        host, sep, port = self.listen.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ConfigError(f"{PREFIX}LISTEN must be host:port, not {self.listen!r}")
        for name in ("threads", "reap_workers"):
            if not 1 <= getattr(self, name) <= 512:
                raise ConfigError(f"{PREFIX}{name.upper()} must be between 1 and 512")
        if not 0 <= self.spare_threads <= 1024:
            raise ConfigError(f"{PREFIX}SPARE_THREADS must be between 0 and 1024")
        if not 0 < self.request_deadline <= 600:       # also refuses nan and inf
            raise ConfigError(f"{PREFIX}REQUEST_DEADLINE must be more than 0 and at most 600 seconds")
        if not 1 <= self.idle_timeout <= 3600:
            raise ConfigError(f"{PREFIX}IDLE_TIMEOUT must be between 1 and 3600 seconds")
        if not 0 <= self.forward_max_body <= 1024 ** 3:
            raise ConfigError(f"{PREFIX}FORWARD_MAX_BODY must be between 0 and 1073741824 bytes")
        if not 0 < self.forward_timeout <= 3600:       # also refuses nan and inf
            raise ConfigError(f"{PREFIX}FORWARD_TIMEOUT must be more than 0 and at most 3600 seconds")
        for name in ("resync_interval", "reconcile_interval", "retry_base", "retry_cap",
                     "claim_timeout", "token_check_interval", "token_check_rate",
                     "credential_check_interval"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{PREFIX}{name.upper()} must be positive")
        if self.retry_cap < self.retry_base:
            raise ConfigError(f"{PREFIX}RETRY_CAP must be at least {PREFIX}RETRY_BASE")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError(f"set both {PREFIX}TLS_CERT and {PREFIX}TLS_KEY, or neither")
        for name in ("tls_cert", "tls_key"):
            path = getattr(self, name)
            if path and not os.path.isfile(path):
                raise ConfigError(f"{PREFIX}{name.upper()}: no such file {path!r}")
