"""Roles: which Jenkins identity a ``read jenkins/creds/<role>`` hands out, and how.

A role is stored at ``jenkins-broker/roles/<role>``. Writes are validated here,
once, with errors that name the field; everything else trusts a loaded role.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Protocol

from ..durations import format_duration, parse_duration
from ..errors import InvalidRequest
from ..values import BROKER_TOKEN_PREFIX, NAME_RULE, is_name, parse_bool

STRATEGIES = ("user-token", "user-password", "admin-script", "admin-rest", "legacy")
DEFAULT_TTL = 15 * 60
DEFAULT_MAX_TTL = 24 * 3600

_PREFIX_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_JENKINS_USER_PATTERN = re.compile(r"[^\x00-\x1f/\\?#%]{1,256}")


class InvalidRole(InvalidRequest):
    """A role write was rejected; ``field`` names the offending field."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


def check_name(value: str, *, what: str = "role") -> str:
    """Return ``value`` if it is a valid role or credential name, else raise ``InvalidRole``."""
    if not is_name(value):
        shown = value[:40] if isinstance(value, str) else type(value).__name__
        raise InvalidRole("name", f"{what} name {shown!r} is invalid: {NAME_RULE}")
    return value


@dataclass(frozen=True)
class Role:
    """A validated role. Durations are whole seconds."""

    name: str
    jenkins_user: str
    strategy: str
    credential: str
    ttl: int = DEFAULT_TTL
    max_ttl: int = DEFAULT_MAX_TTL
    shared: bool = False
    rotation_period: int = 0  # 0: half the ttl
    max_live_tokens: int = 0  # 0: no cap
    token_name_prefix: str = BROKER_TOKEN_PREFIX
    description: str = field(default="")
    disabled: bool = False  # suspended: mints refused, no shared value
    foreign_tokens: str = "revoke"  # what reconciliation does with tokens it cannot account for

    @property
    def effective_rotation_period(self) -> int:
        """Seconds between rotations in shared mode (half the ttl unless set)."""
        return self.rotation_period or max(1, self.ttl // 2)

    def lease_ttl(self, requested: int | None) -> int:
        """The ttl a new lease gets: the request (or the role's ttl), capped at ``max_ttl``."""
        wanted = self.ttl if not requested else requested
        return min(wanted, self.max_ttl)

    def to_record(self) -> dict[str, Any]:
        """The dict stored in Vault (without the name, which is the path)."""
        data = asdict(self)
        data.pop("name")
        return data

    def to_api(self) -> dict[str, Any]:
        """The dict shown by ``read jenkins/roles/<role>``."""
        data = self.to_record()
        data["ttl"] = format_duration(self.ttl)
        data["max_ttl"] = format_duration(self.max_ttl)
        data["rotation_period"] = format_duration(self.effective_rotation_period)
        return data

    @classmethod
    def from_record(cls, name: str, data: dict[str, Any]) -> "Role":
        """Rebuild a stored role, ignoring keys this version does not know."""
        known = {f.name for f in fields(cls)} - {"name"}
        return cls(name=name, **{k: v for k, v in data.items() if k in known})


_FIELDS = ("jenkins_user", "strategy", "credential", "ttl", "max_ttl", "shared", "rotation_period",
           "max_live_tokens", "token_name_prefix", "description", "disabled", "foreign_tokens")
FOREIGN_TOKENS = ("revoke", "report")


def _as_bool(name: str, value: Any) -> bool:
    try:
        return parse_bool(value)
    except ValueError as exc:
        raise InvalidRole(name, str(exc)) from None


def _as_count(name: str, value: Any) -> int:
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidRole(name, f"expected a whole number, got {str(value)[:40]!r}") from None
    if not 0 <= number <= 1_000_000:
        raise InvalidRole(name, "must be between 0 and 1000000 (0 means no cap)")
    return number


def build_role(name: str, data: dict[str, Any], existing: Role | None = None) -> Role:
    """Validate a role write and return the role.

    ``data`` holds the fields sent; fields not sent keep ``existing``'s values
    (as Vault role updates do) or the defaults. Raises ``InvalidRole``.
    """
    check_name(name)
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise InvalidRole(unknown[0], f"unknown field; known fields are {', '.join(_FIELDS)}")
    base = existing.to_record() if existing else {}
    merged = {**base, **{k: v for k, v in data.items() if v is not None}}

    user = merged.get("jenkins_user")
    if not isinstance(user, str) or not _JENKINS_USER_PATTERN.fullmatch(user):
        raise InvalidRole("jenkins_user", "required: the Jenkins user id the tokens belong to "
                                          "(no '/', '?', '#', '%' or control characters)")
    strategy = merged.get("strategy")
    if strategy not in STRATEGIES:
        raise InvalidRole("strategy", f"must be one of {', '.join(STRATEGIES)}")
    credential = merged.get("credential")
    if not isinstance(credential, str) or not credential:
        raise InvalidRole("credential", "required: the name of a stored Jenkins credential "
                                        "(write it with `jenkins-broker credentials write`)")
    try:
        check_name(credential, what="credential")
    except InvalidRole as exc:
        raise InvalidRole("credential", str(exc).split(": ", 1)[1]) from None

    durations = {}
    for key, default in (("ttl", DEFAULT_TTL), ("max_ttl", DEFAULT_MAX_TTL), ("rotation_period", 0)):
        try:
            durations[key] = parse_duration(merged.get(key, default), field=key)
        except ValueError as exc:
            raise InvalidRole(key, str(exc).split(": ", 1)[1]) from None
    ttl, max_ttl, rotation = durations["ttl"], durations["max_ttl"], durations["rotation_period"]
    if ttl < 1:
        raise InvalidRole("ttl", "must be at least 1s")
    if max_ttl < ttl:
        raise InvalidRole("max_ttl", f"must be at least the ttl ({format_duration(ttl)})")
    shared = _as_bool("shared", merged.get("shared", False))
    if rotation and rotation >= ttl:
        raise InvalidRole("rotation_period", "must be shorter than the ttl, so a reader always gets a "
                                             "token with time left")
    cap = _as_count("max_live_tokens", merged.get("max_live_tokens", 0))
    if strategy == "legacy" and not shared:
        # Jenkins keeps one legacy token per user: a second mint would kill the first holder's token.
        if cap not in (0, 1):
            raise InvalidRole("max_live_tokens", "a legacy role hands out Jenkins' single legacy token, "
                                                 "so at most 1 can be live")
        cap = 1
    prefix = merged.get("token_name_prefix", BROKER_TOKEN_PREFIX)
    if not isinstance(prefix, str) or not _PREFIX_PATTERN.fullmatch(prefix):
        raise InvalidRole("token_name_prefix", "use 1-64 letters, digits, '_', '-' or '.'; reconciliation "
                                               "finds orphaned tokens by this prefix")
    description = merged.get("description", "")
    if not isinstance(description, str) or len(description) > 1024:
        raise InvalidRole("description", "must be text of at most 1024 characters")
    foreign = merged.get("foreign_tokens", "revoke")
    if foreign not in FOREIGN_TOKENS:
        raise InvalidRole("foreign_tokens", "must be revoke (the default: tokens on the role's Jenkins "
                                            "user that no lease accounts for are revoked) or report")
    return Role(name=name, jenkins_user=user, strategy=strategy, credential=credential, ttl=ttl,
                max_ttl=max_ttl, shared=shared, rotation_period=rotation, max_live_tokens=cap,
                token_name_prefix=prefix, description=description,
                disabled=_as_bool("disabled", merged.get("disabled", False)), foreign_tokens=foreign)


class CredentialNames(Protocol):
    """What :func:`require_stored_credential` asks of the store."""

    def get_credential_info(self, name: str) -> Any: ...
    def list_credentials(self) -> list[str]: ...


def require_stored_credential(role: Role, data: dict[str, Any], existing: Role | None,
                              store: CredentialNames) -> None:
    """The one rule, for the CLI and the API: a new role, or a write that names another
    credential, must name a stored one. Raises ``InvalidRequest`` listing what is stored
    and how to write the missing one."""
    if existing is not None and "credential" not in data:
        return
    if store.get_credential_info(role.credential) is not None:
        return
    stored = store.list_credentials()
    shown = ", ".join(stored[:10]) + (f" and {len(stored) - 10} more" if len(stored) > 10 else "")
    raise InvalidRequest(
        f"credential: no credential named {role.credential!r} is stored "
        f"(stored: {shown or 'none yet'}); write it first with `jenkins-broker "
        f"credentials write {role.credential} --username JENKINS_USER --token-env VAR` "
        "(or --password-env VAR), or name a stored one")
