"""Mistakes with the processes and servers around the CLI: `serve` on a port in use, `bootstrap`
run with a token that is not an administrator's or run again, and a VAULT_ADDR that points at
the wrong server or with the wrong scheme. Each is refused with one line that says what to fix,
never a traceback or the wrong advice."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tests.support.processes import free_port, stop_process

pytestmark = pytest.mark.integration


# -- serve: the port is taken ------------------------------------------------------------

def run_serve(stack, **env_vars: str) -> tuple[int, str]:
    """``jenkins-broker serve`` as a process with the stack's AppRole and ``env_vars``, until it
    exits (within a minute); returns its exit status and its stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_", "JENKINS_"))}
    env.update(VAULT_ADDR=stack.bao.addr, JENKINS_BROKER_VAULT_AUTH="approle",
               JENKINS_BROKER_VAULT_ROLE_ID=stack.role_id,
               JENKINS_BROKER_VAULT_SECRET_ID=stack.secret_id)
    env.update(env_vars)
    proc = subprocess.Popen([sys.executable, "-m", "jenkins_broker.commands.cli", "serve"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        stop_process(proc)
    assert "Traceback" not in err and "OSError" not in err
    return proc.returncode, err


def test_serve_on_a_port_in_use_says_which_and_what_to_set(stack, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = run_serve(stack, JENKINS_BROKER_LISTEN=f"127.0.0.1:{port}")
    assert code == 1, err
    last = err.strip().splitlines()[-1]
    assert last == (f"Error: port {port} on 127.0.0.1 is in use (another broker, or another "
                    f"program, listens there): stop it, or set JENKINS_BROKER_LISTEN to a free "
                    f"host:port"), err


def test_serve_whose_login_vault_refuses_exits_at_once_rather_than_waiting(stack):
    """serve waits for a Vault it cannot reach or that is sealed; a login Vault refuses is
    a setting to fix, which no waiting mends: one line, exit 1."""
    code, err = run_serve(stack, JENKINS_BROKER_LISTEN=f"127.0.0.1:{free_port()}",
                          JENKINS_BROKER_VAULT_SECRET_ID="00000000-0000-0000-0000-000000000000")
    assert code == 1, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("Error: ") and "AppRole" in last and "retrying" not in err, err
    assert "00000000-0000-0000-0000-000000000000" not in err


# -- VAULT_ADDR: the wrong server, the wrong scheme ---------------------------------------

@pytest.fixture
def run(monkeypatch, capsys):
    """``jenkins-broker <argv>`` in this process with ``env`` as its Vault settings; returns
    (exit status, stdout, the one error line or "")."""
    from jenkins_broker.commands.cli import main

    def run(*argv, **env):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        code = main(list(argv))
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        assert not err or (err.startswith("Error: ") and err.count("\n") == 1), err
        return code, out, err[len("Error: "):].strip()
    return run


def test_vault_addr_pointing_at_jenkins_says_so(stack, run):
    """It said "VAULT_TOKEN is invalid, expired or revoked: give the broker a current token"."""
    for argv in (["roles", "list"], ["check"], ["bootstrap"]):
        code, out, error = run(*argv, VAULT_ADDR=stack.jenkins.url.rstrip("/"), VAULT_TOKEN=stack.bao.root_token)
        said = error or out  # check says it in its "vault" row
        assert code == 1, said
        assert "VAULT_ADDR points at Jenkins, not Vault" in said, said
        assert "answered with an X-Jenkins header" in said and "VAULT_TOKEN" not in said


def test_https_vault_addr_for_a_plain_http_vault_says_use_http(stack, run):
    """It said "TLS handshake failed ... Check VAULT_CACERT / VAULT_CAPATH"."""
    plain = stack.bao.addr
    code, _, error = run("roles", "list", VAULT_ADDR=plain.replace("http://", "https://"),
                         VAULT_TOKEN=stack.bao.root_token)
    assert code == 1
    assert "the server answered plain HTTP, not TLS" in error
    assert f"set VAULT_ADDR to {plain}" in error and "VAULT_CACERT" not in error


def test_http_vault_addr_for_an_https_vault_says_use_https(bao_factory, run):
    """It said "the login was refused ... VAULT_TOKEN is invalid, expired or revoked"."""
    bao = bao_factory(tls=True)
    plain = bao.addr.replace("https://", "http://")
    code, _, error = run("roles", "list", VAULT_ADDR=plain, VAULT_TOKEN=bao.root_token,
                         VAULT_CACERT=bao.ca_cert)
    assert code == 1
    assert "the server speaks HTTPS" in error and f"set VAULT_ADDR to {bao.addr}" in error
    assert "VAULT_TOKEN" not in error


# -- bootstrap ----------------------------------------------------------------------------

def test_bootstrap_with_a_token_that_is_not_an_administrator_blames_that_token(stack, run):
    """It said "The broker's Vault token lacks this capability ... (vault-policies/jenkins-broker.hcl)"."""
    code, out, error = run("bootstrap", VAULT_ADDR=stack.bao.addr, VAULT_TOKEN=stack.token("jenkins-admin"))
    assert code == 1 and out == ""
    assert "The Vault token given to `jenkins-broker bootstrap` (VAULT_TOKEN) lacks" in error, error
    assert "read on sys/mounts" in error and "root token" in error
    assert "broker's Vault token" not in error and "jenkins-broker.hcl" not in error


def secret_id_accessors(bao) -> list[str]:
    client = bao.client()
    try:
        return client.auth.approle.list_secret_id_accessors("jenkins-broker")["data"]["keys"]
    except Exception as exc:  # hvac's InvalidPath: none at all
        if type(exc).__name__ == "InvalidPath":
            return []
        raise


def env_file_values(path) -> dict[str, str]:
    import re
    return dict(re.findall(r"^export (\w+)='([^']*)'$", path.read_text(), re.M))


def logs_in(bao, role_id, secret_id) -> bool:
    from jenkins_broker.errors import VaultAuthError
    from jenkins_broker.vault import VaultSettings, connect
    try:
        client, _ = connect(VaultSettings(addr=bao.addr, auth_method="approle", role_id=role_id,
                                          secret_id=secret_id))
    except VaultAuthError:
        return False
    client.close()
    return True


def test_bootstrap_run_again_leaves_exactly_one_secret_id(bao_factory, run, tmp_path):
    """Every run added another secret_id that never expires. Now a run issues one only when the
    AppRole has none, when the env file's no longer works, or with --new-secret-id, and a new
    one replaces (destroys) the others."""
    bao = bao_factory()
    vault = dict(VAULT_ADDR=bao.addr, VAULT_TOKEN=bao.root_token)
    env_file = tmp_path / "broker.env"
    code, out, _ = run("bootstrap", "--env-file", str(env_file), **vault)
    assert code == 0 and len(secret_id_accessors(bao)) == 1
    first = env_file_values(env_file)
    assert logs_in(bao, first["JENKINS_BROKER_VAULT_ROLE_ID"], first["JENKINS_BROKER_VAULT_SECRET_ID"])

    # Again with the env file: its secret_id is kept.
    code, out, _ = run("bootstrap", "--env-file", str(env_file), **vault)
    assert code == 0 and "unchanged  secret_id for jenkins-broker (accessor" in out
    assert secret_id_accessors(bao) == [first_accessor := secret_id_accessors(bao)[0]]
    assert env_file_values(env_file) == first

    # Again without it: nothing printed to copy, nothing issued.
    code, out, _ = run("bootstrap", **vault)
    assert code == 0 and secret_id_accessors(bao) == [first_accessor]
    assert "JENKINS_BROKER_VAULT_SECRET_ID=" not in out and first["JENKINS_BROKER_VAULT_SECRET_ID"] not in out
    assert "--new-secret-id" in out

    # --new-secret-id: a new one, and the old one destroyed.
    code, out, _ = run("bootstrap", "--env-file", str(env_file), "--new-secret-id", **vault)
    assert code == 0 and f"destroyed  secret_id accessor {first_accessor}" in out
    second = env_file_values(env_file)
    assert second["JENKINS_BROKER_VAULT_SECRET_ID"] != first["JENKINS_BROKER_VAULT_SECRET_ID"]
    assert len(secret_id_accessors(bao)) == 1 and secret_id_accessors(bao) != [first_accessor]
    assert not logs_in(bao, first["JENKINS_BROKER_VAULT_ROLE_ID"], first["JENKINS_BROKER_VAULT_SECRET_ID"])
    assert logs_in(bao, second["JENKINS_BROKER_VAULT_ROLE_ID"], second["JENKINS_BROKER_VAULT_SECRET_ID"])

    # An env file whose secret_id no longer works (Vault was reset, say) gets a new one.
    stale = tmp_path / "stale.env"
    stale.write_text(env_file.read_text().replace(second["JENKINS_BROKER_VAULT_SECRET_ID"],
                                                  "00000000-0000-0000-0000-000000000000"))
    code, out, _ = run("bootstrap", "--env-file", str(stale), **vault)
    assert code == 0 and len(secret_id_accessors(bao)) == 1
    third = env_file_values(stale)
    assert logs_in(bao, third["JENKINS_BROKER_VAULT_ROLE_ID"], third["JENKINS_BROKER_VAULT_SECRET_ID"])
