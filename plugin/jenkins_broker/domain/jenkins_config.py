"""The Jenkins connection and the stored Jenkins credentials, validated on write.

Stored in the broker's KV v2 mount: ``config`` holds the connection,
``credentials/<name>`` what is known of each credential (user, kind, origin, the
uuid of a rotated token) and ``secrets/<name>`` its secret alone, on a path of its
own so that a policy can grant writing secrets without reading them: the shipped
administrators' policy does, and only the broker's own policy reads them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError, InvalidRequest
from ..values import JENKINS_KINDS, jenkins_root_url, request_flag
from .roles import check_name


@dataclass(frozen=True)
class JenkinsConfig:
    """Where Jenkins is and how to talk to it."""

    url: str
    kind: str = "jenkins"
    timeout: float = 10.0
    verify_tls: bool = True
    ca_bundle: str = ""  # PEM text; empty: the public CAs (certifi's bundle)
    verify_after_mint: bool | None = None  # None: on for CloudBees kinds

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    def to_api(self) -> dict[str, Any]:
        data = asdict(self)
        data["ca_bundle"] = bool(self.ca_bundle)
        return data

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> "JenkinsConfig":
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class StoredCredential:
    """A Jenkins credential: a user's password or API token. The secret never prints.

    ``origin`` is the Jenkins origin (``scheme://host:port``) the credential was written
    for: the broker sends it nowhere else (:func:`check_origin`), so whoever can move the
    Jenkins URL cannot have the stored credential sent to a listener of theirs. Empty for
    credentials stored before origins were recorded (see :func:`check_origin`).

    A token credential written through the broker is rotated at once: the broker mints
    its own token named ``<prefix>credential-<name>`` with the one given, keeps that,
    and revokes the given one. ``token_uuid`` is then known, so reconciliation can tell
    the broker's own credential from a token nobody accounts for.
    """

    name: str
    username: str
    kind: str  # "password" or "token"
    secret: str = field(repr=False)
    token_uuid: str = ""  # the uuid of a token credential in Jenkins, once rotated
    token_name: str = ""
    rotated_at: float | None = None
    origin: str = ""  # scheme://host:port of the Jenkins it was written for

    def to_record(self) -> dict[str, Any]:
        """Everything, the secret included (the engine's private storage keeps it so)."""
        return {**self.public_record(), "secret": self.secret}

    def public_record(self) -> dict[str, Any]:
        """Everything but the secret: what the broker's ``credentials/<name>`` holds."""
        return {"username": self.username, "kind": self.kind, "token_uuid": self.token_uuid,
                "token_name": self.token_name, "rotated_at": self.rotated_at,
                "origin": self.origin}

    def to_api(self) -> dict[str, Any]:
        return self.public_record()

    @classmethod
    def from_record(cls, name: str, data: dict[str, Any],
                    secret: str | None = None) -> "StoredCredential":
        """From :meth:`to_record`, or from :meth:`public_record` and the ``secret``."""
        return cls(name=name, username=data["username"], kind=data.get("kind", "token"),
                   secret=data["secret"] if secret is None else secret,
                   token_uuid=data.get("token_uuid") or "",
                   token_name=data.get("token_name") or "", rotated_at=data.get("rotated_at"),
                   origin=data.get("origin") or "")


def jenkins_origin(url: str) -> str:
    """``scheme://host:port`` of a Jenkins URL, the port always written out (80/443 when
    the URL gives none), the host lower-cased: what a credential is bound to."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def check_origin(stored: StoredCredential, config: JenkinsConfig) -> None:
    """Refuse to send ``stored`` to a Jenkins other than the one it was written for.

    Raises ``ConfigError`` naming both origins when the configured URL moved. A credential
    without a recorded origin (stored before origins were recorded) passes here: the
    gateway binds it to the configured origin and persists that binding at its first use
    (see ``JenkinsGateway``), which is the only reading that keeps upgraded brokers minting
    and exposes nothing new: until that first use the old code would have sent it to the
    configured URL anyway, and after it the binding holds on every replica and restart."""
    if stored.origin and stored.origin != jenkins_origin(config.url):
        raise ConfigError(
            f"credential {stored.name!r} was written for Jenkins at {stored.origin}, but the "
            f"Jenkins URL moved from {stored.origin} to {jenkins_origin(config.url)}: the broker "
            f"will not send it there; write the credential again for the new URL "
            f"(`jenkins-broker credentials write {stored.name} ...`)")


def build_config(data: dict[str, Any], existing: JenkinsConfig | None = None) -> JenkinsConfig:
    """Validate a write of the Jenkins connection; unknown or bad fields raise ``InvalidRequest``."""
    known = set(JenkinsConfig.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidRequest(f"{unknown[0]}: unknown field; known fields are {', '.join(sorted(known))}")
    merged = {**(existing.to_record() if existing else {}),
              **{k: v for k, v in data.items() if v is not None}}
    try:
        # The client's own rule, so that nothing stored here is refused at the first mint.
        url = jenkins_root_url(merged.get("url"))
    except ConfigError as exc:
        raise InvalidRequest(f"url: {str(exc).replace('Jenkins URL setting ', '')}") from None
    kind = merged.get("kind", "jenkins")
    if kind not in JENKINS_KINDS:
        raise InvalidRequest(f"kind: must be one of {', '.join(JENKINS_KINDS)}")
    try:
        timeout = float(merged.get("timeout", 10.0))
    except (TypeError, ValueError):
        raise InvalidRequest("timeout: expected a number of seconds") from None
    if not 0.1 <= timeout <= 300:
        raise InvalidRequest("timeout: must be between 0.1 and 300 seconds")
    ca_bundle = merged.get("ca_bundle", "")
    if not isinstance(ca_bundle, str) or (ca_bundle and "-----BEGIN CERTIFICATE-----" not in ca_bundle):
        raise InvalidRequest("ca_bundle: expected PEM text with at least one certificate")
    verify_after = merged.get("verify_after_mint")
    if verify_after is not None:
        verify_after = request_flag("verify_after_mint", verify_after)
    return JenkinsConfig(url=url, kind=kind, timeout=timeout,
                         verify_tls=request_flag("verify_tls", merged.get("verify_tls", True)),
                         ca_bundle=ca_bundle, verify_after_mint=verify_after)


def build_credential(name: str, data: dict[str, Any]) -> StoredCredential:
    """Validate a credential write: ``username`` and exactly one of ``password`` or ``token``."""
    try:
        check_name(name, what="credential")
    except InvalidRequest as exc:
        raise InvalidRequest(str(exc)) from None
    unknown = sorted(set(data) - {"username", "password", "token"})
    if unknown:
        raise InvalidRequest(f"{unknown[0]}: unknown field; send username and password or token")
    username = data.get("username")
    if not isinstance(username, str) or not username or len(username) > 256:
        raise InvalidRequest("username: required, the Jenkins user id this credential logs in as")
    password, token = data.get("password"), data.get("token")
    if bool(password) == bool(token):
        raise InvalidRequest("password/token: send exactly one of them")
    secret = password or token
    if not isinstance(secret, str) or len(secret) > 4096:
        raise InvalidRequest("password/token: must be text of at most 4096 characters")
    return StoredCredential(name=name, username=username, kind="password" if password else "token",
                            secret=secret)
