"""What the Jenkins-shaped Groovy classes ask of the fake's state, and the answers.

A script running in the console's JVM (:mod:`.groovyconsole`) calls methods of
``hudson.model.User``, ``jenkins.security.ApiTokenProperty``, its ``ApiTokenStore`` and
``ApiTokenStats`` (``groovy/`` beside this module); each of those that reads or changes
users or tokens is one call here, made by the thread that serves the script's HTTP
request, under the state's lock. So each call is atomic, as the ``synchronized`` methods
of Jenkins' token store are, and a script as a whole is not, as on Jenkins: other requests
go on while it runs, and a token it makes logs in on ``/whoAmI`` as soon as the call
that made it returns.

Values cross as JSON: dates as ``YYYY-MM-DD``, instants as epoch milliseconds. A refusal
is :class:`JavaError`, which the Groovy side throws as that Java exception.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .state import JenkinsState, StoredToken, UserRecord

TOKEN_IS_HIDDEN = "Token is hidden"                                 # ApiTokenProperty.ChangeToken.TokenIsHidden
NO_LEGACY_TOKEN = "This user currently does not have a legacy token"   # ApiTokenProperty.NoLegacyToken
SAVE_FAULT = "Failed to save user config.xml (fake Jenkins script_fault)"


class JavaError(Exception):
    """A call refused; the Groovy side throws ``java_class`` with ``message``."""

    def __init__(self, java_class: str, message: str):
        super().__init__(message)
        self.java_class = java_class
        self.message = message


@dataclass(frozen=True)
class Caller:
    """Who runs the script (``User.current()``): a user id, or None for anonymous."""

    user_id: str | None
    admin: bool = False


def _millis(moment: dt.datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def _date(text) -> dt.date | None:
    if text is None:
        return None
    return dt.date.fromisoformat(str(text))


def _user(record: UserRecord | None) -> dict | None:
    return None if record is None else {"id": record.id, "fullName": record.full_name}


class Bridge:
    """Answers the calls of one fake's scripts; :meth:`call` is the only entry."""

    def __init__(self, state: JenkinsState):
        self.state = state

    def call(self, caller: Caller, method: str, args: dict) -> object:
        """Do ``method``; its JSON value, or :class:`JavaError`."""
        handler = _METHODS.get(method)
        if handler is None:
            raise JavaError("java.lang.IllegalStateException", f"unknown fake Jenkins call {method}")
        with self.state.lock:
            return handler(self, caller, args)

    # -- users ------------------------------------------------------------------------

    def _owner(self, args: dict) -> UserRecord:
        record = self.state.find_user(args.get("user"), full_name=False)
        if record is None:      # the user was there when the script got it: it cannot go away
            raise JavaError("java.lang.IllegalStateException", f"no user {args.get('user')}")
        return record

    def user_get(self, caller: Caller, args: dict):
        name = args.get("name")
        found = self.state.find_user(name, full_name=bool(args.get("byFullName")))
        if found is None and args.get("create") and isinstance(name, str) and name.strip():
            found = self.state.create_script_user(name.strip())
        return _user(found)

    def user_current(self, caller: Caller, args: dict):
        return _user(self.state.find_user(caller.user_id, full_name=False))

    def user_all(self, caller: Caller, args: dict):
        return [_user(r) for r in self.state.users.values()]

    def user_save(self, caller: Caller, args: dict):
        self._owner(args)
        if self.state.script_fault == "after":
            raise JavaError("java.io.IOException", SAVE_FAULT)
        return None

    def property_attach(self, caller: Caller, args: dict):
        self.state.replace_token_property(self._owner(args))
        return None

    # -- the legacy token ---------------------------------------------------------------

    def legacy_get(self, caller: Caller, args: dict):
        record = self._owner(args)
        may_see = args.get("insecure") or (
            (self.state.show_token_to_admins and caller.admin)
            or self.state.same_user(caller.user_id, record.id))
        if not may_see:
            return TOKEN_IS_HIDDEN
        return self.state.legacy_value(record) or NO_LEGACY_TOKEN

    def legacy_has(self, caller: Caller, args: dict):
        return self._owner(args).legacy_secret is not None

    def legacy_change(self, caller: Caller, args: dict):
        self.state.change_legacy(self._owner(args))
        return None

    def legacy_delete(self, caller: Caller, args: dict):
        self._owner(args).legacy_secret = None
        return None

    # -- the token store ----------------------------------------------------------------

    def _token(self, token: StoredToken | None) -> dict | None:
        if token is None:
            return None
        return {"uuid": token.uuid, "name": token.name, "legacy": token.legacy,
                "created": _millis(token.created),
                "expires": None if token.expires is None else token.expires.isoformat(),
                "expired": self.state.is_expired(token),
                "aboutToExpire": self.state.about_to_expire(token)}

    def tokens_list(self, caller: Caller, args: dict):
        return [self._token(t) for t in self._owner(args).tokens]

    def tokens_legacy(self, caller: Caller, args: dict):
        return self._token(next((t for t in self._owner(args).tokens if t.legacy), None))

    def tokens_generate(self, caller: Caller, args: dict):
        token, value = self.state.generate_token(self._owner(args), args.get("name"),
                                                 _date(args.get("expires")))
        return {"uuid": token.uuid, "value": value,
                "aboutToExpire": self.state.about_to_expire(token)}

    def tokens_add_fixed(self, caller: Caller, args: dict):
        try:
            token = self.state.add_fixed_token(self._owner(args), args.get("name"),
                                               args.get("value"), _date(args.get("expires")))
        except ValueError as exc:
            raise JavaError("java.lang.IllegalArgumentException", str(exc)) from None
        return token.uuid

    def tokens_match(self, caller: Caller, args: dict):
        value = args.get("value")
        if not isinstance(value, str):
            return None
        return self._token(self.state.match_token(self._owner(args), value,
                                                  count=bool(args.get("count"))))

    def tokens_revoke(self, caller: Caller, args: dict):
        uuid = args.get("uuid")
        if not isinstance(uuid, str):
            return None
        # The store's revokeToken keeps the legacy secret; ApiTokenProperty.revokeToken
        # drops it with a second call (legacy.delete).
        return self._token(self.state.revoke(self._owner(args), uuid, clear_legacy=False))

    def tokens_revoke_all(self, caller: Caller, args: dict):
        self.state.revoke_all(self._owner(args), except_uuid=args.get("except"))
        return None

    def tokens_rename(self, caller: Caller, args: dict):
        uuid = args.get("uuid")
        return isinstance(uuid, str) and self.state.rename(self._owner(args), uuid, args.get("name"))

    # -- usage statistics ---------------------------------------------------------------

    def _stats(self, record: UserRecord, uuid) -> dict:
        token = next((t for t in record.tokens if t.uuid == uuid), None)
        if token is None:
            return {"useCounter": None, "lastUse": None}
        return {"useCounter": token.use_counter or None, "lastUse": _millis(token.last_use)}

    def stats_get(self, caller: Caller, args: dict):
        return self._stats(self._owner(args), args.get("uuid"))

    def stats_use(self, caller: Caller, args: dict):
        """updateUsageForId: counts a use of the token (the statistics of a uuid without a
        token are not kept here)."""
        record = self._owner(args)
        now = dt.datetime.now().astimezone()
        for token in record.tokens:
            if token.uuid == args.get("uuid"):
                token.use_counter += 1
                token.last_use = now
                return self._stats(record, token.uuid)
        return {"useCounter": 1, "lastUse": _millis(now)}

    def stats_reset(self, caller: Caller, args: dict):
        only, keep = args.get("only"), args.get("except")
        for token in self._owner(args).tokens:
            if (only is None or token.uuid == only) and (keep is None or token.uuid != keep):
                token.use_counter, token.last_use = 0, None
        return None


_METHODS = {
    "user.get": Bridge.user_get, "user.current": Bridge.user_current, "user.all": Bridge.user_all,
    "user.save": Bridge.user_save, "property.attach": Bridge.property_attach,
    "legacy.get": Bridge.legacy_get, "legacy.has": Bridge.legacy_has,
    "legacy.change": Bridge.legacy_change, "legacy.delete": Bridge.legacy_delete,
    "tokens.list": Bridge.tokens_list, "tokens.legacy": Bridge.tokens_legacy,
    "tokens.generate": Bridge.tokens_generate, "tokens.addFixed": Bridge.tokens_add_fixed,
    "tokens.match": Bridge.tokens_match, "tokens.revoke": Bridge.tokens_revoke,
    "tokens.revokeAll": Bridge.tokens_revoke_all, "tokens.rename": Bridge.tokens_rename,
    "stats.get": Bridge.stats_get, "stats.use": Bridge.stats_use, "stats.reset": Bridge.stats_reset,
}
