"""The Jenkins secrets engine: its paths, request routing, and its door to Jenkins.

:class:`JenkinsBackend` is what OpenBao's ``pb.Backend`` calls end up in
(through :mod:`.grpcbackend`). It knows nothing of gRPC: a request comes in as
a :class:`~.logical.Request`, an answer goes out as a
:class:`~.logical.Response` or a :class:`~.logical.LogicalError`.

Paths (one module each, as HashiCorp's engines do)::

    config                 path_config        the Jenkins connection and credential
    roles/, roles/<role>   path_roles         who gets tokens, how, for how long
    creds/<role>           path_creds         read = mint, under a new lease
    rotate-root            path_rotate_root   a credential only the engine knows
    (revoke, renew)        secret_token       the lease's end and extension

Operations OpenBao sends besides the paths' own: ``help`` (path-help),
``revoke`` and ``renew`` (leases), ``rollback`` (about once a minute, and before
the mount goes away): the periodic function, :mod:`.periodic`, which revokes the
tokens on the roles' Jenkins users that the engine cannot account for.

Errors are answered here, in one place: :data:`ERRORS`, the engine's error table. The
path modules raise what a failure is (an :mod:`jenkins_broker.errors` class, or a
:class:`~.logical.LogicalError` for the engine's own answers), never a status for
someone else's error.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from ..domain.jenkins_config import JenkinsConfig
from ..domain.roles import check_name
from ..errors import BrokerError, CallerError, ConfigError, JenkinsError, redact
from ..jenkins import Credential, JenkinsClient, Strategy, make_strategy
from ..jenkins.client import open_client
from . import path_config, path_creds, path_roles, path_rotate_root, secret_token
from .framework import Path
from .logical import (
    BadRequest,
    LogicalError,
    Request,
    Response,
    UnsupportedOperation,
    UnsupportedPath,
    UpstreamError,
)
from .minted import InFlight
from .periodic import Reconciler
from .storage import Storage, StorageError

#: The engine's error table: what a failure raised while answering a request becomes (the
#: first match wins; a :class:`LogicalError` carries its own status; anything else is a fault
#: the gRPC adapter answers 500). It differs from the HTTP API's (``web.errors.STATUS``) on
#: purpose:
#:
#: - ``ConfigError`` is 400 here, 503 there. The engine raises it for its mount's own state:
#:   no ``jenkins/config`` yet, a stored config or credential this version cannot use, a role
#:   whose strategy does not fit the stored credential. That state is written through the
#:   same API, by whoever runs the mount, so the answer is an error response (400) saying
#:   what to write. A 5xx would read as Vault's own fault (Vault answers 503 itself when
#:   sealed or a standby), and Vault's clients retry a 5xx in vain. The broker is a service
#:   of its own: its configuration is its deployment's, so one it cannot work with makes it
#:   unavailable, 503.
#: - Every Jenkins failure is 502 (``UpstreamError``): Jenkins, behind the engine, failed or
#:   refused; the caller may retry. The broker, an HTTP gateway, tells 503 and 504 apart.
#: - ``CallerError``: 400. The broker's 403, 404 and 429 subclasses (a suspended role, an
#:   unknown role, a quota) are not raised in plugin mode, where an unknown role is the
#:   engine's own ``NotFound`` and quotas are Vault's.
#: - Storage faults and any other ``BrokerError``: 500, a fault (OpenBao retries a revoke).
ERRORS: tuple[tuple[type[Exception], type[LogicalError]], ...] = (
    (CallerError, BadRequest),
    (ConfigError, BadRequest),
    (JenkinsError, UpstreamError),
    (BrokerError, LogicalError),
    (StorageError, LogicalError),
)


def logical_error(exc: BrokerError | StorageError) -> LogicalError:
    """The answer :data:`ERRORS` gives ``exc``, its message redacted."""
    answer = next(logical for cls, logical in ERRORS if isinstance(exc, cls))
    return answer(redact(str(exc), limit=1000))


#: Backend type as OpenBao counts them: 1 is a secrets engine ("logical"), 2 an auth method.
TYPE_LOGICAL = 1
WRITES = ("create", "update")

BACKEND_HELP = """\
The Jenkins secrets engine mints a new Jenkins API token for every read of
jenkins/creds/<role>, under a Vault lease: revoking the lease, or letting it
expire, revokes the token in Jenkins.

