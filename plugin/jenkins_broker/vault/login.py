"""Building the broker's Vault client and logging it in.

``connect(settings)`` is the start-up call: it builds a
:class:`~jenkins_broker.vault.client.VaultClient` and logs in with the configured
method (token, AppRole or Kubernetes). Keeping the token alive afterwards is
:class:`jenkins_broker.vault.renewal.TokenRenewer`'s job.

One client (one pool of kept-alive connections) is shared by everything that talks
to Vault. :func:`admin_client` gives an hvac client for administrative work
(``jenkins-broker bootstrap``), built from the same settings.
"""

from __future__ import annotations

import dataclasses
import logging

import hvac

from jenkins_broker.errors import ConfigError
from jenkins_broker.vault.client import VaultClient
from jenkins_broker.vault.settings import ENV_NAMES, VaultSettings

log = logging.getLogger("jenkins_broker.vault")


@dataclasses.dataclass(frozen=True)
class LoginResult:
    """What a login gave: the token (hidden from repr) and its lease.

    ``ttl`` is in seconds; 0 means the token never expires (a root token).
    """

    method: str
    token: str = dataclasses.field(repr=False)
    accessor: str
    policies: tuple[str, ...]
    ttl: int
    renewable: bool


def new_client(settings: VaultSettings, token: str | None = None) -> VaultClient:
    """Return the broker's client for ``settings.addr`` carrying ``token`` (or none).

    Nothing is sent to Vault. TLS, client certificate, namespace and timeout come
    from ``settings`` only, so configuration flows one way.
    """
    return VaultClient(settings, token or "")


def admin_client(settings: VaultSettings, token: str) -> hvac.Client:
    """An hvac client for administrative calls (bootstrap), carrying ``token``.

    hvac's own fallbacks to ``VAULT_TOKEN``, ``~/.vault-token`` and
    ``VAULT_CLIENT_CERT`` are switched off: everything comes from ``settings``.
    """
    client = hvac.Client(
        url=settings.addr,
        token=token or "",          # "" (not None): stops hvac reading env/~/.vault-token
        # () (not None): stops hvac reading VAULT_CLIENT_CERT (its stubs allow a pair or None).
        cert=settings.cert or (),  # type: ignore[arg-type]
        verify=settings.verify,
        timeout=settings.timeout,  # type: ignore[arg-type]  # requests takes seconds as a float
        namespace=settings.namespace,
    )
    # requests lets REQUESTS_CA_BUNDLE and the environment override per-call settings
    # on a session that trusts the environment; hvac passes verify/cert explicitly.
    client.adapter.session.verify = settings.verify
    client.adapter.session.cert = settings.cert or None
    return client


def _from_auth(method: str, auth: dict) -> LoginResult:
    return LoginResult(
        method=method,
        token=auth["client_token"],
        accessor=auth.get("accessor") or "",
        policies=tuple(auth.get("policies") or ()),
        ttl=int(auth.get("lease_duration") or 0),
        renewable=bool(auth.get("renewable")),
    )


def read_k8s_jwt(settings: VaultSettings) -> str:
    """Read the Kubernetes service-account JWT; re-read at each login (it rotates).

    Raises ConfigError if the file cannot be read or is empty.
    """
    path = settings.k8s_jwt_path
    try:
        with open(path, encoding="utf-8") as fh:
            jwt = fh.read().strip()
    except OSError as exc:
        raise ConfigError(f"{ENV_NAMES['k8s_jwt_path']}: cannot read the service-account "
                          f"JWT at {path!r} ({exc.strerror}); is this running in a pod "
                          "with a mounted service-account token?") from None
    if not jwt:
        raise ConfigError(f"{ENV_NAMES['k8s_jwt_path']}: {path!r} is empty")
    return jwt


def login(settings: VaultSettings, client: VaultClient | None = None) -> LoginResult:
    """Log in with ``settings.auth_method`` and return the new token and its lease.

    - token: ``GET auth/token/lookup-self`` with ``VAULT_TOKEN`` (checks it works).
    - approle: ``POST auth/<approle_mount>/login`` with role_id and secret_id.
    - kubernetes: ``POST auth/<k8s_mount>/login`` with role and the JWT file.

    The login request never carries ``client``'s own token (possibly the expired one
    being replaced). Raises
    VaultAuthError if Vault refuses, VaultUnavailable if it cannot be reached,
    ConfigError if the Kubernetes JWT file is unreadable.
    """
    own = client is None
    client = client or new_client(settings)
    try:
        return _login(settings, client)
    finally:
        if own:
            client.close()


def _login(settings: VaultSettings, client: VaultClient) -> LoginResult:
    method = settings.auth_method
    if method == "token":
        data = client.request(
            "GET", "auth/token/lookup-self", token=settings.token or "", kind="login",
            secrets=settings.secrets(), action="check the broker's token",
            hint=f"{ENV_NAMES['token']} is invalid, expired or revoked: give the "
                 "broker a current token.")["data"]
        ttl = int(data.get("ttl") or 0)
        if ttl == 0 and data.get("expire_time"):
            ttl = 1  # under a second left; 0 would read as "never expires"
        return LoginResult(method=method, token=settings.token or "",
                           accessor=data.get("accessor") or "",
                           policies=tuple(data.get("policies") or ()),
                           ttl=ttl, renewable=bool(data.get("renewable")))
    if method == "approle":
        resp = client.request(
            "POST", f"auth/{settings.approle_mount}/login", token="", kind="login",
            json={"role_id": settings.role_id, "secret_id": settings.secret_id},
            secrets=settings.secrets(), action="log in with AppRole",
            hint=f"Check that AppRole auth is enabled at '{settings.approle_mount}/' "
                 f"({ENV_NAMES['approle_mount']}) and that "
                 f"{ENV_NAMES['role_id']} and {ENV_NAMES['secret_id']} are "
                 "current: a secret_id may have expired or run out of uses "
                 "(`jenkins-broker bootstrap` issues a new one).")
        return _from_auth(method, resp["auth"])
    if method == "kubernetes":
        jwt = read_k8s_jwt(settings)
        resp = client.request(
            "POST", f"auth/{settings.k8s_mount}/login", token="", kind="login",
            json={"role": settings.k8s_role, "jwt": jwt}, secrets=(*settings.secrets(), jwt),
            action="log in with Kubernetes auth",
            hint=f"Check that Kubernetes auth is enabled at '{settings.k8s_mount}/' "
                 f"({ENV_NAMES['k8s_mount']}), that its role '{settings.k8s_role}' "
                 f"({ENV_NAMES['k8s_role']}) binds this pod's service account, "
                 f"and that the JWT at {settings.k8s_jwt_path} is current.")
        return _from_auth(method, resp["auth"])
    raise ConfigError(f"{ENV_NAMES['auth_method']}: unknown auth method {method!r}")


def connect(settings: VaultSettings) -> tuple[VaultClient, LoginResult]:
    """Build the broker's client and log it in; return both.

    Raises what :func:`login` raises. Start a
    :class:`~jenkins_broker.vault.renewal.TokenRenewer` on the pair to keep the
    token alive.
    """
    client = new_client(settings)
    try:
        result = login(settings, client)
    except BaseException:
        client.close()
        raise
    client.token = result.token
    log.info("logged in to Vault at %s with %s auth (policies %s, ttl %ss)", settings.addr,
             result.method, ",".join(result.policies) or "-", result.ttl)
    return client, result

