"""How the broker reaches Vault and proves who it is: :class:`VaultSettings`.

Settings flow one way: the defaults below, then the environment
(:meth:`VaultSettings.from_env`), then explicit keyword arguments. They are
validated once, when the object is built; a bad value raises
:class:`~jenkins_broker.errors.ConfigError` naming the environment variable.

Environment variables (the ``VAULT_*`` ones are those of the Vault CLI):

==================================  ===========================================
``VAULT_ADDR``                      Vault URL, required (``http(s)://host:port``)
``VAULT_TOKEN``                     token, for ``JENKINS_BROKER_VAULT_AUTH=token``
``VAULT_NAMESPACE``                 Vault Enterprise namespace (optional)
``VAULT_CACERT`` / ``VAULT_CAPATH`` CA bundle file / directory for TLS
``VAULT_CLIENT_CERT`` / ``_KEY``    client certificate and key (both or neither)
``VAULT_SKIP_VERIFY``               ``true`` disables TLS verification (tests only)
``VAULT_CLIENT_TIMEOUT``            seconds per request (default 10)
``JENKINS_BROKER_VAULT_AUTH``       ``token`` (default), ``approle``, ``kubernetes``
``JENKINS_BROKER_VAULT_ROLE_ID``    AppRole role_id
``JENKINS_BROKER_VAULT_SECRET_ID``  AppRole secret_id (or ``..._SECRET_ID_FILE``)
``JENKINS_BROKER_VAULT_APPROLE_MOUNT``  AppRole mount (default ``approle``)
``JENKINS_BROKER_VAULT_K8S_ROLE``   Kubernetes auth role
``JENKINS_BROKER_VAULT_K8S_JWT_PATH``  service-account JWT file
``JENKINS_BROKER_VAULT_K8S_MOUNT``  Kubernetes auth mount (default ``kubernetes``)
==================================  ===========================================
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from jenkins_broker.errors import ConfigError

AUTH_METHODS = ("token", "approle", "kubernetes")
DEFAULT_K8S_JWT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"

# field name -> the environment variable an operator sets; used in messages.
ENV_NAMES = {
    "addr": "VAULT_ADDR",
    "auth_method": "JENKINS_BROKER_VAULT_AUTH",
    "token": "VAULT_TOKEN",
    "role_id": "JENKINS_BROKER_VAULT_ROLE_ID",
    "secret_id": "JENKINS_BROKER_VAULT_SECRET_ID",
    "approle_mount": "JENKINS_BROKER_VAULT_APPROLE_MOUNT",
    "k8s_role": "JENKINS_BROKER_VAULT_K8S_ROLE",
    "k8s_jwt_path": "JENKINS_BROKER_VAULT_K8S_JWT_PATH",
    "k8s_mount": "JENKINS_BROKER_VAULT_K8S_MOUNT",
    "namespace": "VAULT_NAMESPACE",
    "ca_cert": "VAULT_CACERT",
    "ca_path": "VAULT_CAPATH",
    "client_cert": "VAULT_CLIENT_CERT",
    "client_key": "VAULT_CLIENT_KEY",
    "skip_verify": "VAULT_SKIP_VERIFY",
    "timeout": "VAULT_CLIENT_TIMEOUT",
}

# Go's strconv.ParseBool, which the Vault CLI uses for VAULT_SKIP_VERIFY.
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def _name(field: str) -> str:
    return f"{ENV_NAMES[field]} ({field})"


def _parse_bool(field: str, value: str) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{_name(field)} must be true or false, not {value!r}")


@dataclasses.dataclass(frozen=True)
class VaultSettings:
    """Where Vault is, how to trust it, and how the broker logs in.

    Secrets (``token``, ``secret_id``) are left out of ``repr``. Building an
    instance validates it; :class:`ConfigError` names the offending setting.
    """

    addr: str
    auth_method: str = "token"
    token: str | None = dataclasses.field(default=None, repr=False)
    role_id: str | None = None
    secret_id: str | None = dataclasses.field(default=None, repr=False)
    approle_mount: str = "approle"
    k8s_role: str | None = None
    k8s_jwt_path: str = DEFAULT_K8S_JWT_PATH
    k8s_mount: str = "kubernetes"
    namespace: str | None = None
    ca_cert: str | None = None
    ca_path: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    skip_verify: bool = False
    timeout: float = 10.0

    def __post_init__(self) -> None:
        self._validate()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> VaultSettings:
        """Build settings from ``environ`` (default ``os.environ``), then ``overrides``.

        Empty variables count as unset, as in the Vault CLI. Raises ConfigError.
        """
        env = os.environ if environ is None else environ

        def get(field: str) -> str | None:
            value = env.get(ENV_NAMES[field], "")
            return value if value.strip() else None

        values: dict[str, Any] = {}
        for field in ENV_NAMES:
            raw = get(field)
            if raw is None:
                continue
            if field == "skip_verify":
                values[field] = _parse_bool(field, raw.strip())
            elif field == "timeout":
                try:
                    values[field] = float(raw.strip().rstrip("s"))
                except ValueError:
                    raise ConfigError(f"{_name(field)} must be a number of seconds, "
                                      f"not {raw!r}") from None
            else:
                values[field] = raw.strip()

        secret_file = env.get("JENKINS_BROKER_VAULT_SECRET_ID_FILE", "").strip()
        if secret_file:
            if "secret_id" in values:
                raise ConfigError("set JENKINS_BROKER_VAULT_SECRET_ID or "
                                  "JENKINS_BROKER_VAULT_SECRET_ID_FILE, not both")
            try:
                with open(secret_file, encoding="utf-8") as fh:
                    values["secret_id"] = fh.read().strip()
            except OSError as exc:
                raise ConfigError(f"JENKINS_BROKER_VAULT_SECRET_ID_FILE: cannot read "
                                  f"{secret_file!r} ({exc.strerror})") from None

        if "addr" not in values and "addr" not in overrides:
            raise ConfigError("VAULT_ADDR is not set: give the Vault URL, "
                              "e.g. https://vault.example.com:8200")
        values.update(overrides)
        return cls(**values)

    # -- derived values used when building a client -----------------------------

    @property
    def verify(self) -> bool | str:
        """What ``requests`` needs for ``verify``: False, a CA file/dir, or True."""
        if self.skip_verify:
            return False
        # As in the Vault CLI, VAULT_CACERT takes precedence over VAULT_CAPATH.
        return self.ca_cert or self.ca_path or True

    @property
    def cert(self) -> tuple[str, str] | tuple[()]:
        """The client certificate pair for ``requests``, or an empty tuple."""
        if self.client_cert and self.client_key:
            return (self.client_cert, self.client_key)
        return ()

    @property
    def login_mount(self) -> str:
        """The auth mount a login goes to (``token`` for token auth)."""
        return {"token": "token", "approle": self.approle_mount,
                "kubernetes": self.k8s_mount}[self.auth_method]

    def secrets(self) -> tuple[str, ...]:
        """The secret values to mask in any message built from these settings."""
        return tuple(s for s in (self.token, self.secret_id) if s)

    # -- validation --------------------------------------------------------------

    def _validate(self) -> None:
        parts = urlsplit(self.addr or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{_name('addr')} must be an http:// or https:// URL, "
                              f"not {self.addr!r}")
        if parts.username or parts.password:
            raise ConfigError(f"{_name('addr')} must not carry credentials in the URL")
        if self.auth_method not in AUTH_METHODS:
            raise ConfigError(f"{_name('auth_method')} must be one of "
                              f"{', '.join(AUTH_METHODS)}, not {self.auth_method!r}")
        required = {"token": ("token",), "approle": ("role_id", "secret_id"),
                    "kubernetes": ("k8s_role",)}[self.auth_method]
        for field in required:
            if not getattr(self, field):
                raise ConfigError(f"{_name(field)} is required when "
                                  f"{ENV_NAMES['auth_method']}={self.auth_method}")
        for field in ("token", "secret_id"):
            value = getattr(self, field)
            if value and (any(c.isspace() for c in value) or not value.isprintable()):
                # Never echo the value: it is a secret.
                raise ConfigError(f"{_name(field)} contains whitespace or control characters")
        for field in ("approle_mount", "k8s_mount"):
            mount = getattr(self, field)
            if not mount or mount.strip("/") != mount or ".." in mount.split("/"):
                raise ConfigError(f"{_name(field)} must be a mount path like 'approle', "
                                  f"not {mount!r}")
        if self.ca_cert and not os.path.isfile(self.ca_cert):
            raise ConfigError(f"{_name('ca_cert')}: no such file {self.ca_cert!r}")
        if self.ca_path and not os.path.isdir(self.ca_path):
            raise ConfigError(f"{_name('ca_path')}: no such directory {self.ca_path!r}")
        if bool(self.client_cert) != bool(self.client_key):
            raise ConfigError(f"{_name('client_cert')} and {_name('client_key')} "
                              "must be set together")
        for field in ("client_cert", "client_key"):
            value = getattr(self, field)
            if value and not os.path.isfile(value):
                raise ConfigError(f"{_name(field)}: no such file {value!r}")
        if not isinstance(self.timeout, (int, float)) or not 0 < self.timeout <= 600:
            raise ConfigError(f"{_name('timeout')} must be between 0 and 600 seconds, "
                              f"not {self.timeout!r}")
