"""The fake's Groovy script console: one long-lived JVM per fake, scripts run for real.

:class:`GroovyConsole` starts ``groovy/ConsoleServer.groovy`` in a JVM (found by
:mod:`.groovyruntime`) on the first script, and keeps it until the fake stops or
"restarts" (a Jenkins restart ends its JVM too). The JVM compiles the Jenkins-shaped
classes of the emulated version once, then runs each script as Jenkins' console does.

The protocol (one JSON document per line on the JVM's stdin and stdout) is described in
``groovy/fakejenkins/Bridge.groovy``. Each script runs in a JVM thread of its own; while
it runs, its calls on users and tokens come back here and are answered by the thread
that serves its HTTP request, each one under the state's lock (:mod:`.bridge`). One
reader thread takes every line the JVM writes and hands it to the request it belongs
to, so any number of scripts may run at once, and the fake serves other requests
meanwhile (a script does not hold the state's lock while it runs).

Compiling the console and the classes is most of a JVM's start: the first start for a
version line writes them, compiled, to a cache (:func:`.groovyruntime.cache_root`), and
later ones run from it; a cache that fails to start is dropped and the start retried
from the sources.

The JVM is stopped by its pid (terminate, then kill after a deadline) when the console
stops, and exits by itself when its input closes, so it cannot outlive the fake's
process. Nothing here logs what crosses the pipe: token values do.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

from .bridge import Bridge, Caller, JavaError
from .groovyruntime import (
    SERVER_SCRIPT,
    GroovyRuntime,
    GroovyUnavailable,
    cache_key,
    cache_root,
    find_runtime,
    sources,
)
from .state import JenkinsState

log = logging.getLogger(__name__)

START_DEADLINE = 60.0     # a cold JVM on a loaded machine; it is ready in about a second
STOP_DEADLINE = 5.0
_EOF = {"op": "eof"}


def _publish(fresh: Path, final: Path) -> None:
    """Make ``fresh`` the cache ``final`` if the JVM completed it (another start may have
    been first: then ``fresh`` goes)."""
    if (fresh / ".complete").is_file():
        try:
            os.rename(fresh, final)
            return
        except OSError:
            pass
    shutil.rmtree(fresh, ignore_errors=True)


class GroovyConsoleError(RuntimeError):
    """The JVM did not start, or ended while a script ran."""


class GroovyConsole:
    """The script console of one fake Jenkins; thread-safe."""

    def __init__(self, state: JenkinsState, *, runtime: GroovyRuntime | None = None):
        self.state = state
        self.bridge = Bridge(state)
        self._runtime = runtime
        self._control = threading.Lock()        # start and stop, one at a time
        self._closed = False
        self._write = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._threads: list[threading.Thread] = []
        self._waiting: dict[int, queue.Queue] = {}
        self._ids = itertools.count(1)
        self._ready = threading.Event()
        self._stderr: deque[str] = deque(maxlen=40)
        self.info: dict = {}
        self.starts = 0                          # JVMs started so far (tests read it)

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return None if proc is None or proc.poll() is not None else proc.pid

    @property
    def running(self) -> bool:
        return self.pid is not None and bool(self.info)

    # -- lifetime -----------------------------------------------------------------------

    def open(self) -> None:
        """Allow :meth:`start` again after ``stop(close=True)``."""
        with self._control:
            self._closed = False

    def start(self) -> None:
        """Start the JVM unless it runs; :class:`GroovyUnavailable` or
        :class:`GroovyConsoleError` if it cannot."""
        with self._control:
            if self.running:
                return
            if self._closed:
                raise GroovyConsoleError("the fake Jenkins has stopped")
            self._stop_locked()
            runtime = self._runtime or find_runtime()
            rendered = sources(self.state.features)
            final, compiled, fresh = self._cache(runtime, rendered)
            try:
                try:
                    self._launch(runtime, rendered, compiled, fresh)
                except GroovyConsoleError:
                    if compiled is None:
                        raise
                    shutil.rmtree(compiled, ignore_errors=True)   # a cache that fails is dropped
                    final, compiled, fresh = self._cache(runtime, rendered)
                    self._launch(runtime, rendered, compiled, fresh)
            finally:
                if fresh is not None and final is not None:
                    _publish(fresh, final)

    @staticmethod
    def _cache(runtime: GroovyRuntime, rendered: dict[str, str]):
        """(the cache directory, it if complete, a new directory to fill), Nones if no cache."""
        root = cache_root()
        if root is None:
            return None, None, None
        final = root / cache_key(runtime, rendered)
        if (final / ".complete").is_file():
            return final, final, None
        try:
            root.mkdir(parents=True, exist_ok=True, mode=0o700)
            fresh = Path(tempfile.mkdtemp(prefix=final.name + ".", dir=root))
        except OSError:
            return None, None, None
        return final, None, fresh

    def _launch(self, runtime: GroovyRuntime, rendered: dict[str, str], compiled: Path | None,
                fresh: Path | None) -> None:
        began = time.monotonic()
        try:
            self._proc = subprocess.Popen(runtime.command(compiled), stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          close_fds=True)
        except OSError as exc:
            raise GroovyUnavailable(f"cannot start {runtime.java}: {exc}") from None
        self.starts += 1
        self.info = {}
        self._ready.clear()
        self._stderr.clear()
        proc = self._proc
        self._threads = [
            threading.Thread(target=self._read, args=(proc,), daemon=True,
                             name=f"groovy-console-{proc.pid}"),
            threading.Thread(target=self._drain, args=(proc,), daemon=True,
                             name=f"groovy-console-err-{proc.pid}"),
        ]
        for thread in self._threads:
            thread.start()
        init: dict = {"op": "init", "version": self.state.features.version}
        if compiled is not None:
            init["compiled"] = True
        else:
            init["sources"] = rendered
            if fresh is not None:
                init.update(cacheTo=str(fresh), serverSource=str(SERVER_SCRIPT))
        try:
            self._send(init)
            if not self._ready.wait(START_DEADLINE) or not self.info:
                raise GroovyConsoleError(
                    "the fake Jenkins' Groovy console did not start: "
                    + (" | ".join(self._stderr) or "no output"))
        except BaseException:
            self._stop_locked()
            raise
        self.info = dict(self.info, start_seconds=round(time.monotonic() - began, 3))
        log.debug("fake Jenkins Groovy console pid %s ready: %s", proc.pid, self.info)

    def stop(self, *, close: bool = False) -> None:
        """Stop the JVM (by its pid) and join its threads; scripts still running fail.
        ``close``: no JVM starts again until :meth:`open` (the fake has stopped)."""
        with self._control:
            self._closed = self._closed or close
            self._stop_locked()

    def _stop_locked(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
            except OSError:
                pass
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(STOP_DEADLINE)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(STOP_DEADLINE)
        for thread in self._threads:
            thread.join(STOP_DEADLINE)
        self._threads = []
        self._ready.clear()
        self.info = {}
        for waiting in list(self._waiting.values()):
            waiting.put(_EOF)

    # -- the pipe -----------------------------------------------------------------------

    def _send(self, message: dict) -> None:
        line = (json.dumps(message, ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii")
        proc = self._proc
        with self._write:
            if proc is None or proc.stdin is None:
                raise GroovyConsoleError("the fake Jenkins' Groovy console is not running")
            try:
                proc.stdin.write(line)
                proc.stdin.flush()
            except (OSError, ValueError):
                raise GroovyConsoleError("the fake Jenkins' Groovy console has stopped") from None

    def _read(self, proc: subprocess.Popen) -> None:
        """Hand each line of the JVM to the request it belongs to; at the end, wake them all."""
        assert proc.stdout is not None
        for raw in proc.stdout:
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            if message.get("op") == "ready":
                self.info = {k: v for k, v in message.items() if k != "op"}
                self._ready.set()
                continue
            waiting = self._waiting.get(message.get("id"))
            if waiting is not None:
                waiting.put(message)
        self._ready.set()            # a JVM that died before it was ready wakes start()
        for waiting in list(self._waiting.values()):
            waiting.put(_EOF)

    def _drain(self, proc: subprocess.Popen) -> None:
        """Keep the last lines of the JVM's stderr (its log) to explain a failed start."""
        assert proc.stderr is not None
        for raw in proc.stderr:
            self._stderr.append(raw.decode("utf-8", "replace").rstrip())

    # -- scripts --------------------------------------------------------------------------

    def run(self, script: str, caller: Caller, *, root_url: str = "", fault=None) -> str:
        """What ``/scriptText`` prints for ``script``, run as ``caller``.

        ``fault`` (the fake's ``script_fault`` when it is neither ``"after"`` nor false)
        makes the script throw before it starts. Raises :class:`GroovyUnavailable` or
        :class:`GroovyConsoleError`.
        """
        self.start()
        number = next(self._ids)
        waiting: queue.Queue = queue.Queue()
        self._waiting[number] = waiting
        try:
            today = self.state.today_override
            self._send({"op": "run", "id": number, "script": script, "rootUrl": root_url,
                        "today": None if today is None else today.isoformat(),
                        "auth": {"id": caller.user_id, "admin": caller.admin}, "fault": fault})
            while True:
                message = waiting.get()
                if message is _EOF:
                    raise GroovyConsoleError("the fake Jenkins' Groovy console stopped while the "
                                             "script ran")
                if message.get("op") == "done":
                    return str(message.get("output", ""))
                if message.get("op") == "call":
                    self._send(self._answer(caller, message))
        finally:
            self._waiting.pop(number, None)

    def _answer(self, caller: Caller, message: dict) -> dict:
        reply: dict = {"op": "reply", "call": message.get("call")}
        try:
            reply["value"] = self.bridge.call(caller, str(message.get("method")),
                                              message.get("args") or {})
        except JavaError as exc:
            reply["error"] = {"class": exc.java_class, "message": exc.message}
        except Exception as exc:      # a bug here must not leave the script waiting forever
            log.exception("fake Jenkins: the Groovy call %s failed", message.get("method"))
            reply["error"] = {"class": "java.lang.IllegalStateException",
                              "message": f"fake Jenkins failed: {type(exc).__name__}"}
        return reply
