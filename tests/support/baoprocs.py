"""``bao agent`` and ``bao proxy`` as processes a test starts and always stops.

:class:`BaoProcess` writes its configuration to a file in the test's directory, starts
``bao <kind> -config FILE`` in its own session (stdout and stderr to a log file beside it),
and is stopped by its pid (:func:`~tests.support.processes.stop_process`) when the ``with``
block ends, failed or not. :meth:`BaoProcess.tail` is the end of its log with anything
token-shaped masked, for assertion messages; :meth:`BaoProcess.wait_for` polls a condition
against a deadline and fails, with that tail, as soon as the process has exited.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Callable, TypeVar

from jenkins_broker.vault import find_bao_binary
from tests.support.fronts import redact
from tests.support.processes import stop_process
from tests.support.waiting import WaitTimedOut, wait_for

T = TypeVar("T")


def hcl(value: str | Path) -> str:
    """``value`` as an HCL string literal (JSON's quoting is HCL's for these strings)."""
    return json.dumps(str(value))


# -- configuration stanzas ---------------------------------------------------------------------

def vault_stanza(addr: str) -> str:
    return f"vault {{\n  address = {hcl(addr)}\n}}\n"


def token_file_auth(token_path: Path) -> str:
    """auto_auth with the ``token_file`` method; ``exit_on_err``: a login refused ends the
    process at once (the test sees it exit and reads why in its log) instead of retrying."""
    return ("auto_auth {\n  method \"token_file\" {\n    exit_on_err = true\n"
            f"    config = {{\n      token_file_path = {hcl(token_path)}\n    }}\n  }}\n}}\n")


def approle_auth(role_id_path: Path, secret_id_path: Path) -> str:
    """auto_auth with the ``approle`` method (role_id and secret_id read from files)."""
    return ("auto_auth {\n  method \"approle\" {\n    exit_on_err = true\n    config = {\n"
            f"      role_id_file_path = {hcl(role_id_path)}\n"
            f"      secret_id_file_path = {hcl(secret_id_path)}\n"
            "      remove_secret_id_file_after_reading = false\n    }\n  }\n}\n")


def secret_template(path: str, field: str) -> str:
    """The consul-template text rendering ``field`` (``.Data.token``, ``.LeaseID``) of ``path``."""
    return f'{{{{ with secret "{path}" }}}}{{{{ {field} }}}}{{{{ end }}}}'


def template_stanza(contents: str, destination: Path, perms: str = "0600") -> str:
    return (f"template {{\n  contents = {hcl(contents)}\n  destination = {hcl(destination)}\n"
            f"  perms = {hcl(perms)}\n}}\n")


def listener_stanza(port: int) -> str:
    return f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n'


class BaoProcess:
    """``bao agent`` or ``bao proxy`` (``kind``) with ``config`` (HCL text) in ``workdir``."""

    def __init__(self, kind: str, config: str, workdir: Path, *, env: dict[str, str] | None = None):
        assert kind in ("agent", "proxy")
        self.kind = kind
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / f"{kind}.hcl"
        self.config_path.write_text(config, encoding="utf-8")
        self.log_path = self.workdir / f"{kind}.log"
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None
        self.secrets: list[str] = []  # values to mask in the tail besides token-shaped strings

    def start(self) -> BaoProcess:
        binary = find_bao_binary()
        assert binary is not None
        home = self.workdir / "home"
        home.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        env.update(HOME=str(home), **self.extra_env)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([binary, self.kind, f"-config={self.config_path}", "-log-level=debug"],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.workdir, env=env, start_new_session=True)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, 10)

    def __enter__(self) -> BaoProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 25) -> str:
        """The end of the log, token-shaped strings masked."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        # Lines cut at 300 characters: the agent's "final config" line alone is several thousand.
        kept = [ln[:300] for ln in text.splitlines() if ln.strip()][-lines:]
        return f"\n--- bao {self.kind} log (last {len(kept)} lines) ---\n" + redact("\n".join(kept), *self.secrets)

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, predicate: Callable[[], T | None], timeout: float, what: str,
                 interval: float = 0.1, may_exit: bool = False) -> T:
        """``wait_for(predicate)``; fails at once if the process exited (unless ``may_exit``),
        and with the log's tail either way."""
        def check():
            value = predicate()
            if not value and not may_exit and not self.running:
                value = predicate()  # what it did just before it exited counts
                if value:
                    return value
                code = self.proc.returncode if self.proc else None
                raise AssertionError(f"bao {self.kind} exited ({code}) while waiting for {what}{self.tail()}")
            return value
        try:
            return wait_for(check, timeout=timeout, interval=interval, what=what)
        except WaitTimedOut as exc:
            raise AssertionError(f"{exc}{self.tail()}") from None
