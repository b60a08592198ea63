"""Everything the fake Jenkins remembers: users, API tokens, HTTP sessions and crumbs.

One :class:`JenkinsState` per fake, guarded by one re-entrant lock (``state.lock``).
Token storage follows docs/jenkins-behaviour.md §7: only the SHA-256 of the
32-hex secret is kept, never the value; the legacy token keeps its recoverable secret (§11), which
is the very weakness Jenkins 2.129 addressed. Sessions and crumbs follow §3.2 and
§3.6; usage statistics §8.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import string
import threading
import uuid as uuidlib
from collections import Counter, deque
from dataclasses import dataclass, field

from .versions import features_for

LEGACY_TOKEN_NAME = "Legacy Token"          # ApiTokenProperty.LegacyTokenName
_SESSION_ALPHABET = string.ascii_lowercase + string.digits


@dataclass
class FakeUser:
    """A Jenkins user of the fake: an id, a password, and whether it holds Overall/Administer.

    ``legacy_token``: ``None`` means what the emulated version does by default
    (every user has one before 2.129, none after, §11); ``True`` seeds one anyway,
    as on an instance upgraded from an old Jenkins.
    """

    name: str
    password: str
    admin: bool = False
    full_name: str | None = None
    groups: tuple[str, ...] = ()
    legacy_token: bool | None = None

    @classmethod
    def parse(cls, spec: str) -> "FakeUser":
        """Build a user from ``"NAME:PASSWORD[:admin]"`` (ValueError if malformed)."""
        name, sep, rest = str(spec).partition(":")
        admin = False
        if rest.endswith(":admin"):
            rest, admin = rest[: -len(":admin")], True
        if not name or not sep or not rest:
            raise ValueError("a fake Jenkins user is NAME:PASSWORD or NAME:PASSWORD:admin")
        return cls(name, rest, admin=admin)


@dataclass
class StoredToken:
    """One entry of a user's token store (ApiTokenStore.HashedToken plus its statistics)."""

    uuid: str
    name: str | None
    hash: str                       # SHA-256 hex of the secret part; the value is never kept
    legacy: bool
    created: dt.datetime | None
    expires: dt.date | None = None
    use_counter: int = 0
    last_use: dt.datetime | None = None


@dataclass
class UserRecord:
    id: str
    password: str
    admin: bool
    full_name: str
    groups: tuple[str, ...]
    tokens: list[StoredToken] = field(default_factory=list)
    legacy_secret: str | None = None    # ApiTokenProperty.apiToken (a hudson.util.Secret)
    in_realm: bool = True               # False: made by a script's User.getById(id, true)


@dataclass
class Session:
    """An HTTP session (§3.6). ``user`` is set only by a form login."""

    id: str
    cookie_value: str
    user: str | None = None


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("ascii", "replace")).hexdigest()


def _legacy_token(secret: str) -> str:
    """The legacy token value of a legacy secret: its MD5 hex (§11)."""
    return hashlib.md5(secret.encode("ascii")).hexdigest()


def iso_offset_now() -> str:
    """Now as Java's ISO_OFFSET_DATE_TIME prints it, e.g. ``2026-01-26T10:15:30.123+01:00``."""
    now = dt.datetime.now().astimezone()
    text = now.strftime("%Y-%m-%dT%H:%M:%S")
    if now.microsecond:
        text += "." + f"{now.microsecond:06d}".rstrip("0")
    offset = now.utcoffset() or dt.timedelta(0)
    if not offset:
        return text + "Z"
    sign = "+" if offset >= dt.timedelta(0) else "-"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def short_date(day: dt.date) -> str:
    """``day`` in Java's en-US SHORT style, e.g. ``2/25/26`` (§4.1 ``expirationDate``)."""
    return f"{day.month}/{day.day}/{day.year % 100:02d}"


