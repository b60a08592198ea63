"""The composition root: builds the broker's parts from settings and runs their threads.

``Services`` holds what the HTTP layer and the command line use: the Vault
store, the Jenkins gateway, the caller authorizer, the lease manager and the
index it schedules into, the reaper (it revokes leases at their end, nothing
else), the mint fast path, and metrics. Every part gets its collaborators in its
constructor, here. Three background loops run once started: the reaper's, the
token watch's, and the maintenance loop of ``Services`` itself, which drives shared
rotation, the sweep of suspended roles, the credential checks and reconciliation,
apart from the reaper so that a Jenkins that hangs never delays a revocation.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Protocol, runtime_checkable

from .. import __version__, transport
from ..domain.credentials import CredentialGateway, CredentialHealth, CredentialStore
from ..domain.jenkins_config import JenkinsConfig, StoredCredential
from ..domain.leases import Backoff, CallerTokens, Gateway, LeaseManager, Store
from ..domain.quota import QuotaStore
from ..domain.reaper import IndexStore, LeaseSchedule, Reaper
from ..domain.reconcile import ReconcileGateway, Reconciler, ReconcileStore
from ..domain.shared_mode import SharedRotator, SharedStore
from ..domain.tokenwatch import TokenWatch
from ..errors import BrokerError, ConfigError, redact
from ..jenkins.gateway import ConnectionStore, JenkinsGateway
from ..observability import Metrics
from ..web.auth import Authorizer, FastPath
from ..web.forward import Upstream
from .runtime import FailureLog
from .settings import BrokerSettings

log = logging.getLogger(__name__)


@runtime_checkable
class BrokerStore(Store, IndexStore, ReconcileStore, SharedStore, CredentialStore, QuotaStore,
                  ConnectionStore, Protocol):
    """Every port of the Vault store that the broker's parts use
    (:class:`jenkins_broker.vault.store.VaultStore`)."""

    # The HTTP layer's own: administration writes and the health check.
    def put_jenkins_config(self, config: JenkinsConfig) -> None: ...
    def delete_credential(self, name: str) -> None: ...
    def get_credential_info(self, name: str) -> StoredCredential | None: ...
    def delete_role(self, name: str) -> None: ...
    def health(self) -> dict[str, Any]: ...
    def vault_health(self, query: str = "") -> tuple[int, dict[str, Any] | None]: ...
    def move_inline_secrets(self) -> list[str]: ...


@runtime_checkable
class BrokerGateway(Gateway, ReconcileGateway, CredentialGateway, Protocol):
    """Every port of the Jenkins side that the broker's parts use
    (:class:`jenkins_broker.jenkins.gateway.JenkinsGateway`)."""

    on_credential: Callable[[str, bool], None] | None

    def close(self) -> None: ...
    def reset(self) -> None: ...


@runtime_checkable
class CallerAuthority(Authorizer, CallerTokens, Protocol):
    """Vault's answers about the callers' tokens: the web layer's checks with the caller's
    token, and the lookups by accessor of the lease manager and the token watch
    (:class:`jenkins_broker.vault.authz.CallerAuthz`)."""


class Services:
    """The broker's running parts. ``start`` loads leases and starts the background work."""

    version = __version__

    def __init__(self, store: BrokerStore, gateway: BrokerGateway, authorizer: CallerAuthority, *,
                 settings: BrokerSettings | None = None, renewer: Any = None,
                 closers: tuple = (), upstream: Upstream | None = None):
        self.settings = s = settings or BrokerSettings()
        # The Vault that requests the broker does not own go to (broker mode is a Vault front).
        self.upstream = upstream
        self.store = store
        self.gateway = gateway
        self.authorizer = authorizer
        self.renewer = renewer
        self._closers = closers
        self.metrics = Metrics()
        self.fast_path = FastPath()
        # Each part gets its ports in its constructor, here and nowhere else. Two pairs call
        # each other: the lease manager tells the reconciler of a mint that may have reached
        # Jenkins and the rotator of a revoked shared token, while they settle and mint
        # through the manager; a lambda, read when called, closes each loop.
        self.index = LeaseSchedule()
        self.reconciler = Reconciler(store, gateway, metrics=self.metrics, grace=s.orphan_grace,
                                     index=self.index, engine_shares_users=s.engine_shares_users,
                                     on_gone=lambda record: self.manager.token_gone(record))
        self.manager = LeaseManager(
            store, gateway, metrics=self.metrics, scheduler=self.index,
            backoff=Backoff(base=s.retry_base, cap=s.retry_cap), claim_timeout=s.claim_timeout,
            # Leases follow their caller's Vault token: capped at renewal, revoked with it.
            caller_tokens=authorizer, on_uncertain_mint=self.reconciler.suspect,
            on_revoked=lambda record: self.rotator.replace_revoked(record))
        self.rotator = SharedRotator(self.manager, store)
        self.reaper = Reaper(self.manager, store, workers=s.reap_workers,
                             resync_interval=s.resync_interval)
        self.credentials = CredentialHealth(store, gateway, metrics=self.metrics,
                                            interval=s.credential_check_interval)
        gateway.on_credential = self.credentials.report
        self.tokenwatch = TokenWatch(self.manager, self.index, authorizer,
                                     interval=s.token_check_interval, rate=s.token_check_rate)
        self._next_reconcile = 0.0
        self._next_sweep = 0.0
        self._secrets_moved = False
        self._stopping = threading.Event()
        self._maintenance: threading.Thread | None = None

    def _maintain(self) -> None:
        # Its own thread, so a Jenkins that hangs during a rotation or a listing never
        # delays the reaper, whose revocations are the security boundary. A failure (Vault
        # down) is one warning line, repeated with backoff, and retried with backoff.
        failures = FailureLog(log, "maintenance (shared rotation, reconciliation, credential checks)")
        while not self._stopping.is_set():
            try:
                wait = min(max(self._tick(), 0.05), 1.0)
                failures.succeeded()
            except Exception as exc:  # keep maintaining whatever happens; it is logged
                wait = failures.failed(exc)
            self._stopping.wait(wait)

    def _tick(self) -> float:
        """Periodic work besides reaping: shared rotation, the tokens of failed mints,
        and now and then a full reconciliation. Returns seconds until it is due again."""
        wait = self.rotator.tick()
        now = time.time()
        if not self._secrets_moved:
            self._move_inline_secrets()  # start() could not (Vault down): until it is done
        if now >= self._next_sweep:
            self._next_sweep = now + 5.0
            _attempt("revoking the leases of suspended roles", self.manager.sweep_suspended)
        if now >= self.credentials.next_check:
            _attempt("checking the stored credentials", self.credentials.check)
        if self.reconciler.has_suspects and now >= self.reconciler.next_suspect_check:
            _attempt("checking failed mints", self.reconciler.run_suspects)
        if now >= self._next_reconcile and self.reaper.loaded.is_set():
            # After the index is loaded: reconciliation reads lease records from it.
            self._next_reconcile = now + self.settings.reconcile_interval
            counts = _attempt("reconciliation", lambda: self.reconciler.run(
                should_stop=self._stopping.is_set))
            if counts and counts["orphans"]:
                log.warning("reconciliation: %s", counts)
        return wait

    def _move_inline_secrets(self) -> None:
        """Upgrading from a broker that kept credential secrets inline: move them, once."""
        moved = _attempt("moving stored secrets to secrets/", self.store.move_inline_secrets)
        if moved is not None:
            self._secrets_moved = True
            if moved:
                log.warning("moved the secrets of credentials %s to their own path "
                            "(secrets/<name>): no administrator's policy reads them now",
                            ", ".join(moved))

    def start(self) -> "Services":
        """Move inline secrets (once), start renewing the broker's Vault token, load every
        lease and start reaping."""
        self._move_inline_secrets()
        if self.renewer is not None:
            self.renewer.start()
        self.reaper.start()
        self.tokenwatch.start()
        self._stopping.clear()
        self._maintenance = threading.Thread(target=self._maintain, name="maintenance", daemon=True)
        self._maintenance.start()
        return self

    def stop(self) -> None:
        """Stop background work (the maintenance thread, the token watch, the reaper, the
        token renewer), then close what holds threads or connections: the gateway, the
        mint fast path's pool, and the ``closers`` (the caller authorizer's session)."""
        self._stopping.set()
        if self._maintenance is not None:
            self._maintenance.join(30)
            self._maintenance = None
        self.tokenwatch.stop()
        self.reaper.stop()
        if self.renewer is not None:
            self.renewer.stop()
        self.gateway.close()
        self.fast_path.close()
        if self.upstream is not None:
            self.upstream.close()
        for close in self._closers:
            close()


