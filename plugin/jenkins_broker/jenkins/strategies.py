"""The five ways of getting a token out of Jenkins (README.md, "Minting strategies").

========================  =============================  ==========================================
strategy                  the credential                 how
========================  =============================  ==========================================
``user-token``            the user's own API token       ``generateNewToken``, no crumb, no cookie
``user-password``         the user's password            crumb + session cookie, ``generateNewToken``
``admin-script``          an administrator's             Groovy through ``/scriptText``
``admin-rest``            an administrator's             ``generateNewToken`` on another user (needs
                                                         ``adminCanGenerateNewTokens=true``)
``legacy``                the user's (or admin's)        ``changeToken``: a lease is a rotation
========================  =============================  ==========================================

Every strategy has the same three calls: :meth:`Strategy.mint`,
:meth:`Strategy.revoke` (idempotent) and :meth:`Strategy.list_tokens`.
:meth:`~Strategy.mint` refuses to work on a CloudBees CI controller, asks Jenkins
2.548+ for a backstop expiry of whole days past the longest lease, and (when
the client's ``verify_after_mint`` is on) checks the new token with ``whoAmI``,
revoking it again if it does not log in as the user.

What Jenkins answers to each call, and who may make it, is in
docs/jenkins-behaviour.md (§4, §9); section numbers (§) below refer to it.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import ClassVar

from ..errors import (
    CloudBeesControllerRefused,
    ConfigError,
    JenkinsError,
    JenkinsOperationFailed,
    JenkinsProtocolError,
    JenkinsScriptError,
    JenkinsUnsupported,
)
from ..values import same_jenkins_user
from . import listing, scripts
from .answers import scrub
from .client import EXPIRY_SINCE, JenkinsClient
from .models import LEGACY_TOKEN_ID, Credential, MintedToken, TokenInfo, expiration_days

NEW_TOKENS_SINCE = (2, 129)
LEGACY_TOKEN_NAME = "Legacy Token"
CLOUDBEES_KB = "CloudBees KB 360029355552"


class Strategy:
    """How one role mints, revokes and lists tokens; subclasses are the five strategies."""

    name: ClassVar[str] = ""
    #: The oldest Jenkins the strategy works on (``None``: any).
    since: ClassVar[tuple[int, ...] | None] = NEW_TOKENS_SINCE

    def __init__(self, client: JenkinsClient, credential: Credential):
        self.client = client
        self.credential = credential

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.client.url!r}, user={self.credential.username!r})"

    # -- the three calls ------------------------------------------------------------

    def mint(self, user: str, name: str, max_lease_seconds: float) -> MintedToken:
        """Create a token for Jenkins user ``user`` named ``name``; return it.

        ``max_lease_seconds`` is the longest the token may be leased; on Jenkins
        2.548+ the token gets a Jenkins-side expiry of that many days rounded up,
        plus one. Raises :class:`~jenkins_broker.errors.CloudBeesControllerRefused`
        on a CloudBees controller, :class:`~jenkins_broker.errors.JenkinsUnsupported`
        when the strategy cannot work on this Jenkins,
        :class:`~jenkins_broker.errors.JenkinsOperationFailed` when the new token
        does not log in (it is revoked first), and the client's mapped errors.
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a token name is required (the reaper finds tokens by name)")
        days = expiration_days(max_lease_seconds)  # validates before anything is sent
        self._refuse_on_controller(user)
        self._check_user(user)
        version = self.client.version_tuple(credential=self.credential)
        self._check_version(version, user)
        minted = self._mint(user, name, days if self._wants_expiry(version) else None)
        if self.client.verify_after_mint:
            self._verify(minted)
        return minted

    def revoke(self, user: str, uuid: str) -> None:
        """Revoke token ``uuid`` of ``user``. Idempotent: an unknown uuid is success.

        Raises the client's mapped errors when Jenkins could not confirm.
        """
        self._revoke(user, uuid)

    def list_tokens(self, user: str) -> list[TokenInfo]:
        """The tokens ``user`` has in Jenkins (uuid, name, legacy flag, dates if known).

        Raises the client's mapped errors.
        """
        return listing.list_tokens_by_page(self.client, self.credential, user)

    # -- shared checks --------------------------------------------------------------

    def _refuse_on_controller(self, user: str) -> None:
        if self.client.is_cloudbees_controller:
            raise CloudBeesControllerRefused(
                f"Refusing to mint a token for {user!r} on {self.client.url}: it is configured "
                "as a CloudBees CI controller, and the Operations Center overwrites API tokens "
                f"made on a controller when it syncs user details ({CLOUDBEES_KB}). Point the "
                "broker at the Operations Center URL and set the kind to "
                "'cloudbees-operations-center'.", url=self.client.url, user=user)

    def _check_user(self, user: str) -> None:
        if not isinstance(user, str) or not user:
            raise ValueError("a Jenkins user id is required")

    def _check_version(self, version: tuple[int, ...] | None, user: str) -> None:
        if self.since is not None and version is not None and version < self.since:
            raise JenkinsUnsupported(
                f"The {self.name} strategy needs Jenkins {'.'.join(map(str, self.since))} or "
                f"later; {self.client.url} runs {'.'.join(map(str, version))}, which only has "
                "the legacy token: use the legacy strategy.", url=self.client.url, user=user)

    def _wants_expiry(self, version: tuple[int, ...] | None) -> bool:
        # An unknown version gets the parameter: Jenkins before 2.548 ignores it (§4.1).
        return version is None or version >= EXPIRY_SINCE

    def _verify(self, minted: MintedToken) -> None:
        try:
            works = self.client.verify_token(minted.user, minted.value)
        except JenkinsError as exc:
            gone = self._revoke_quietly(minted)
            raise type(exc)(f"{exc} The new token {minted.name!r} could not be checked and was "
                             f"{'revoked' if gone else 'not revoked (the reaper will find it)'}.",
                             url=exc.url, user=exc.user, status=exc.status) from None
        if not works:
            gone = self._revoke_quietly(minted)
            raise JenkinsOperationFailed(
                f"Jenkins at {self.client.url} made token {minted.name!r} for {minted.user!r}, "
                f"but it does not log in as {minted.user!r} (whoAmI); it was "
                f"{'revoked' if gone else 'not revoked (the reaper will find it by its name)'}. "
                "Check that the role's user id is spelled as Jenkins spells it; on CloudBees CI, "
                f"that tokens are minted on the Operations Center ({CLOUDBEES_KB}).",
                url=self.client.url, user=minted.user)

    def _revoke_quietly(self, minted: MintedToken) -> bool:
        try:
            self._revoke(minted.user, minted.uuid)
        except JenkinsError:
            return False
        return True

    # -- what each strategy does ------------------------------------------------------

    def _mint(self, user: str, name: str, days: int | None) -> MintedToken:
        raise NotImplementedError

    def _revoke(self, user: str, uuid: str) -> None:
        self.client.revoke_token(self.credential, user, uuid)

    def _minted(self, user: str, data: dict, name: str, days: int | None) -> MintedToken:
        return MintedToken(
            user=user, uuid=data["tokenUuid"], name=str(data.get("tokenName") or name),
            value=data["tokenValue"], expiration_days=days,
            expiration_date=date.today() + timedelta(days=days) if days is not None else None)


