"""Keeping the broker's own Vault token alive: :class:`TokenRenewer`.

A background thread renews the token (``POST auth/token/renew-self``) when two
thirds of its TTL have passed, so one failed attempt still leaves a third of the
TTL to retry in. With AppRole or Kubernetes auth it logs in again when renewal
is impossible: the token is not renewable, was revoked, or is near its max TTL
(Vault caps the renewal below the token's full TTL). A token that never expires
(a root or dev token, TTL 0) is left alone. With token auth nothing can replace
an expiring token; the renewer logs an error telling the operator what to do.

The old token is not revoked after a re-login: requests already in flight may
still carry it, and it dies at its own max TTL anyway.

What the loop does after each attempt is decided by :func:`next_step` (and
:func:`first_step` at the start), pure functions of how the attempt went and
what is known of the token, so each rule can be tested without Vault.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Literal

from jenkins_broker.errors import ConfigError, VaultAuthError, VaultError, VaultForbidden
from jenkins_broker.vault.client import VaultClient
from jenkins_broker.vault.login import LoginResult, login, new_client
from jenkins_broker.vault.settings import VaultSettings

log = logging.getLogger("jenkins_broker.vault")


Action = Literal["renew", "login", "stop"]
# How an attempt went: ``done`` (renewed, or logged in), ``at-max-ttl`` (renewed up to
# the max TTL with token auth and nothing left to renew), ``refused`` (Vault refused the
# token or the login), ``past-max-ttl`` (Vault's 500 "past the max TTL, cannot renew"),
# ``failed`` (Vault unreachable, sealed, 5xx) or ``crashed`` (any other exception).
Outcome = Literal["done", "at-max-ttl", "refused", "past-max-ttl", "failed", "crashed"]


@dataclass(frozen=True)
class Token:
    """What the loop's decisions need to know of the current token."""

    remaining: float  # seconds until it expires
    renewable: bool
    can_relogin: bool  # AppRole or Kubernetes auth: a new login can replace it


@dataclass(frozen=True)
class Loop:
    """What the loop carries from one attempt to the next."""

    failures: int = 0  # attempts failed in a row
    need_login: bool = False  # only a new login can help (the token was refused)


@dataclass(frozen=True)
class Step:
    """What the loop does next: wait ``wait`` seconds, then ``action``; ``why`` says why
    a ``stop`` stops."""

    action: Action
    wait: float
    loop: Loop
    why: str = ""

    def forced(self) -> Step:
        """This step when Vault refused the token elsewhere meanwhile: log in."""
        return replace(self, action="login", loop=replace(self.loop, need_login=True))


def first_step(token: Token, full_ttl: int, *, min_interval: float) -> Step:
    """The loop's first step: wait two thirds of the TTL, or stop at once when the token
    never expires (TTL 0: a root or dev token) or nothing could replace it (token auth
    and a token that cannot be renewed). A wait is never under ``min_interval``."""
    if full_ttl == 0:
        return Step("stop", 0.0, Loop(), why="never-expires")
    if not token.renewable and not token.can_relogin:
        return Step("stop", 0.0, Loop(), why="not-renewable")
    return _planned(Loop(), token, token.remaining * 2 / 3, min_interval)


def next_step(loop: Loop, outcome: Outcome, token: Token, *, min_interval: float,
              max_retry: float) -> Step:
    """The step after an attempt that went as ``outcome``, ``token`` being the token as
    it is now. Success waits two thirds of the new TTL; failures retry with a back-off
    (1, 2, 4... up to ``max_retry`` s) but well before the token runs out, and turn to a
    new login when only that can help; with token auth a refused or maxed-out token
    ends the loop. A wait is never under ``min_interval``."""
    if outcome == "done":
        return _planned(Loop(), token, token.remaining * 2 / 3, min_interval)
    if outcome == "at-max-ttl":
        return Step("stop", 0.0, loop, why="max-ttl")
    failures = loop.failures + 1
    backoff = min(max_retry, 2.0 ** max(0, failures - 1))
    if outcome == "refused":
        if not token.can_relogin:
            return Step("stop", 0.0, replace(loop, failures=failures), why="refused")
        # The first refusal logs in at once; a refused login backs off.
        wait = 0.0 if not loop.need_login else backoff
        return _planned(Loop(failures, need_login=True), token, wait, min_interval)
    wait = min(backoff, max(min_interval, token.remaining / 3))
    need_login = loop.need_login
    if outcome == "past-max-ttl":
        if not token.can_relogin:
            return Step("stop", 0.0, replace(loop, failures=failures), why="max-ttl")
        need_login = True
        wait = 0.0 if failures == 1 else wait
    elif outcome == "failed" and token.can_relogin and token.remaining <= 0:
        need_login = True  # expired meanwhile: renewing cannot help any more
    return _planned(Loop(failures, need_login), token, wait, min_interval)


