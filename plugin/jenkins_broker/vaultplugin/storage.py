"""The mount's storage: what path handlers keep in OpenBao.

OpenBao serves a ``pb.Storage`` gRPC service on the connection the plugin dials
back through go-plugin's GRPCBroker (:mod:`.grpc_broker`). Handlers run in worker threads
and use the blocking :class:`Storage` interface; :class:`BrokeredStorage` forwards
each call to the asyncio loop that owns the gRPC channel. Tests use
:class:`MemoryStorage`.

Keys used by the engine::

    config              the Jenkins connection and its credential (JSON)
    roles/<name>        one role each (JSON)
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any, Protocol

from .proto import backend_pb2 as pb

#: How long one storage call may take before the request fails.
CALL_TIMEOUT = 30.0


class StorageError(Exception):
    """OpenBao's storage answered with an error, or could not be reached."""


class Storage(Protocol):
    """Blocking key-value storage with prefix listing (Vault's logical.Storage)."""

    def get(self, key: str) -> bytes | None: ...
    def put(self, key: str, value: bytes) -> None: ...
    def delete(self, key: str) -> None: ...
    def list(self, prefix: str) -> list[str]: ...


def get_json(storage: Storage, key: str) -> dict[str, Any] | None:
    """The JSON object stored at ``key``, or ``None``. Raises :class:`StorageError`."""
    raw = storage.get(key)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise StorageError(f"storage entry {key!r} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise StorageError(f"storage entry {key!r} is not a JSON object")
    return value


def put_json(storage: Storage, key: str, value: dict[str, Any]) -> None:
    """Store ``value`` as JSON at ``key``. Raises :class:`StorageError`."""
    storage.put(key, json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8"))


class MemoryStorage:
    """Storage in a dict, with Vault's listing semantics (one level, folders end in ``/``)."""

    def __init__(self) -> None:
        self.entries: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self.entries.get(key)

    def put(self, key: str, value: bytes) -> None:
        with self._lock:
            self.entries[key] = bytes(value)

    def delete(self, key: str) -> None:
        with self._lock:
            self.entries.pop(key, None)

    def list(self, prefix: str) -> list[str]:
        with self._lock:
            keys = [k[len(prefix):] for k in self.entries if k.startswith(prefix)]
        found = {k.split("/", 1)[0] + "/" if "/" in k else k for k in keys}
        return sorted(found)


class BrokeredStorage:
    """Storage calls forwarded to OpenBao over the brokered gRPC channel.

    ``stub`` is a ``pb.Storage`` stub bound to that channel and ``loop`` the
    event loop running it; the methods block the calling (worker) thread and
    must not be called from the loop's own thread.
    """

    def __init__(self, stub: Any, loop: asyncio.AbstractEventLoop, *, timeout: float = CALL_TIMEOUT):
        self._stub = stub
        self._loop = loop
        self._timeout = timeout

    def _call(self, method: str, message: Any) -> Any:
        future = asyncio.run_coroutine_threadsafe(getattr(self._stub, method)(message, timeout=self._timeout),
                                                  self._loop)
        try:
            reply = future.result(self._timeout + 1)
        except Exception as exc:  # grpclib, ssl and OS errors alike: the storage is unusable now
            future.cancel()
            raise StorageError(f"OpenBao storage {method} failed: {type(exc).__name__}: {exc}") from None
        if getattr(reply, "err", ""):
            raise StorageError(f"OpenBao storage {method} failed: {reply.err}")
        return reply

    def get(self, key: str) -> bytes | None:
        reply = self._call("Get", pb.StorageGetArgs(key=key))
        return reply.entry.value if reply.HasField("entry") else None

    def put(self, key: str, value: bytes) -> None:
        self._call("Put", pb.StoragePutArgs(entry=pb.StorageEntry(key=key, value=value)))

    def delete(self, key: str) -> None:
        self._call("Delete", pb.StorageDeleteArgs(key=key))

    def list(self, prefix: str) -> list[str]:
        return list(self._call("List", pb.StorageListArgs(prefix=prefix)).keys)
