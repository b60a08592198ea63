"""Broker mode is a Vault front: the Vault CLI and hvac, pointed at the broker, do what they
do against OpenBao itself (logins, token lookups, status, capabilities, cubbyhole,
wrapping, other mounts), and reads of jenkins/creds/<role> still mint."""

import json

import hvac
import pytest
import requests

pytestmark = pytest.mark.integration


def test_the_vault_cli_works_pointed_at_the_broker(stack):
    ci = stack.consumer("front-role")
    stack.role("front-role")
    status = stack.bao_json("status", token="")
    assert status["sealed"] is False and status["initialized"] is True
    assert status["version"] == stack.bao_json("status", token="", addr=stack.bao.addr)["version"]

    login = stack.bao_cli("login", "-no-store", "-format=json", ci, token="")
    assert json.loads(login.stdout)["auth"]["policies"] == ["consumer-front-role", "default"]
    looked = stack.bao_json("token lookup", token=ci)
    assert looked["data"]["policies"] == ["consumer-front-role", "default"]
    caps = stack.bao_cli("token", "capabilities", "jenkins/creds/front-role", token=ci)
    assert caps.stdout.strip() == "read"

    # Another mount, written and read through the broker, is Vault's.
    root = stack.bao.root_token
    stack.bao_cli("write", "cubbyhole/front", "value=kept", token=root)
    assert stack.bao_json("read", "cubbyhole/front", token=root)["data"]["value"] == "kept"

    # And the broker's own path still mints, under a lease the broker answers for.
    minted = stack.bao_json("read", "jenkins/creds/front-role", token=ci)
    assert minted["lease_id"].startswith("jenkins/creds/front-role/")
    looked = stack.bao_json("lease lookup", minted["lease_id"], token=ci)
    assert looked["data"]["id"] == minted["lease_id"]


def test_hvac_pointed_at_the_broker(stack):
    ci = stack.consumer("front-hvac")
    stack.role("front-hvac")
    client = hvac.Client(url=stack.broker_url, token=ci)
    try:
        assert client.is_authenticated() is True
        assert client.sys.is_sealed() is False
        assert client.auth.token.lookup_self()["data"]["policies"] == ["consumer-front-hvac",
                                                                       "default"]
        minted = client.read("jenkins/creds/front-hvac")
        assert minted["data"]["username"] == "ci-bot"
        assert hvac.Client(url=stack.broker_url, token="s.not-a-token").is_authenticated() is False
    finally:
        client.adapter.close()


def test_a_wrapping_token_made_through_the_broker_unwraps_in_vault(stack):
    root = stack.bao.root_token
    wrapped = stack.bao_json("write", "-wrap-ttl=60s", "sys/wrapping/wrap", "payload=hello",
                             token=root)
    wrap_token = wrapped["wrap_info"]["token"]
    unwrapped = requests.post(f"{stack.bao.addr}/v1/sys/wrapping/unwrap",
                              headers={"X-Vault-Token": wrap_token}, timeout=5)
    assert unwrapped.status_code == 200 and unwrapped.json()["data"] == {"payload": "hello"}


def test_errors_come_from_vault_as_vault_gives_them(stack):
    # A bogus token on a path the broker does not own: Vault's own answer, byte for byte.
    direct = requests.get(f"{stack.bao.addr}/v1/auth/token/lookup-self",
                          headers={"X-Vault-Token": "s.bogus"}, timeout=5)
    front = requests.get(f"{stack.broker_url}/v1/auth/token/lookup-self",
                         headers={"X-Vault-Token": "s.bogus"}, timeout=5)
    assert (front.status_code, front.json()) == (direct.status_code, direct.json())
    missing = requests.get(f"{stack.broker_url}/v1/no-such-mount/x",
                           headers={"X-Vault-Token": stack.bao.root_token}, timeout=5)
    assert missing.status_code == 404 == requests.get(
        f"{stack.bao.addr}/v1/no-such-mount/x", headers={"X-Vault-Token": stack.bao.root_token},
        timeout=5).status_code
