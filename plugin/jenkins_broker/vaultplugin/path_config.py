"""``jenkins/config``: where Jenkins is and the credential the engine uses there.

A write is validated with the broker's own rules (``build_config`` and
``build_credential`` of :mod:`jenkins_broker.domain.jenkins_config`) and, unless ``verify_connection=false``,
checked against Jenkins: the credential must log in (``whoAmI``) as its user.
Fields not sent keep their stored values, so ``write jenkins/config timeout=20``
changes only the timeout. The password or token is never shown by a read.

The stored credential is called ``root``: roles use it unless they name another.
After ``rotate-root`` it is a token only the engine knows (``credential_managed``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..domain.jenkins_config import JenkinsConfig, StoredCredential, build_config, build_credential
from ..errors import BrokerError, InvalidRequest, redact
from ..jenkins.client import logs_in_as
from .framework import Field, Path, as_bool
from .logical import BadRequest, Request, Response
from .storage import Storage, get_json, put_json

if TYPE_CHECKING:
    from .backend import JenkinsBackend

STORAGE_KEY = "config"
ROOT_CREDENTIAL = "root"
_CONNECTION_FIELDS = ("url", "kind", "timeout", "verify_tls", "ca_bundle", "verify_after_mint")


@dataclass(frozen=True)
class PluginConfig:
    """The stored config: the connection, the credential, and what rotate-root knows of it."""

    connection: JenkinsConfig
    credential: StoredCredential
    managed_uuid: str = ""  # uuid of the credential's token when the engine made it (rotate-root)
    rotated_at: str = ""

    def to_record(self) -> dict[str, Any]:
        return {"connection": self.connection.to_record(), "credential": self.credential.to_record(),
                "managed_uuid": self.managed_uuid, "rotated_at": self.rotated_at}

    def to_api(self) -> dict[str, Any]:
        data = self.connection.to_api()
        data.update(username=self.credential.username, credential_kind=self.credential.kind,
                    credential_managed=bool(self.managed_uuid), rotated_at=self.rotated_at or None)
        return data

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> "PluginConfig":
        return cls(connection=JenkinsConfig.from_record(data["connection"]),
                   credential=StoredCredential.from_record(ROOT_CREDENTIAL, data["credential"]),
                   managed_uuid=data.get("managed_uuid") or "", rotated_at=data.get("rotated_at") or "")


def load_config(storage: Storage) -> PluginConfig | None:
    """The stored config, or ``None`` before the first write."""
    data = get_json(storage, STORAGE_KEY)
    return PluginConfig.from_record(data) if data else None


def save_config(storage: Storage, config: PluginConfig) -> None:
    """Store ``config`` (the credential's secret included: storage is OpenBao's barrier)."""
    put_json(storage, STORAGE_KEY, config.to_record())


def now_iso() -> str:
    """The current UTC time as ISO 8601 with a ``Z``, to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# -- handlers ---------------------------------------------------------------------------

def _read(backend: "JenkinsBackend", request: Request, groups: dict) -> Response | None:
    config = load_config(request.storage)
    return Response(data=config.to_api()) if config else None


def _write(backend: "JenkinsBackend", request: Request, groups: dict) -> Response | None:
    data = dict(request.data)
    verify = as_bool("verify_connection", data.pop("verify_connection", True))
    existing = load_config(request.storage)
    connection = build_config({k: data[k] for k in _CONNECTION_FIELDS if k in data},
                              existing.connection if existing else None)
    secret_sent = {k: data[k] for k in ("password", "token") if data.get(k)}
    username = data.get("username") or (existing.credential.username if existing else None)
    if secret_sent:
        credential = build_credential(ROOT_CREDENTIAL, {"username": username, **secret_sent})
        config = PluginConfig(connection=connection, credential=credential)
    elif existing is None:
        raise BadRequest("username, and password or token: required on the first write (the Jenkins "
                         "credential the engine mints with)")
    elif data.get("username") and data["username"] != existing.credential.username:
        raise BadRequest("username: changing the user needs that user's password or token too")
    else:
        config = replace(existing, connection=connection)
    if verify:
        _check_connection(backend, config)
    save_config(request.storage, config)
    backend.forget_connection()
    return None


def _check_connection(backend: "JenkinsBackend", config: PluginConfig) -> None:
    client = backend.make_client(config.connection)
    try:
        me = client.whoami(config.credential.username, config.credential.secret)
    except BrokerError as exc:
        # Whatever failed, the config sent did not pass: the caller's to fix (or to skip).
        raise InvalidRequest(f"the connection check failed (send verify_connection=false to store the "
                             f"config anyway): {redact(str(exc))}") from None
    finally:
        client.close()
    if not logs_in_as(me, config.credential.username):
        raise BadRequest(f"the connection check failed: Jenkins at {config.connection.url} sees this "
                         f"credential as {me.get('name')!r}, not as user "
                         f"{config.credential.username!r}")


def _delete(backend: "JenkinsBackend", request: Request, groups: dict) -> Response | None:
    request.storage.delete(STORAGE_KEY)
    backend.forget_connection()
    return None


def _exists(backend: "JenkinsBackend", request: Request, groups: dict) -> bool:
    return request.storage.get(STORAGE_KEY) is not None


FIELDS = {
    "url": Field("string", "Jenkins' root URL (http or https), e.g. https://jenkins.example.com/."),
    "kind": Field("string", "jenkins (default), cloudbees-operations-center or cloudbees-controller; "
                            "minting on a CloudBees controller is refused."),
    "timeout": Field("float", "Seconds to wait for Jenkins on each call (default 10)."),
    "verify_tls": Field("bool", "Check Jenkins' TLS certificate (default true)."),
    "ca_bundle": Field("string", "PEM certificates to trust for Jenkins instead of the system store."),
    "verify_after_mint": Field("bool", "Check each new token with whoAmI before handing it out "
                                       "(default: on for CloudBees kinds)."),
    "username": Field("string", "The Jenkins user id the credential logs in as."),
    "password": Field("string", "The user's password (write-only). Send this or token."),
    "token": Field("string", "An API token of the user (write-only). Send this or password."),
    "verify_connection": Field("bool", "Check the credential against Jenkins before storing "
                                       "(default true; not stored)."),
}


def paths() -> list[Path]:
    """The ``config`` path."""
    return [Path(
        pattern="config",
        operations={"read": _read, "create": _write, "update": _write, "delete": _delete},
        fields=FIELDS, exists=_exists,
        synopsis="Configure the Jenkins connection and the credential the engine mints with.",
        description="""
        Writes set the Jenkins URL, its kind and TLS settings, and the credential
        (username with password or token) that roles mint tokens with, unless a role
        names another. A write checks that the credential logs in to Jenkins as its
        user; fields not sent keep their stored values. Reads never show the password
        or token. After rotate-root the credential is an API token only the engine
        knows (credential_managed=true).
        """)]
