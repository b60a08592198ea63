"""hvac, the Python Vault client, against both modes: what a Python CI script calls."""

from __future__ import annotations

import hvac
import pytest
import requests

pytestmark = pytest.mark.integration


@pytest.fixture
def client(vault_front, client_token):
    return hvac.Client(url=vault_front.addr, token=client_token, timeout=15)


def test_is_authenticated(client):
    assert client.is_authenticated() is True


def test_is_sealed(client):
    assert client.sys.is_sealed() is False


def test_health_is_openbaos_with_its_version(vault_front, client):
    health = client.sys.read_health_status(method="GET")
    direct = requests.get(f"{vault_front.bao.addr}/v1/sys/health", timeout=10).json()
    assert isinstance(health, dict), f"sys/health answered {getattr(health, 'status_code', health)}"
    assert health.get("version") == direct["version"], f"version {health.get('version')!r}, OpenBao's {direct['version']!r}"
    assert health["initialized"] is True and health["sealed"] is False


def test_read_mints_a_working_token(vault_front, client):
    before = vault_front.token_uuids()
    secret = client.read("jenkins/creds/ci-bot")
    assert secret["lease_id"].startswith("jenkins/creds/ci-bot/") and secret["renewable"] is True
    assert secret["data"]["username"] == "ci-bot"
    status = vault_front.whoami(secret["data"]["token"])
    assert status == 200
    assert len(vault_front.token_uuids() - before) == 1
    client.sys.revoke_lease(secret["lease_id"])


def test_lookup_self(client):
    data = client.auth.token.lookup_self()["data"]
    assert "conformance-client" in data["policies"] and data["renewable"] is True