class _SelfService(Strategy):
    """The user mints their own tokens with their own credential."""

    wants_token: ClassVar[bool]

    def __init__(self, client: JenkinsClient, credential: Credential):
        super().__init__(client, credential)
        if credential.is_token != self.wants_token:
            raise ConfigError(
                f"The {self.name} strategy needs the user's "
                f"{'API token' if self.wants_token else 'password'} as its credential; the one "
                f"given for {credential.username!r} is a "
                f"{'token' if credential.is_token else 'password'} (set its kind explicitly if "
                "that guess is wrong).")

    def _check_user(self, user: str) -> None:
        super()._check_user(user)
        if not same_jenkins_user(user, self.credential.username):
            raise ConfigError(
                f"The {self.name} strategy mints only for the credential's own user "
                f"{self.credential.username!r}, not {user!r}; use admin-script or admin-rest "
                "to mint for other users.")

    def _mint(self, user: str, name: str, days: int | None) -> MintedToken:
        data = self.client.generate_new_token(self.credential, user, name, days)
        return self._minted(user, data, name, days)


class UserTokenStrategy(_SelfService):
    """``user-token``: token-authenticated ``generateNewToken``; no crumb, no cookie."""

    name = "user-token"
    wants_token = True


class UserPasswordStrategy(_SelfService):
    """``user-password``: crumb and session cookie, then ``generateNewToken``."""

    name = "user-password"
    wants_token = False


class AdminRestStrategy(Strategy):
    """``admin-rest``: an administrator calls ``generateNewToken`` on another user.

    Needs Jenkins started with
    ``-Djenkins.security.ApiTokenProperty.adminCanGenerateNewTokens=true``;
    without it :class:`~jenkins_broker.errors.AdminCannotGenerateTokens`.
    """

    name = "admin-rest"

    def _mint(self, user: str, name: str, days: int | None) -> MintedToken:
        data = self.client.generate_new_token(self.credential, user, name, days)
        return self._minted(user, data, name, days)