class JenkinsState:
    """Users, tokens, sessions and crumbs of one fake Jenkins; thread-safe via ``lock``."""

    def __init__(self, users, *, version: str, admin_can_generate_new_tokens: bool = False,
                 creation_of_legacy_token_enabled: bool = False,
                 show_token_to_admins: bool = False):
        self.lock = threading.RLock()
        self.features = features_for(version)
        self.admin_can_generate_new_tokens = bool(admin_can_generate_new_tokens)
        self.creation_of_legacy_token_enabled = bool(creation_of_legacy_token_enabled)
        self.show_token_to_admins = bool(show_token_to_admins)
        # Both survive restarts, like the confidential keys crumbSalt and ApiTokenProperty/seed.
        self.crumb_salt = secrets.token_hex(16)
        self._legacy_seed = secrets.token_bytes(16)
        self.today_override: dt.date | None = None
        self.script_fault: bool | str | None = None
        self.requests_seen: Counter = Counter()
        self.request_log: deque = deque(maxlen=10000)
        self.users: dict[str, UserRecord] = {}
        for user in users:
            self.add_user(user if isinstance(user, FakeUser) else FakeUser.parse(user))
        self.sessions: dict[str, Session] = {}
        self.cookie_name = ""
        self.session_hash = ""
        self.new_process()

    # -- process lifetime ---------------------------------------------------------------

    def new_process(self) -> None:
        """Forget what a Jenkins restart forgets (§3.6): sessions, cookie name, session hash.

        On load Jenkins re-creates a legacy store entry from a kept legacy secret
        (``regenerateTokenFromLegacyIfRequired``, §4.3), so a legacy token removed by
        ``revokeAll`` comes back here.
        """
        with self.lock:
            self.sessions.clear()
            self.cookie_name = "JSESSIONID." + secrets.token_hex(4)
            self.session_hash = secrets.token_hex(4)
            for record in self.users.values():
                if record.legacy_secret and not any(t.legacy for t in record.tokens):
                    self._add_legacy_entry(record, migrated=True)

    def today(self) -> dt.date:
        return self.today_override or dt.date.today()

    # -- users --------------------------------------------------------------------------

    def add_user(self, user: FakeUser) -> UserRecord:
        """Create a user; ids compare case-insensitively, like the default IdStrategy."""
        with self.lock:
            key = user.name.lower()
            if key in self.users:
                raise ValueError(f"duplicate fake Jenkins user {user.name!r}")
            record = UserRecord(user.name, user.password, bool(user.admin),
                                user.full_name or user.name, tuple(user.groups))
            self.users[key] = record
            wants_legacy = (user.legacy_token if user.legacy_token is not None
                            else not self.features.new_tokens)
            if wants_legacy:
                mac = hmac.new(self._legacy_seed, record.id.encode("utf-8"), hashlib.sha256)
                record.legacy_secret = mac.hexdigest()[:32]
                self._add_legacy_entry(record, migrated=True)
            return record

    def create_script_user(self, name: str) -> UserRecord:
        """``User.getById(name, true)`` in a script: a user record the security realm does
        not know (no password; a token of its fails impersonation, §2)."""
        with self.lock:
            record = self.add_user(FakeUser(name, secrets.token_hex(32)))
            record.in_realm = False
            return record

    def find_user(self, name, *, full_name: bool = True) -> UserRecord | None:
        """Look a user up by id (case-insensitive), or else by exact full name; never creates.

        ``/user/{x}`` accepts a full name (User.get); authentication and the
        scripts' ``User.getById`` take ids only (``full_name=False``).
        """
        if not isinstance(name, str) or not name:
            return None
        with self.lock:
            found = self.users.get(name.lower())
            if found is None and full_name:
                found = next((u for u in self.users.values() if u.full_name == name), None)
            return found

    def require_user(self, name: str) -> UserRecord:
        found = self.find_user(name)
        if found is None:
            raise KeyError(f"fake Jenkins has no user {name!r}")
        return found

    @staticmethod
    def same_user(a: str | None, b: str | None) -> bool:
        return a is not None and b is not None and a.lower() == b.lower()

    def check_password(self, record: UserRecord, password: str) -> bool:
        return hmac.compare_digest(record.password.encode("utf-8"), password.encode("utf-8"))

    # -- tokens -------------------------------------------------------------------------

    def legacy_value(self, record: UserRecord) -> str | None:
        """The legacy token value, MD5 hex of the secret (§11), or None if there is none."""
        if record.legacy_secret is None:
            return None
        return _legacy_token(record.legacy_secret)

    def _add_legacy_entry(self, record: UserRecord, *, migrated: bool) -> StoredToken:
        assert record.legacy_secret is not None, "every caller sets the legacy secret first"
        record.tokens = [t for t in record.tokens if not t.legacy]
        token = StoredToken(str(uuidlib.uuid4()), LEGACY_TOKEN_NAME,
                            sha256_hex(_legacy_token(record.legacy_secret)), legacy=True,
                            created=None if migrated else dt.datetime.now().astimezone())
        record.tokens.append(token)
        return token

    def is_expired(self, token: StoredToken) -> bool:
        return (self.features.expiry and token.expires is not None
                and token.expires < self.today())

    def about_to_expire(self, token: StoredToken) -> bool:
        return token.expires is not None and token.expires < self.today() + dt.timedelta(days=7)

    def match_token(self, record: UserRecord, presented: str, *,
                    count: bool = True) -> StoredToken | None:
        """Find the token ``presented`` authenticates as and count the use (§7, §8).

        A 34-character value loses its first two characters unchecked; any other
        length is hashed whole. Before 2.129 only the exact legacy value matches.
        ``count=False`` is the store's findMatchingToken, which leaves statistics alone.
        """
        if not presented or not presented.strip():
            return None
        with self.lock:
            secret = presented
            if self.features.new_tokens and len(presented) == 34:
                secret = presented[2:]
            digest = sha256_hex(secret)
            for token in record.tokens:
                if hmac.compare_digest(token.hash, digest) and not self.is_expired(token):
                    if count:
                        token.use_counter += 1
                        token.last_use = dt.datetime.now().astimezone()
                    return token
            return None

    def generate_token(self, record: UserRecord, name: str | None,
                       expires: dt.date | None = None) -> tuple[StoredToken, str]:
        """Mint ``11`` + 32 hex; store only the hash. Returns the entry and the value."""
        with self.lock:
            secret = secrets.token_hex(16)
            token = StoredToken(str(uuidlib.uuid4()), name, sha256_hex(secret), legacy=False,
                                created=dt.datetime.now().astimezone(), expires=expires)
            record.tokens.append(token)
            return token, "11" + secret

    def add_fixed_token(self, record: UserRecord, name: str | None, value: str | None,
                        expires: dt.date | None = None) -> StoredToken:
        """Store a caller-chosen ``11`` + 32-hex value (§4.6); ValueError if malformed."""
        if value is None or len(value) != 34:
            raise ValueError("The token must consist of 2 characters for the version "
                             "and 32 hex-characters for the secret")
        if value[:2] != "11":
            raise ValueError("The given version is not recognized")
        secret = value[2:].lower()
        if any(c not in "0123456789abcdef" for c in secret):
            raise ValueError("The secret part of the token must consist of 32 hex-characters")
        with self.lock:
            token = StoredToken(str(uuidlib.uuid4()), name, sha256_hex(secret), legacy=False,
                                created=dt.datetime.now().astimezone(), expires=expires)
            record.tokens.append(token)
            return token

    def revoke(self, record: UserRecord, token_uuid: str, *, clear_legacy: bool = True):
        """Remove one token by uuid; revoking the legacy one also drops its secret (§4.2)."""
        with self.lock:
            for token in record.tokens:
                if token.uuid == token_uuid:
                    record.tokens.remove(token)
                    if token.legacy and clear_legacy:
                        record.legacy_secret = None
                    return token
            return None

    def revoke_all(self, record: UserRecord, except_uuid: str | None = None) -> None:
        """revokeAll / revokeAllExcept (§4.3, §4.4): the legacy secret is kept."""
        with self.lock:
            record.tokens = [t for t in record.tokens
                             if except_uuid is not None and t.uuid == except_uuid]

    def rename(self, record: UserRecord, token_uuid: str, new_name: str | None) -> bool:
        with self.lock:
            for token in record.tokens:
                if token.uuid == token_uuid:
                    token.name = new_name
                    return True
            return False

    def change_legacy(self, record: UserRecord) -> str:
        """changeToken (§4.7): a new random legacy secret and a fresh store entry."""
        with self.lock:
            secret = record.legacy_secret = secrets.token_hex(16)
            self._add_legacy_entry(record, migrated=False)
            return _legacy_token(secret)

    def replace_token_property(self, record: UserRecord) -> None:
        """``user.addProperty(new ApiTokenProperty())``: the new property's store is empty
        and, since 2.129, it has no legacy secret; before, its constructor made a new one."""
        with self.lock:
            record.tokens = []
            record.legacy_secret = None
            if not self.features.new_tokens:
                self.change_legacy(record)

    def sorted_tokens(self, record: UserRecord) -> list[StoredToken]:
        """The token list as Jenkins shows it: sorted by lower-cased name."""
        with self.lock:
            return sorted(record.tokens, key=lambda t: (t.name or "").lower())

    # -- sessions and crumbs --------------------------------------------------------------

    def session_from_cookies(self, cookies) -> Session | None:
        value = cookies.get(self.cookie_name)
        if not value:
            return None
        with self.lock:
            return self.sessions.get(value.split(".", 1)[0])

    def create_session(self, user: str | None = None) -> Session:
        with self.lock:
            cluster_id = "node0" + "".join(secrets.choice(_SESSION_ALPHABET) for _ in range(26))
            session = Session(cluster_id, cluster_id + ".node0", user)
            self.sessions[cluster_id] = session
            return session

    def drop_session(self, session: Session) -> None:
        with self.lock:
            self.sessions.pop(session.id, None)

    def crumb(self, auth_name: str, client_ip: str, session_id: str | None) -> str:
        """The crumb of (user, session[, client IP]) as DefaultCrumbIssuer computes it (§3.2)."""
        f = self.features
        if f.crumb_without_ip:
            message = f"{auth_name};{session_id}"
        else:
            message = f"{auth_name};{client_ip}"
            if f.session_crumb:
                message += f";{session_id or 'NO_SESSION'}"
        digest = hashlib.sha256() if f.sha256_crumb else hashlib.md5()
        digest.update(message.encode("utf-8"))
        digest.update(self.crumb_salt.encode("ascii"))
        return digest.hexdigest()
