"""The one vocabulary: the values every front door accepts (the broker's API, the engine's
paths, the command line, the environment) and the names jenkins-broker makes and reads back.
Each rule is written here once; every other module imports it, so that no two front doors
or modes can disagree on a word.

Booleans: what Vault's own parser takes (Go's ``strconv.ParseBool``: ``1``, ``t``,
``true``, ``0``, ``f``, ``false``, in any case) plus ``yes``/``no`` and ``on``/``off``,
which roles accepted before; JSON ``true``/``false``; and the numbers 0 and 1.

Names of roles and credentials: 1-128 letters, digits, ``_``, ``-`` and ``.``, starting
with a letter or digit, without ``..``. They become Vault path segments and parts of
Jenkins token names.

Jenkins kinds: ``jenkins``, ``cloudbees-operations-center``, ``cloudbees-controller``.

Lease ids (broker mode): ``jenkins/creds/<role>/<24 hex>``.

Jenkins root URLs: :func:`jenkins_root_url` (the stored config, the engine's config and
the client all apply it). URLs in messages: :func:`safe_url` (no user-info, query or
fragment).

Jenkins token names, each made by one function here and read back by its twin:

- a broker lease's token, ``<prefix><role>-<24 hex>``: :func:`token_name`,
  :func:`parse_token_name`;
- the broker's own credential, ``<prefix>credential-<name>``: :func:`credential_token_name`
  (reconciliation knows it by uuid, and by that start during a rotation);
- an engine lease's token, ``<prefix><role>-<deadline>-<8 hex>``: :func:`engine_token_name`,
  :func:`parse_engine_token_name`;
- the engine's own credential, ``vault-jenkins-root-<time>-<8 hex>``:
  :func:`engine_root_token_name`, which :func:`parse_engine_token_name` reads as no lease's
  (so the engine reserves the role name ``root``).

The broker's default prefix is ``jenkins-broker-``, the engine's ``vault-jenkins-``: they
differ so that the broker's reconciliation never takes an engine token for one of its own.
The 24 and 8 hex digits have no ``-``, so a name splits back into its parts even when the
role name has dashes.
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .errors import ConfigError, InvalidRequest

# -- booleans ---------------------------------------------------------------------------

TRUE = frozenset({"1", "t", "true", "yes", "on"})
FALSE = frozenset({"0", "f", "false", "no", "off"})
#: The words the API documents for a boolean sent as text.
BOOL_WORDS = ("true", "false", "1", "0", "t", "f", "yes", "no", "on", "off")


def parse_bool(value: Any) -> bool:
    """``value`` as a boolean; raises ``ValueError`` saying what was expected."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE | FALSE:
        return value.strip().lower() in TRUE
    raise ValueError(f"expected true or false, got {str(value)[:40]!r}")


def request_flag(name: str, value: Any) -> bool:
    """:func:`parse_bool` for a field a caller sent: ``InvalidRequest`` naming the field."""
    try:
        return parse_bool(value)
    except ValueError as exc:
        raise InvalidRequest(f"{name}: {exc}") from None


# -- names ------------------------------------------------------------------------------

