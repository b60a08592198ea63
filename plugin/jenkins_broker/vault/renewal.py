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
"""

from __future__ import annotations

import logging
import threading
import time

from jenkins_broker.errors import ConfigError, VaultAuthError, VaultError, VaultForbidden
from jenkins_broker.vault.client import VaultClient
from jenkins_broker.vault.login import LoginResult, login, new_client
from jenkins_broker.vault.settings import VaultSettings

log = logging.getLogger("jenkins_broker.vault")


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
        try:
            if self._initial is not None:
                self._adopt(self._initial.ttl, self._initial.renewable,
                            full_ttl=self._initial.ttl)
            else:
                self._lookup_self()
        except VaultError as exc:
            self.last_error = exc
            log.error("cannot start renewing the broker's Vault token: %s", exc)
            return
        if self._full_ttl == 0:
            log.info("the broker's Vault token never expires (TTL 0); nothing to renew")
            return
        if not self._renewable and not self._can_relogin:
            log.warning("the broker's Vault token is not renewable and expires in %.0fs; with "
                        "token auth it cannot be replaced: give the broker a renewable token "
                        "or use AppRole/Kubernetes auth", self._remaining())
            return
        failures = 0
        need_login = False
        delay = self._remaining() * 2 / 3
        while not self._wait(delay):
            if self._force_login:
                self._force_login = False
                need_login = True
            try:
                if need_login or not self._renewable:
                    self._relogin()
                    need_login = False
                else:
                    granted, capped = self._renew()
                    if capped and not self._near_max_ttl(granted):
                        return
                failures = 0
                delay = self._remaining() * 2 / 3
            except (VaultForbidden, VaultAuthError) as exc:
                # Revoked, expired, or a refused login: only a (new) login can help.
                self.last_error = exc
                failures += 1
                if not self._can_relogin:
                    log.error("the broker's Vault token can no longer be renewed: %s Give "
                              "the broker a new VAULT_TOKEN and restart it.", exc)
                    return
                delay = 0 if not need_login else self._backoff(failures)
                need_login = True
                log.warning("Vault refused the broker's token or login (%s); logging in "
                            "again in %.1fs", exc, max(self._min, delay))
            except (VaultError, ConfigError) as exc:
                # Vault unreachable, sealed, 5xx: retry well before the token runs out.
                self.last_error = exc
                failures += 1
                delay = min(self._backoff(failures), max(self._min, self._remaining() / 3))
                # Vault answers 500 "past the max TTL, cannot renew" when its
                # whole-second TTLs hid the approaching max: a login is the fix.
                past_max = "past the max TTL" in str(exc)
                if past_max and not self._can_relogin:
                    log.error("the broker's Vault token reached its max TTL; give the broker a "
                              "new VAULT_TOKEN and restart it, or use AppRole/Kubernetes auth")
                    return
                if self._can_relogin and (past_max or self._remaining() <= 0):
                    need_login = True
                    delay = 0 if past_max and failures == 1 else delay
                log.warning("keeping the broker's Vault token alive failed (%s); retrying "
                            "in %.1fs", exc, max(self._min, delay))
            except Exception as exc:  # noqa: BLE001 - the thread must not die silently
                # An answer of an unexpected shape, a bug: keep trying, say what happened
                # (the type only: the text of a foreign exception is not scrubbed).
                failures += 1
                delay = min(self._backoff(failures), max(self._min, self._remaining() / 3))
                log.error("unexpected %s while keeping the broker's Vault token alive; "
                          "retrying in %.1fs", type(exc).__name__, max(self._min, delay))

    def _backoff(self, failures: int) -> float:
        return min(self._max_retry, 2.0 ** max(0, failures - 1))

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
