"""Namespaces: a read of ``jenkins/creds/ci-bot`` in another namespace is Vault's to answer.

OpenBao has namespaces since 2.3 (``sys/namespaces``); the secrets engine and the broker's
roles live in the root namespace. In namespace ``other`` there is no ``jenkins/`` mount, so
Vault answers 403 (a root-namespace policy grants nothing there) or 404 (the root token: no
handler for the path). The front must answer exactly that, and mint nothing, in both modes.
"""

from __future__ import annotations

import re

import pytest
import requests

from tests.support.fronts import redact

pytestmark = pytest.mark.integration

NAMESPACE = "other"


@pytest.fixture(scope="session")
def namespace(vault_front):
    """Namespace ``other``, made in OpenBao; the module is skipped where OpenBao has none."""
    answer = requests.put(f"{vault_front.bao.addr}/v1/sys/namespaces/{NAMESPACE}", json={},
                          headers={"X-Vault-Token": vault_front.root}, timeout=10)
    if answer.status_code != 200:
        pytest.skip(f"this OpenBao has no namespaces: PUT sys/namespaces/{NAMESPACE} answered "
                    f"{answer.status_code} {answer.text[:200]}")
    return NAMESPACE


@pytest.mark.parametrize("who", ["client", "root"])
def test_a_read_in_another_namespace_gets_vaults_answer(vault_front, client_token, namespace, who):
    token = client_token if who == "client" else vault_front.root
    headers = {"X-Vault-Token": token, "X-Vault-Namespace": namespace}
    before = vault_front.token_uuids()
    through = requests.get(f"{vault_front.addr}/v1/jenkins/creds/ci-bot", headers=headers, timeout=15)
    minted = len(vault_front.token_uuids() - before)
    direct = requests.get(f"{vault_front.bao.addr}/v1/jenkins/creds/ci-bot", headers=headers, timeout=15)
    assert direct.status_code in (403, 404), direct.text
    assert minted == 0, f"a read in namespace {namespace!r} minted {minted} token(s) from the root namespace"
    assert through.status_code == direct.status_code, redact(through.text)
    assert through.json() == direct.json(), redact(through.text)


def test_the_cli_namespace_flag_gets_vaults_answer(vault_front, client_token, namespace):
    before = vault_front.token_uuids()
    through = vault_front.cli("read", f"-namespace={namespace}", "jenkins/creds/ci-bot", token=client_token,
                              check=False)
    minted = len(vault_front.token_uuids() - before)
    direct = vault_front.cli("read", f"-namespace={namespace}", "jenkins/creds/ci-bot", token=client_token,
                             addr=vault_front.bao.addr, check=False)
    assert direct.returncode == 2 and "Code: 403" in direct.stderr, redact(direct.stderr)
    assert minted == 0, f"bao read -namespace={namespace} minted {minted} token(s)"
    assert through.returncode == direct.returncode, redact(through.stdout + through.stderr)
    code = re.compile(r"Code: \d+")
    assert code.findall(through.stderr) == code.findall(direct.stderr), redact(through.stderr)