def _attempt(what: str, work: Callable[[], Any]) -> Any:
    """``work()``, or None with a warning if Vault or Jenkins failed: it runs again later."""
    try:
        return work()
    except BrokerError as exc:
        log.warning("%s failed, will retry: %s", what, redact(str(exc)))
        return None


def build_services(settings: BrokerSettings, vault_settings: Any) -> Services:
    """Log in to Vault and build every part; nothing is started yet.

    Raises ``ConfigError`` or ``VaultError`` with a message naming what to fix.
    """
    from ..vault.authz import CallerAuthz
    from ..vault.login import connect
    from ..vault.renewal import TokenRenewer
    from ..vault.store import VaultStore

    client, login = connect(vault_settings)
    renewer = TokenRenewer(client, vault_settings, login_result=login)
    store = VaultStore(client, kv_mount=settings.kv_mount, shared_mount=settings.shared_mount,
                       cache_seconds=settings.cache_seconds, on_forbidden=renewer.refused)
    authorizer = CallerAuthz(vault_settings, broker_token=lambda: client.token, client=client)
    try:
        session = transport.Session(vault_settings.addr, timeout=vault_settings.timeout,
                                    verify=vault_settings.verify,
                                    cert=vault_settings.cert or None, pool_size=settings.threads)
    except transport.TransportError as exc:
        raise ConfigError(f"Vault TLS settings cannot be used: {exc.reason}") from None
    upstream = Upstream(session, namespace=vault_settings.namespace or "",
                        max_body=settings.forward_max_body, timeout=settings.forward_timeout)
    return Services(store, JenkinsGateway(store), authorizer, settings=settings, renewer=renewer,
                    closers=(authorizer.close, client.close), upstream=upstream)
