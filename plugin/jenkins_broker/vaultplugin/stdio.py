"""Where the plugin's output goes: stderr lines in hclog's JSON, and go-plugin's GRPCStdio.

OpenBao reads the plugin's stderr line by line and logs each JSON line
(``@level``, ``@message``, ``@timestamp``, other keys as fields) at its level
in its own log, named after the plugin; other lines are logged at debug.
:class:`HclogHandler` writes Python's log records that way; a record logged with
``extra={"hclog": {...}}`` carries those keys as hclog fields (structured lines
such as the periodic reconciliation's ``foreign-token-revoked``).

``plugin.GRPCStdio/StreamStdio`` is go-plugin's way to forward a plugin's
stdout/stderr when they were redirected; this plugin writes stderr directly,
so the stream stays open and empty until the plugin stops (without the
service OpenBao logs a warning).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from datetime import datetime, timezone
from typing import TextIO

from ..errors import redact
from .proto import go_plugin_grpc

_LEVELS = ((logging.ERROR, "error"), (logging.WARNING, "warn"), (logging.INFO, "info"), (logging.DEBUG, "debug"))


class HclogHandler(logging.Handler):
    """Write records as hclog JSON lines; messages are redacted (no token shape gets through)."""

    def __init__(self, stream: TextIO | None = None):
        super().__init__()
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level = next(name for number, name in _LEVELS if record.levelno >= number) \
                if record.levelno >= logging.DEBUG else "trace"
            message = redact(record.getMessage(), limit=4000)
            line = {"@level": level, "@message": message, "@module": record.name,
                    "@timestamp": datetime.fromtimestamp(record.created, timezone.utc).isoformat()}
            for key, value in (getattr(record, "hclog", None) or {}).items():
                if isinstance(key, str) and key and not key.startswith("@") and key not in line:
                    line[key] = field_value(value)
            if record.exc_info and record.exc_info[1] is not None:
                line["error"] = redact(f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}")
            stream = self.stream or sys.stderr
            stream.write(json.dumps(line) + "\n")
            stream.flush()
        except Exception:  # noqa: BLE001 - logging must never take the plugin down
            self.handleError(record)


def field_value(value):
    """An hclog field's value: numbers, booleans and None as they are, anything else as
    redacted text (a token name is chosen by whoever made the token)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return redact(str(value), limit=500)


def setup_logging(level: int = logging.INFO) -> None:
    """Send the ``jenkins_broker`` loggers to stderr as hclog JSON."""
    logger = logging.getLogger("jenkins_broker")
    logger.handlers[:] = [HclogHandler()]
    logger.setLevel(level)
    logger.propagate = False


class Stdio(go_plugin_grpc.GRPCStdioBase):
    """``StreamStdio``: open until ``stopping`` is set, sends nothing."""

    def __init__(self, stopping: asyncio.Event):
        self.stopping = stopping

    async def StreamStdio(self, stream) -> None:
        await stream.recv_message()
        await self.stopping.wait()
