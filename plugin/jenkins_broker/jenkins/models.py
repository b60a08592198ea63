"""Value objects shared by the Jenkins client, the strategies and the listing.

Nothing here talks to Jenkins. Secrets (a credential's password or token, a
minted token's value) are kept out of ``repr()`` and ``str()`` so that a log
line, a traceback's locals or an assertion message cannot show them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime

from ..values import LEGACY_TOKEN_ID  # noqa: F401  (re-exported: the id of Jenkins' legacy token)

# A current token is "11" + 32 lowercase hex digits (docs/jenkins-behaviour.md §7);
# a legacy token is 32 hex digits. Anything else given as a credential is taken as a password.
_TOKEN_SHAPE = re.compile(r"(?:[0-9a-zA-Z]{2})?[0-9a-f]{32}")

SECONDS_PER_DAY = 86400


@dataclass(frozen=True)
class Credential:
    """A Jenkins user name with its password or API token.

    ``kind`` is ``"password"``, ``"token"`` or ``"auto"`` (the default: a value
    shaped like a Jenkins token, ``11`` + 32 hex or 32 hex, is a token, anything
    else a password). It decides the CSRF handling: a token-authenticated POST
    needs no crumb and no cookie, a password-authenticated one needs both
    (docs/jenkins-behaviour.md §3.4). Say ``kind`` explicitly when a password
    happens to look like hex.
    """

    username: str
    secret: str = field(repr=False)
    kind: str = "auto"

    def __post_init__(self) -> None:
        if self.kind not in ("auto", "password", "token"):
            raise ValueError(f"Credential kind must be 'auto', 'password' or 'token', not {self.kind!r}")
        if not self.username or ":" in self.username:
            # Basic auth splits at the first colon (§2): a user id with one cannot log in.
            raise ValueError("Credential username must be non-empty and contain no ':'")
        if not self.secret:
            raise ValueError(f"Credential for {self.username!r} has an empty secret")

    @classmethod
    def token(cls, username: str, secret: str) -> "Credential":
        """A credential that is an API token."""
        return cls(username, secret, "token")

    @classmethod
    def password(cls, username: str, secret: str) -> "Credential":
        """A credential that is the user's password."""
        return cls(username, secret, "password")

    @property
    def is_token(self) -> bool:
        """True when the secret is an API token (explicitly, or by its shape with ``auto``)."""
        if self.kind == "auto":
            return _TOKEN_SHAPE.fullmatch(self.secret) is not None
        return self.kind == "token"

    @property
    def is_legacy_token(self) -> bool:
        """True when the secret looks like a legacy token (32 hex digits, §7)."""
        return self.is_token and re.fullmatch(r"[0-9a-f]{32}", self.secret) is not None


@dataclass(frozen=True)
class MintedToken:
    """A token just made in Jenkins. ``value`` is shown nowhere but this attribute.

    ``uuid`` is what :meth:`revoke` needs (``LEGACY_TOKEN_ID`` for a legacy
    rotation on Jenkins before 2.129, which has no uuids).
    ``expiration_date`` is the Jenkins-side backstop expiry as computed by the
    broker (today, local clock, plus ``expiration_days``); ``None`` when Jenkins
    was not asked for one (before 2.548, or legacy tokens, which cannot expire).
    """

    user: str
    uuid: str
    name: str
    value: str = field(repr=False)
    expiration_date: date | None = None
    legacy: bool = False
    expiration_days: int | None = None


@dataclass(frozen=True)
class TokenInfo:
    """One entry of a user's token list, as far as the listing source shows it.

    The script console gives everything; the HTML pages give the uuid, name and
    legacy flag, plus display texts (``created_text``, ``expiry_text``,
    ``last_used_text``) that are localised and only meant for people.
    """

    uuid: str
    name: str
    legacy: bool = False
    creation_date: datetime | None = None
    expiration_date: date | None = None
    use_counter: int | None = None
    created_text: str | None = None
    expiry_text: str | None = None
    last_used_text: str | None = None




def expiration_days(max_lease_seconds: float) -> int:
    """Days to ask Jenkins for, so its backstop expiry never cuts a lease short.

    Jenkins (2.548+) takes ``expirationDuration`` in whole days: the expiry date is
    the server's local date plus that many days, and the token works until that
    date has passed (§4.1, §7). So a token asked for N days lives at least N days
    (N days and a minute when minted at 23:59). The longest lease rounded up to
    whole days (at least one) is therefore enough; one more day is slack for a
    Jenkins clock or time zone that changes while the token lives.
    """
    if (isinstance(max_lease_seconds, bool) or not isinstance(max_lease_seconds, (int, float))
            or not math.isfinite(max_lease_seconds) or max_lease_seconds < 0):
        raise ValueError(f"max_lease_seconds must be a non-negative number, not {max_lease_seconds!r}")
    days = max(1, math.ceil(max_lease_seconds / SECONDS_PER_DAY))
    return days + 1
