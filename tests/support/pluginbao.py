"""OpenBao with the secrets-engine plugin: a server whose config names a plugin directory,
and the processes the plugin runs as (which must all be gone when a test ends)."""

from __future__ import annotations

import os
from pathlib import Path

from jenkins_broker.vault import BaoDevServer


class PluginBao(BaoDevServer):
    """A persistent-mode OpenBao whose config names ``plugin_dir``; ``log_level`` for its own
    log (``debug`` shows each call to the plugin)."""

    def __init__(self, plugin_dir: Path, *, log_level: str = "", **kwargs):
        super().__init__(mode="persistent", **kwargs)
        self.plugin_dir = plugin_dir
        self.log_level = log_level

    def _write_config(self):
        path = super()._write_config()
        extra = f'plugin_directory = "{self.plugin_dir}"\n'
        if self.log_level:
            extra += f'log_level = "{self.log_level}"\n'
        path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")
        return path


def plugin_pids(plugin_dir: Path) -> list[int]:
    """Processes whose command line names a file in ``plugin_dir``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(plugin_dir) in cmdline:
                found.append(int(entry))
    return found