def _planned(loop: Loop, token: Token, wait: float, min_interval: float) -> Step:
    action: Action = "login" if loop.need_login or not token.renewable else "renew"
    return Step(action, max(min_interval, wait), loop)


class TokenRenewer:
    """Renew (or replace) the token of ``client`` until :meth:`stop` is called.

    ``client`` is the shared VaultClient whose token is kept alive; after a
    re-login its ``token`` is swapped in place, so every user of the client
    picks up the new one. ``login_result`` is what :func:`connect` returned for
    the current token; without it the renewer asks ``auth/token/lookup-self``.
    ``min_interval`` bounds how often Vault is asked; ``max_retry_interval``
    caps the back-off between failed attempts.

    Counters ``renewals`` and ``logins`` and ``last_error`` are for metrics and
    tests. Start and stop explicitly, or use it as a context manager.
    """

    def __init__(self, client: VaultClient, settings: VaultSettings, *,
                 login_result: LoginResult | None = None, min_interval: float = 0.2,
                 max_retry_interval: float = 30.0):
        self._client = client
        self._settings = settings
        self._initial = login_result
        self._min = min_interval
        self._max_retry = max_retry_interval
        self._stop = threading.Event()
        self._wake = threading.Event()  # stop() or refused(): end the current wait early
        self._force_login = False
        self._thread: threading.Thread | None = None
        self._login_client: VaultClient | None = None
        self.renewals = 0
        self.logins = 0
        self.last_error: VaultError | ConfigError | None = None
        # When the current token expires (time.monotonic()) and its full TTL.
        self._expires = 0.0
        self._full_ttl = 0
        self._renewable = False

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> TokenRenewer:
        """Start the background thread. Raises RuntimeError if already started."""
        if self._thread is not None:
            raise RuntimeError("TokenRenewer already started")
        self._stop.clear()
        self._wake.clear()
        self._thread = threading.Thread(target=self._run, name="vault-token-renewer",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to stop and wait for it (at most ``timeout`` seconds)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the Vault token renewer did not stop within %.1fs", timeout)
            else:
                self._thread = None
        if self._login_client is not None:
            self._login_client.close()
            self._login_client = None

    def refused(self) -> None:
        """Vault refused the broker's token elsewhere (revoked, expired early): with
        AppRole or Kubernetes auth, log in again now rather than at the next renewal."""
        if self._can_relogin:
            self._force_login = True
            self._wake.set()

    @property
    def running(self) -> bool:
        """True while the background thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> TokenRenewer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- the loop ----------------------------------------------------------------

    @property
    def _can_relogin(self) -> bool:
        return self._settings.auth_method in ("approle", "kubernetes")

    def _secrets(self) -> tuple[str, ...]:
        return (*self._settings.secrets(), self._client.token or "")

    def _remaining(self) -> float:
        return self._expires - time.monotonic()

    def _adopt(self, ttl: int, renewable: bool, full_ttl: int | None = None) -> None:
        self._expires = time.monotonic() + ttl
        self._renewable = renewable
        if full_ttl is not None:
            self._full_ttl = full_ttl

    def _lookup_self(self) -> None:
        data = self._client.request("GET", "auth/token/lookup-self", secrets=self._secrets(),
                                    action="look up the broker's token")["data"]
        ttl = int(data.get("ttl") or 0)
        if ttl == 0 and data.get("expire_time"):
            ttl = 1  # under a second left; 0 would read as "never expires"
        self._adopt(ttl, bool(data.get("renewable")),
                    full_ttl=int(data.get("creation_ttl") or ttl))

    def _renew(self) -> tuple[int, bool]:
        """Renew; return the granted TTL and whether Vault capped it at the max TTL."""
        resp = self._client.request("POST", "auth/token/renew-self", json={},
                                    secrets=self._secrets(), action="renew the broker's token")
        auth = resp["auth"]
        granted = int(auth.get("lease_duration") or 0)
        # Vault reports TTLs in whole seconds, so a cap can hide in the rounding;
        # its warning ("... exceeded the effective max_ttl ...") is exact.
        capped = granted < self._full_ttl or any(
            "max_ttl" in w for w in (resp.get("warnings") or []))
        self.renewals += 1
        self._adopt(granted, bool(auth.get("renewable")))
        log.debug("renewed the broker's Vault token: ttl %ss%s", granted,
                  " (capped at its max TTL)" if capped else "")
        return granted, capped

    def _relogin(self) -> None:
        if self._login_client is None:
            self._login_client = new_client(self._settings)
        result = login(self._settings, self._login_client)
        self._client.token = result.token
        self.logins += 1
        self._adopt(result.ttl, result.renewable, full_ttl=result.ttl)
        log.info("logged in to Vault again with %s auth: new token, ttl %ss",
                 result.method, result.ttl)

    def _wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if stop() was called meanwhile."""
        self._wake.wait(max(self._min, seconds))
        self._wake.clear()
        return self._stop.is_set()

    def _run(self) -> None:
        step = self._first_step()
        while step.action != "stop" and not self._wait(step.wait):
            if self._force_login:
                self._force_login = False
                step = step.forced()
            outcome, exc = self._attempt(step.action)
            step = next_step(step.loop, outcome, self._token(), min_interval=self._min,
                             max_retry=self._max_retry)
            self._report(outcome, step, exc)

    def _token(self) -> Token:
        return Token(self._remaining(), self._renewable, self._can_relogin)

    def _first_step(self) -> Step:
        """Learn the current token (from the login, or by asking Vault) and plan the first wait."""
        try:
            if self._initial is not None:
                self._adopt(self._initial.ttl, self._initial.renewable,
                            full_ttl=self._initial.ttl)
            else:
                self._lookup_self()
        except VaultError as exc:
            self.last_error = exc
            log.error("cannot start renewing the broker's Vault token: %s", exc)
            return Step("stop", 0.0, Loop(), why="lookup-failed")
        step = first_step(self._token(), self._full_ttl, min_interval=self._min)
        if step.why == "never-expires":
            log.info("the broker's Vault token never expires (TTL 0); nothing to renew")
        elif step.why == "not-renewable":
            log.warning("the broker's Vault token is not renewable and expires in %.0fs; with "
                        "token auth it cannot be replaced: give the broker a renewable token "
                        "or use AppRole/Kubernetes auth", self._remaining())
        return step

    def _attempt(self, action: Action) -> tuple[Outcome, Exception | None]:
        """Renew the token or log in again, as ``action`` says; return how it went."""
        try:
            if action == "login":
                self._relogin()
            else:
                granted, capped = self._renew()
                if capped and not self._near_max_ttl(granted):
                    return "at-max-ttl", None
            return "done", None
        except (VaultForbidden, VaultAuthError) as exc:
            # Revoked, expired, or a refused login: only a (new) login can help.
            self.last_error = exc
            return "refused", exc
        except (VaultError, ConfigError) as exc:
            # Vault unreachable, sealed, 5xx: retry well before the token runs out.
            self.last_error = exc
            # Vault answers 500 "past the max TTL, cannot renew" when its
            # whole-second TTLs hid the approaching max: a login is the fix.
            return ("past-max-ttl" if "past the max TTL" in str(exc) else "failed"), exc
        except Exception as exc:  # noqa: BLE001 - the thread must not die silently
            # An answer of an unexpected shape, a bug: keep trying, say what happened.
            return "crashed", exc

    def _report(self, outcome: Outcome, step: Step, exc: Exception | None) -> None:
        """Log what a failed attempt means: what comes next, or why the renewer ends."""
        if outcome == "refused" and step.action == "stop":
            log.error("the broker's Vault token can no longer be renewed: %s Give "
                      "the broker a new VAULT_TOKEN and restart it.", exc)
        elif outcome == "refused":
            log.warning("Vault refused the broker's token or login (%s); logging in "
                        "again in %.1fs", exc, step.wait)
        elif outcome == "past-max-ttl" and step.action == "stop":
            log.error("the broker's Vault token reached its max TTL; give the broker a "
                      "new VAULT_TOKEN and restart it, or use AppRole/Kubernetes auth")
        elif outcome in ("failed", "past-max-ttl"):
            log.warning("keeping the broker's Vault token alive failed (%s); retrying "
                        "in %.1fs", exc, step.wait)
        elif outcome == "crashed":
            # The type only: the text of a foreign exception is not scrubbed.
            log.error("unexpected %s while keeping the broker's Vault token alive; "
                      "retrying in %.1fs", type(exc).__name__, step.wait)

    def _near_max_ttl(self, granted: int) -> bool:
        """Vault capped the renewal: the token is within ``granted`` s of its max TTL.

        Logs in again when the auth method allows; returns False when the loop
        should end (token auth and nothing left to renew).
        """
        if self._can_relogin:
            self._relogin()
            return True
        if granted <= 0:
            log.error("the broker's Vault token reached its max TTL; give the broker a new "
                      "VAULT_TOKEN and restart it, or use AppRole/Kubernetes auth")
            return False
        log.warning("the broker's Vault token reaches its max TTL in %ss and cannot be renewed "
                    "past it (token auth): give the broker a new VAULT_TOKEN before then, or "
                    "use AppRole/Kubernetes auth", granted)
        self._full_ttl = granted
        return True
