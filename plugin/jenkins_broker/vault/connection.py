"""Building hvac clients and logging the broker in to Vault.

``connect(settings)`` is the start-up call: it builds a client and logs in with
the configured method (token, AppRole or Kubernetes). Keeping the token alive
afterwards is :class:`jenkins_broker.vault.renewal.TokenRenewer`'s job.

One hvac client (one ``requests`` session, so connections are kept alive and
reused) is shared by everything that talks to Vault with the broker's identity.
"""

from __future__ import annotations

import dataclasses
import logging

import hvac

from jenkins_broker.errors import ConfigError
from jenkins_broker.httpsession import make_session
from jenkins_broker.vault.settings import ENV_NAMES, VaultSettings
from jenkins_broker.vault.translate import vault_call

log = logging.getLogger("jenkins_broker.vault")

POOL_SIZE = 32


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


def new_client(settings: VaultSettings, token: str | None = None) -> hvac.Client:
    """Return an hvac client for ``settings.addr`` carrying ``token`` (or none).

    Nothing is sent to Vault. TLS, client certificate, namespace and timeout
    come from ``settings`` only: hvac's own fallbacks to ``VAULT_TOKEN``,
    ``~/.vault-token`` and ``VAULT_CLIENT_CERT`` are switched off so that
    configuration flows one way.
    """
    session = make_session(settings.addr, pool_size=POOL_SIZE)
    # hvac prefers a session's own verify/cert over its arguments: set both.
    session.verify = settings.verify
    session.cert = settings.cert or None
    return hvac.Client(
        url=settings.addr,
        token=token or "",          # "" (not None): stops hvac reading env/~/.vault-token
        cert=settings.cert or (),   # () (not None): stops hvac reading VAULT_CLIENT_CERT
        verify=settings.verify,
        timeout=settings.timeout,
        namespace=settings.namespace,
        session=session,
    )


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


def login(settings: VaultSettings, client: hvac.Client | None = None) -> LoginResult:
    """Log in with ``settings.auth_method`` and return the new token and its lease.

    - token: ``GET auth/token/lookup-self`` with ``VAULT_TOKEN`` (checks it works).
    - approle: ``POST auth/<approle_mount>/login`` with role_id and secret_id.
    - kubernetes: ``POST auth/<k8s_mount>/login`` with role and the JWT file.

    ``client``, if given, must carry no token (hvac would send it instead): the
    login request must not carry the possibly expired token being replaced. Raises
    VaultAuthError if Vault refuses, VaultUnavailable if it cannot be reached,
    ConfigError if the Kubernetes JWT file is unreadable.
    """
    client = client or new_client(settings)
    method = settings.auth_method
    addr = settings.addr
    if method == "token":
        path = "auth/token/lookup-self"
        with vault_call(addr=addr, path=path, kind="login", secrets=settings.secrets(),
                        action="check the broker's token",
                        hint=f"{ENV_NAMES['token']} is invalid, expired or revoked: give the "
                             "broker a current token."):
            data = client.adapter.get("/v1/auth/token/lookup-self",
                                      headers={"X-Vault-Token": settings.token})["data"]
        ttl = int(data.get("ttl") or 0)
        if ttl == 0 and data.get("expire_time"):
            ttl = 1  # under a second left; 0 would read as "never expires"
        return LoginResult(method=method, token=settings.token or "",
                           accessor=data.get("accessor") or "",
                           policies=tuple(data.get("policies") or ()),
                           ttl=ttl, renewable=bool(data.get("renewable")))
    if method == "approle":
        path = f"auth/{settings.approle_mount}/login"
        with vault_call(addr=addr, path=path, kind="login", secrets=settings.secrets(),
                        action="log in with AppRole",
                        hint=f"Check that AppRole auth is enabled at '{settings.approle_mount}/' "
                             f"({ENV_NAMES['approle_mount']}) and that "
                             f"{ENV_NAMES['role_id']} and {ENV_NAMES['secret_id']} are "
                             "current: a secret_id may have expired or run out of uses "
                             "(`jenkins-broker bootstrap` issues a new one)."):
            resp = client.auth.approle.login(role_id=settings.role_id,
                                             secret_id=settings.secret_id, use_token=False,
                                             mount_point=settings.approle_mount)
        return _from_auth(method, resp["auth"])
    if method == "kubernetes":
        jwt = read_k8s_jwt(settings)
        path = f"auth/{settings.k8s_mount}/login"
        with vault_call(addr=addr, path=path, kind="login", secrets=(*settings.secrets(), jwt),
                        action="log in with Kubernetes auth",
                        hint=f"Check that Kubernetes auth is enabled at '{settings.k8s_mount}/' "
                             f"({ENV_NAMES['k8s_mount']}), that its role '{settings.k8s_role}' "
                             f"({ENV_NAMES['k8s_role']}) binds this pod's service account, "
                             f"and that the JWT at {settings.k8s_jwt_path} is current."):
            resp = client.auth.kubernetes.login(role=settings.k8s_role, jwt=jwt, use_token=False,
                                                mount_point=settings.k8s_mount)
        return _from_auth(method, resp["auth"])
    raise ConfigError(f"{ENV_NAMES['auth_method']}: unknown auth method {method!r}")


def connect(settings: VaultSettings) -> tuple[hvac.Client, LoginResult]:
    """Build the broker's client and log it in; return both.

    Raises what :func:`login` raises. Start a
    :class:`~jenkins_broker.vault.renewal.TokenRenewer` on the pair to keep the
    token alive.
    """
    client = new_client(settings)
    result = login(settings, client)
    client.token = result.token
    log.info("logged in to Vault at %s with %s auth (policies %s, ttl %ss)", settings.addr,
             result.method, ",".join(result.policies) or "-", result.ttl)
    return client, result