#: A role or credential name, ``..`` excluded (it would be a path segment).
NAME_PATTERN = re.compile(r"(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
NAME_RULE = "use 1-128 letters, digits, '_', '-' or '.', starting with a letter or digit, without '..'"


def is_name(value: Any) -> bool:
    """True if ``value`` is a valid role or credential name."""
    return isinstance(value, str) and NAME_PATTERN.fullmatch(value) is not None


# -- Jenkins ----------------------------------------------------------------------------

#: What a configured Jenkins can be; minting on a CloudBees controller is refused.
JENKINS_KINDS = ("jenkins", "cloudbees-operations-center", "cloudbees-controller")


# -- lease ids (broker mode) ------------------------------------------------------------

LEASE_PREFIX = "jenkins/creds"
_HEX = frozenset("0123456789abcdef")
_LEASE_SUFFIX_LENGTH = 24
_NO_SEGMENT = ("", ".", "..")  # what a part of a Vault path cannot be


def new_lease_suffix() -> str:
    """A random lease id suffix: 24 hex digits (96 bits)."""
    return secrets.token_hex(_LEASE_SUFFIX_LENGTH // 2)


def is_lease_suffix(value: str) -> bool:
    """True if ``value`` has the shape of :func:`new_lease_suffix`'s answers."""
    return len(value) == _LEASE_SUFFIX_LENGTH and set(value) <= _HEX


def lease_id_for(role: str, suffix: str) -> str:
    """The lease id a caller sees: ``jenkins/creds/<role>/<suffix>``."""
    return f"{LEASE_PREFIX}/{role}/{suffix}"


def split_lease_id(lease_id: Any) -> tuple[str, str] | None:
    """``(role, suffix)`` for anything shaped like ``jenkins/creds/<role>/<suffix>``, else ``None``.

    Malformed (``None``): another shape, empty, ``.`` or ``..`` segments, control
    characters. A well-shaped id may still name a lease the broker never issued: see
    :func:`issued_lease`.
    """
    if not isinstance(lease_id, str) or len(lease_id) > 512 or not lease_id.isprintable():
        return None
    head, _, rest = lease_id.strip("/").partition(f"{LEASE_PREFIX}/")
    role, _, suffix = rest.partition("/")
    if head or "/" in suffix or role in _NO_SEGMENT or suffix in _NO_SEGMENT:
        return None
    return role, suffix


def lease_role(prefix: str) -> str | None:
    """The role part of a lease prefix ``jenkins/creds/<role>`` (slashes around allowed), else
    ``None``; whether it is a valid name is :func:`is_name`'s to say."""
    head, _, role = prefix.strip("/").partition(f"{LEASE_PREFIX}/")
    if head or not role or "/" in role:
        return None
    return role


def issued_lease(role: str, suffix: str) -> bool:
    """True if ``(role, suffix)`` could be a lease the broker issued (:func:`lease_id_for` of a
    valid role name and a :func:`new_lease_suffix`); no other is worth looking up."""
    return is_name(role) and is_lease_suffix(suffix)


# -- token names --------------------------------------------------------------------------

#: The broker's default token name prefix (a role's ``token_name_prefix``).
#: The id Jenkins gives the legacy API token, where a real token has a uuid.
LEGACY_TOKEN_ID = "legacy"
BROKER_TOKEN_PREFIX = "jenkins-broker-"
#: What follows the prefix in the name of a token the broker keeps as its own credential.
CREDENTIAL_TOKEN_INFIX = "credential-"
#: The engine's default token name prefix (its roles' ``token_name_prefix``).
ENGINE_TOKEN_PREFIX = "vault-jenkins-"
#: The engine's own credential after rotate-root reads like a token of a role of this name,
#: so the engine refuses roles of this name (their tokens would be taken for it).
ENGINE_ROOT_ROLE = "root"


def token_name(prefix: str, role: str, suffix: str) -> str:
    """The name of a broker lease's token: ``<prefix><role>-<lease suffix>``."""
    return f"{prefix}{role}-{suffix}"


def parse_token_name(name: str, prefix: str) -> tuple[str, str] | None:
    """``(role, suffix)`` from a name :func:`token_name` can make with ``prefix``, else ``None``."""
    if not name.startswith(prefix):
        return None
    role, sep, suffix = name[len(prefix):].rpartition("-")
    if not sep or not is_name(role) or not is_lease_suffix(suffix):
        return None
    return role, suffix


def credential_token_name(name: str, prefix: str = BROKER_TOKEN_PREFIX) -> str:
    """The name of the token the broker mints as credential ``name``."""
    return f"{prefix}{CREDENTIAL_TOKEN_INFIX}{name}"


def engine_token_name(prefix: str, role: str, deadline: float) -> str:
    """A fresh name for an engine lease's token of ``role``, whose lease cannot outlive
    ``deadline`` (Unix time): anything that finds it in Jenkins later knows when it is over."""
    return f"{prefix}{role}-{int(deadline)}-{secrets.token_hex(4)}"


def engine_root_token_name(now: float) -> str:
    """A fresh name for the engine's own credential, made by rotate-root at ``now``."""
    return engine_token_name(ENGINE_TOKEN_PREFIX, ENGINE_ROOT_ROLE, now)


def parse_engine_token_name(name: str, prefix: str = ENGINE_TOKEN_PREFIX) -> tuple[str, int] | None:
    """``(role, deadline)`` from a name :func:`engine_token_name` can make with ``prefix``, else ``None``.

    ``None`` too for the engine's rotate-root credential (role ``root``), which has
    no lease and must never be revoked by anyone but the engine.
    """
    if not name.startswith(prefix):
        return None
    head, sep, random = name[len(prefix):].rpartition("-")
    if not sep or len(random) != 8 or not set(random) <= _HEX:
        return None
    role, sep, deadline = head.rpartition("-")
    if not sep or not is_name(role) or role == ENGINE_ROOT_ROLE:
        return None
    if not 0 < len(deadline) <= 12 or not deadline.isascii() or not deadline.isdigit() or deadline[0] == "0":
        return None
    return role, int(deadline)


def same_jenkins_user(a: str, b: str) -> bool:
    """The one rule for "these two ids name the same Jenkins user": equal ignoring case, as
    Jenkins compares ids through its security realm's ``IdStrategy`` (case-insensitive for
    its own user database and most realms), so ``CI-Bot`` and ``ci-bot`` are one user
    (docs/jenkins-behaviour.md §4.8). Used by ``whoAmI`` checks, the strategies, ``check``
    and the engine's migration."""
    return a.casefold() == b.casefold()


def safe_url(url: str) -> str:
    """``url`` as a message may show it: no user-info, query or fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:  # an IPv6 address keeps its brackets
            host = f"[{host}]"
        if parts.port:
            host = f"{host}:{parts.port}"
    except ValueError:  # also a port that is not a number
        return "<unparsable URL>"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def jenkins_root_url(url: Any) -> str:
    """The one rule for a Jenkins root URL (the broker's stored config, the engine's, and
    the client all apply it): http(s), a host, a port in 1-65535 if given, no credentials,
    no query or fragment; returned ending in ``/``. Raises ``ConfigError`` saying what is
    wrong, its message starting "Jenkins URL setting" (front doors put the field name
    there instead)."""
    if not isinstance(url, str) or not url.strip():
        raise ConfigError("Jenkins URL setting is required: the Jenkins root URL, such as "
                          "https://jenkins.example.com/")
    try:
        parts = urlsplit(url.strip())
        port = parts.port  # raises ValueError for a port that is not a number or out of range
    except ValueError:
        raise ConfigError("Jenkins URL setting is not a valid URL (is the port a number "
                          "from 1 to 65535?)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"Jenkins URL setting must be an http(s) URL with a host, such as "
                          f"https://jenkins.example.com/; got {safe_url(url)!r}")
    if port == 0:
        raise ConfigError("Jenkins URL setting has port 0, which nothing listens on")
    if parts.username is not None or parts.password is not None:
        # Credentials belong in the credential store, and a URL ends up in messages.
        raise ConfigError("Jenkins URL setting must not contain a user name or password; "
                          "store the credential separately")
    if parts.query or parts.fragment:
        raise ConfigError("Jenkins URL setting must not have a query or fragment")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return f"{parts.scheme}://{parts.netloc}{path}"
