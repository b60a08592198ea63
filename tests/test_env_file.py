"""Files that hold secrets (`bootstrap --env-file`, the demo's env file) are written 600,
atomically, never through a symlink."""

from __future__ import annotations

import os
import stat

import pytest

from jenkins_broker.commands.bootstrap import write_env_file
from jenkins_broker.errors import ConfigError

SECRET = "hvs.root-token-that-must-stay-private"


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_file_is_600(tmp_path):
    path = tmp_path / "broker.env"
    write_env_file(str(path), {"VAULT_TOKEN": SECRET})
    assert _mode(path) == 0o600 and path.read_text() == f"export VAULT_TOKEN='{SECRET}'\n"
    assert [p.name for p in tmp_path.iterdir()] == ["broker.env"]  # no temporary file left


def test_an_existing_loose_file_is_tightened(tmp_path):
    path = tmp_path / "broker.env"
    path.write_text("old\n")
    path.chmod(0o644)
    write_env_file(str(path), {"VAULT_TOKEN": SECRET})
    assert _mode(path) == 0o600 and SECRET in path.read_text()


def test_a_symlink_is_refused_and_its_target_untouched(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("untouched\n")
    target.chmod(0o644)
    link = tmp_path / "broker.env"
    link.symlink_to(target)
    with pytest.raises(ConfigError, match="symbolic link"):
        write_env_file(str(link), {"VAULT_TOKEN": SECRET})
    assert target.read_text() == "untouched\n" and _mode(target) == 0o644


def test_a_file_is_replaced_whole(tmp_path):
    # A reader opening the file meanwhile sees the old one or the new one, never a mix:
    # the new content goes through a rename, so the old inode keeps the old content.
    path = tmp_path / "broker.env"
    write_env_file(str(path), {"A": "1"})
    with open(path) as before:
        write_env_file(str(path), {"B": "2"})
        assert before.read() == "export A='1'\n"
    assert path.read_text() == "export B='2'\n"