Configure the connection at jenkins/config, define roles at jenkins/roles/<role>,
then read jenkins/creds/<role>. jenkins/rotate-root replaces the stored
credential with a token only the engine knows.
"""


class JenkinsBackend:
    """The engine. Thread-safe: requests are handled in worker threads.

    ``client_options`` are passed to every :class:`JenkinsClient` (tests use it).
    """

    def __init__(self, *, client_options: dict[str, Any] | None = None,
                 logger: logging.Logger | None = None):
        self.client_options = dict(client_options or {})
        self.log = logger or logging.getLogger("jenkins_broker.vaultplugin")
        self.paths: list[Path] = [*path_config.paths(), *path_roles.paths(), *path_creds.paths(),
                                  *path_rotate_root.paths()]
        self._lock = threading.Lock()
        self._client: JenkinsClient | None = None
        self._config: path_config.PluginConfig | None = None
        self._strategies: dict[str, Strategy] = {}
        self.in_flight = InFlight()
        self.reconciler = Reconciler(self)

    # -- requests -------------------------------------------------------------------

    def handle(self, request: Request) -> Response | None:
        """Answer one request. Raises :class:`LogicalError` (the status is on the class)."""
        try:
            return self._dispatch(request)
        except (BrokerError, StorageError) as exc:
            raise logical_error(exc) from None

    def _dispatch(self, request: Request) -> Response | None:
        operation = request.operation
        if operation == "revoke":
            return secret_token.revoke(self, request)
        if operation == "renew":
            return secret_token.renew(self, request)
        if operation == "rollback":
            self.reconciler.run(request.storage)
            return None
        if operation == "help":
            return self.help(request.path)
        path, groups = self.route(request.path)
        if "name" in groups:
            check_name(groups["name"])  # the broker's name rule: a name it refuses is a 400 here too
        handler = path.operations.get(operation)
        if handler is None:
            raise UnsupportedOperation(f"{request.path}: unsupported operation {operation!r}")
        if operation in WRITES:
            path.check_fields(request)
        return handler(self, request, groups)

    def route(self, request_path: str) -> tuple[Path, dict[str, str]]:
        """The path serving ``request_path`` and its named groups; raises :class:`UnsupportedPath`."""
        for path in self.paths:
            groups = path.match(request_path)
            if groups is not None:
                return path, groups
        raise UnsupportedPath(f"unsupported path {request_path!r}")

    def initialize(self, storage: Storage, now: float | None = None) -> None:
        """OpenBao's ``Initialize`` (at mount and at each plugin start): note when this engine
        started keeping its ledger of minted tokens (:mod:`.migration`). Faults are logged."""
        self.reconciler.initialize(storage, now=now)

    def existence_check(self, request: Request) -> tuple[bool, bool]:
        """``(check_found, exists)`` for a write: tells OpenBao whether it is a create or an update."""
        try:
            path, groups = self.route(request.path)
        except UnsupportedPath:
            return False, False
        if path.exists is None:
            return False, False
        try:
            return True, path.exists(self, request, groups)
        except StorageError as exc:
            raise logical_error(exc) from None

    def help(self, request_path: str) -> Response:
        """``path-help``: the backend's help for the root, else the matching path's."""
        if request_path in ("", "/"):
            listing = "\n".join(f"    ^{p.pattern}$\n        {p.synopsis}" for p in self.paths)
            return Response(data={"help": f"{BACKEND_HELP}\n## PATHS\n\n{listing}\n"})
        path, _ = self.route(request_path)
        return Response(data={"help": path.help_text(request_path)})

    # -- Jenkins ----------------------------------------------------------------------

    def _connection(self, storage: Storage) -> tuple[JenkinsClient, path_config.PluginConfig]:
        with self._lock:
            if self._client is None or self._config is None:
                config = path_config.load_config(storage)
                if config is None:
                    raise ConfigError("Jenkins is not configured: write jenkins/config url=... "
                                      "username=... token=...")
                self._client, self._config = self.make_client(config.connection), config
            return self._client, self._config

    def client(self, storage: Storage) -> JenkinsClient:
        """The cached client of the configured Jenkins. Raises ``ConfigError`` if there is none."""
        return self._connection(storage)[0]

    def strategy(self, storage: Storage, strategy: str, credential: str) -> Strategy:
        """The minting strategy ``strategy`` bound to the stored credential ``credential``.

        Raises :class:`~jenkins_broker.errors.ConfigError` when Jenkins is not
        configured, the credential is unknown, or it does not fit the strategy.
        """
        client, config = self._connection(storage)
        if credential != path_config.ROOT_CREDENTIAL:
            raise ConfigError(f"no stored credential named {credential!r}; plugin mode has "
                              f"{path_config.ROOT_CREDENTIAL!r} only")
        with self._lock:
            found = self._strategies.get(strategy)
        if found is None:
            stored = config.credential
            found = make_strategy(strategy, client, Credential(stored.username, stored.secret, stored.kind))
            with self._lock:
                found = self._strategies.setdefault(strategy, found)
        return found

    def make_client(self, connection: JenkinsConfig) -> JenkinsClient:
        """A new client for ``connection`` (to check a config before storing it); close it after use."""
        return open_client(connection, **self.client_options)

    def forget_connection(self) -> None:
        """Drop the cached client and strategies (after the config changed)."""
        with self._lock:
            client, self._client, self._config = self._client, None, None
            self._strategies.clear()
        if client is not None:
            client.close()

    def invalidate(self, key: str) -> None:
        """OpenBao says a storage entry changed elsewhere."""
        if key == path_config.STORAGE_KEY:
            self.forget_connection()

    def cleanup(self) -> None:
        """The mount is going away (unmount, reload, shutdown): close connections."""
        self.forget_connection()
