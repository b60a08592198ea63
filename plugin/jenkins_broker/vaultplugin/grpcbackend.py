"""``pb.Backend``: OpenBao's calls, translated to and from the engine (:mod:`.backend`).

OpenBao calls, at mount: ``Setup`` (with the broker id of its Storage
service), ``Type``, ``SpecialPaths``, ``Initialize`` (also at each plugin
start; the engine notes when it started keeping its ledger, :mod:`.migration`);
then for each request ``HandleRequest`` (and ``HandleExistenceCheck`` first for
writes); ``Cleanup`` at unmount. The periodic function has no call of its own:
it is the ``rollback`` request that OpenBao sends about once a minute. Setup
only remembers the broker id: during OpenBao's type detection the brokered
Storage never comes, so it is dialled on first use (:mod:`.broker`).

Handlers run in a thread pool (the Jenkins client blocks); their storage calls
come back to this loop through :class:`~.storage.BrokeredStorage`. Errors go
back as ``ProtoError`` types OpenBao maps to HTTP: 4 → 400, 6 → 404, 5 → 405,
3 with a code → that status, 2 → 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from ..errors import redact
from .backend import TYPE_LOGICAL, JenkinsBackend
from .grpc_broker import Broker
from .logical import (
    NANOSECONDS,
    BadRequest,
    LeaseOptions,
    LogicalError,
    Request,
    Response,
    Secret,
    UnsupportedOperation,
    UnsupportedPath,
)
from .proto import backend_grpc
from .proto import backend_pb2 as pb
from .storage import BrokeredStorage, Storage

log = logging.getLogger(__name__)

ERR_INTERNAL = 2
ERR_CODED = 3
ERR_BAD_REQUEST = 4
ERR_UNSUPPORTED_OPERATION = 5
ERR_UNSUPPORTED_PATH = 6


def proto_error(exc: BaseException) -> pb.ProtoError:
    """The ``ProtoError`` for an exception raised by the engine."""
    if isinstance(exc, UnsupportedPath):
        return pb.ProtoError(err_type=ERR_UNSUPPORTED_PATH, err_msg=str(exc))
    if isinstance(exc, UnsupportedOperation):
        return pb.ProtoError(err_type=ERR_UNSUPPORTED_OPERATION, err_msg=str(exc))
    if isinstance(exc, BadRequest):
        return pb.ProtoError(err_type=ERR_BAD_REQUEST, err_msg=str(exc))
    if isinstance(exc, LogicalError) and exc.status != 500:
        return pb.ProtoError(err_type=ERR_CODED, err_code=exc.status, err_msg=str(exc))
    message = str(exc) if isinstance(exc, LogicalError) else f"internal error: {type(exc).__name__}: {exc}"
    return pb.ProtoError(err_type=ERR_INTERNAL, err_msg=redact(message, limit=1000))


def _json_object(text: str, what: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise BadRequest(f"{what} is not JSON") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"{what} is not a JSON object")
    return value


def to_request(message: pb.Request, storage: Storage) -> Request:
    """The engine's request for OpenBao's ``pb.Request``."""
    secret = None
    if message.HasField("secret"):
        options = message.secret.lease_options
        issue = options.issue_time.seconds + options.issue_time.nanos / NANOSECONDS \
            if options.HasField("issue_time") else None
        secret = Secret(lease=LeaseOptions(ttl=options.TTL // NANOSECONDS, max_ttl=options.MaxTTL // NANOSECONDS,
                                           renewable=options.renewable,
                                           increment=options.increment // NANOSECONDS, issue_time=issue),
                        internal_data=_json_object(message.secret.internal_data, "the secret's internal data"),
                        lease_id=message.secret.lease_id)
    return Request(operation=message.operation, path=message.path, storage=storage,
                   data=_json_object(message.data, "the request data"), secret=secret,
                   display_name=message.display_name, mount_point=message.mount_point,
                   entity_id=message.entity_id, id=message.id)


def to_proto_response(response: Response) -> pb.Response:
    """OpenBao's ``pb.Response`` for the engine's answer."""
    out = pb.Response(data=json.dumps(response.data), warnings=list(response.warnings))
    if response.secret is not None:
        lease = response.secret.lease
        options = pb.LeaseOptions(TTL=int(lease.ttl) * NANOSECONDS, MaxTTL=int(lease.max_ttl) * NANOSECONDS,
                                  renewable=lease.renewable, increment=int(lease.increment) * NANOSECONDS)
        if lease.issue_time is not None:
            stamp = Timestamp()
            stamp.seconds = int(lease.issue_time)
            stamp.nanos = int((lease.issue_time - int(lease.issue_time)) * NANOSECONDS)
            options.issue_time.CopyFrom(stamp)
        out.secret.CopyFrom(pb.Secret(lease_options=options,
                                      internal_data=json.dumps(response.secret.internal_data)))
    return out


class BackendService(backend_grpc.BackendBase):
    """Serves ``pb.Backend`` for one engine instance (this plugin is not multiplexed)."""

    def __init__(self, engine: JenkinsBackend, broker: Broker, *, workers: int = 16):
        self.engine = engine
        self.broker = broker
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="request")
        self.config: dict[str, str] = {}
        self._broker_id: int | None = None
        self._storage: Storage | None = None
        self._dialing = asyncio.Lock()

    async def storage(self) -> Storage:
        """The mount's storage, dialled back through the broker on first use."""
        if self._storage is not None:
            return self._storage
        async with self._dialing:
            if self._storage is None:
                if self._broker_id is None:
                    raise LogicalError("OpenBao called the engine before Setup")
                channel = await self.broker.dial(self._broker_id)
                self._storage = BrokeredStorage(backend_grpc.StorageStub(channel), asyncio.get_running_loop())
        return self._storage

    async def _run(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self.pool, function, *args)

    async def Setup(self, stream) -> None:
        args = await stream.recv_message()
        self._broker_id = args.broker_id
        self.config = dict(args.Config)
        log.debug("setup: broker id %d, plugin %s", args.broker_id, self.config.get("plugin_name", "?"))
        await stream.send_message(pb.SetupReply())

    async def Type(self, stream) -> None:
        await stream.recv_message()
        await stream.send_message(pb.TypeReply(type=TYPE_LOGICAL))

    async def SpecialPaths(self, stream) -> None:
        await stream.recv_message()
        # The config holds the Jenkins credential: seal-wrap it where the seal can.
        await stream.send_message(pb.SpecialPathsReply(paths=pb.Paths(seal_wrap_storage=["config"])))

    async def Initialize(self, stream) -> None:
        await stream.recv_message()
        reply = pb.InitializeReply()
        try:
            storage = await self.storage()
        except Exception as exc:  # noqa: BLE001 - reported to OpenBao, which refuses the mount
            reply.err.CopyFrom(proto_error(exc))
        else:
            await self._run(self.engine.initialize, storage)  # logs its faults; never refuses the mount
        await stream.send_message(reply)

    async def HandleRequest(self, stream) -> None:
        args = await stream.recv_message()
        reply = pb.HandleRequestReply()
        operation, path = args.request.operation, args.request.path
        try:
            # "rollback" (about once a minute) is the engine's periodic function.
            request = to_request(args.request, await self.storage())
            response = await self._run(self.engine.handle, request)
            if response is not None:
                reply.response.CopyFrom(to_proto_response(response))
        except Exception as exc:  # noqa: BLE001 - every failure becomes an error reply
            if not isinstance(exc, (LogicalError,)):
                log.error("%s %s failed", operation, path, exc_info=exc)
            elif operation in ("revoke", "renew") or getattr(exc, "status", 500) >= 500:
                log.warning("%s %s: %s", operation, path, exc)
            reply.err.CopyFrom(proto_error(exc))
        await stream.send_message(reply)

    async def HandleExistenceCheck(self, stream) -> None:
        args = await stream.recv_message()
        reply = pb.HandleExistenceCheckReply()
        try:
            request = to_request(args.request, await self.storage())
            reply.check_found, reply.exists = await self._run(self.engine.existence_check, request)
        except Exception as exc:  # noqa: BLE001
            reply.err.CopyFrom(proto_error(exc))
        await stream.send_message(reply)

    async def Cleanup(self, stream) -> None:
        await stream.recv_message()
        await self._run(self.engine.cleanup)
        await stream.send_message(pb.Empty())

    async def InvalidateKey(self, stream) -> None:
        args = await stream.recv_message()
        self.engine.invalidate(args.key)
        await stream.send_message(pb.Empty())

    def close(self) -> None:
        """Stop the worker threads (requests in flight finish first)."""
        self.pool.shutdown(wait=False, cancel_futures=True)