class AdminScriptStrategy(Strategy):
    """``admin-script``: the token store driven through ``POST /scriptText``.

    Output is parsed strictly (a script that throws still answers HTTP 200):
    anything but the one result line is a
    :class:`~jenkins_broker.errors.JenkinsScriptError`.
    """

    name = "admin-script"

    def _wants_expiry(self, version: tuple[int, ...] | None) -> bool:
        # The script calls generateNewToken(name, LocalDate), which exists only
        # since 2.548: an unknown version must not get it.
        return version is not None and version >= EXPIRY_SINCE

    def _run(self, operation: str, user: str, what: str, **args) -> dict:
        output = self.client.script_text(self.credential, scripts.render(operation, user=user, **args),
                                         user=user, what=what)
        try:
            return scripts.parse_output(output, operation=operation,
                                        url=self.client.url + "scriptText", user=user)
        except JenkinsScriptError as exc:
            # The output is quoted (redacted) in the message; mask the credential too.
            raise scrub(exc, (self.credential.secret,)) from None

    def _mint(self, user: str, name: str, days: int | None) -> MintedToken:
        try:
            data = self._run("mint-token", user, f"creating an API token for user {user!r}",
                             name=name, expiration_days=days)
        except JenkinsScriptError:
            # The script may have failed after the token was made (user.save() throwing
            # leaves it live in memory): revoke whatever carries this lease's name.
            self._revoke_named(user, name)
            raise
        if not (isinstance(data.get("tokenUuid"), str) and data["tokenUuid"]
                and isinstance(data.get("tokenValue"), str) and data["tokenValue"]):
            raise JenkinsProtocolError(
                f"The mint-token script at {self.client.url}scriptText printed no token uuid "
                "and value.", url=self.client.url + "scriptText", user=user)
        return self._minted(user, data, name, days)

    def _revoke_named(self, user: str, name: str) -> None:
        try:
            for token in self.list_tokens(user):
                if token.name == name:
                    self._revoke(user, token.uuid)
        except JenkinsError:
            pass  # best effort: the reaper finds leftovers by their name prefix

    def _revoke(self, user: str, uuid: str) -> None:
        if not uuid or not uuid.strip():
            raise ValueError("revoke needs a token uuid")
        # {"revoked": false} for an unknown uuid is success too: revocation is idempotent.
        self._run("revoke-token", user, f"revoking token {uuid} of user {user!r}", uuid=uuid)

    def list_tokens(self, user: str) -> list[TokenInfo]:
        """``user``'s tokens through the script console (all fields known)."""
        return listing.list_tokens_by_script(self.client, self.credential, user)


class LegacyStrategy(Strategy):
    """``legacy``: ``changeToken`` rotates the user's single legacy token.

    A lease is a rotation: :meth:`mint` rotates and hands out the new value
    (its uuid is ``LEGACY_TOKEN_ID``), :meth:`revoke` of ``LEGACY_TOKEN_ID``
    rotates again and throws the value away (so any earlier value dies); a
    real token uuid is revoked with ``revoke`` like the other strategies. Because a user has one legacy token, two live leases of the same user
    cannot coexist: a new mint ends the previous lease's token. The token cannot
    carry a Jenkins-side expiry. Works on every Jenkins version; the only
    strategy before 2.129. The credential must not be the legacy token itself
    (rotating would destroy it): use the user's password or a current token.
    """

    name = "legacy"
    since = None

    def _check_user(self, user: str) -> None:
        super()._check_user(user)
        if same_jenkins_user(user, self.credential.username) and self.credential.is_legacy_token:
            raise ConfigError(
                f"The legacy strategy cannot use {user!r}'s legacy token as its credential: the "
                "first rotation would invalidate it. Store the user's password (or, on 2.129+, "
                "a current API token) instead.")

    def _wants_expiry(self, version: tuple[int, ...] | None) -> bool:
        return False  # changeToken takes no parameters

    def _mint(self, user: str, name: str, days: int | None) -> MintedToken:
        value = self.client.change_legacy_token(self.credential, user)
        return MintedToken(user=user, uuid=LEGACY_TOKEN_ID, name=LEGACY_TOKEN_NAME, value=value,
                           legacy=True)

    def _revoke(self, user: str, uuid: str) -> None:
        if uuid and uuid != LEGACY_TOKEN_ID:
            # A real token uuid (say, an orphan found by listing): revoke exactly that one.
            self.client.revoke_token(self.credential, user, uuid)
            return
        # End the lease by rotating; the new value is never read. If Jenkins answers
        # "Capability ... disabled", the user has no legacy token left: success too.
        self.client.invalidate_legacy_token(self.credential, user)

    def list_tokens(self, user: str) -> list[TokenInfo]:
        """``user``'s tokens from the token page; empty before 2.129 (no list exists)."""
        version = self.client.version_tuple(credential=self.credential)
        if version is not None and version < NEW_TOKENS_SINCE:
            return []
        return super().list_tokens(user)


STRATEGIES: dict[str, type[Strategy]] = {
    strategy.name: strategy
    for strategy in (UserTokenStrategy, UserPasswordStrategy, AdminScriptStrategy,
                     AdminRestStrategy, LegacyStrategy)
}


def make_strategy(name: str, client: JenkinsClient, credential: Credential) -> Strategy:
    """The strategy called ``name`` (a key of :data:`STRATEGIES`) bound to ``client``.

    Raises :class:`~jenkins_broker.errors.ConfigError` for an unknown name or a
    credential of the wrong kind.
    """
    try:
        strategy = STRATEGIES[name]
    except (KeyError, TypeError):
        raise ConfigError(f"Unknown minting strategy {name!r}; use one of "
                          f"{', '.join(STRATEGIES)}") from None
    if not isinstance(credential, Credential):
        raise ConfigError(f"The {name} strategy needs a Credential")
    return strategy(client, credential)
