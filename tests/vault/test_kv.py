"""KV v1 and v2 helpers against a real OpenBao."""

import hvac.exceptions
import pytest

from jenkins_broker.errors import VaultInvalidRequest
from jenkins_broker.vault import KVv1, KVv2

pytestmark = pytest.mark.integration


def test_kv2_roundtrip_versions_and_list(vault_mounts):
    kv = vault_mounts.kv2_store()
    assert kv.read("roles/ci-bot") is None
    assert kv.list("roles") == []
    assert kv.write("roles/ci-bot", {"user": "ci-bot", "ttl": 900}) == 1
    assert kv.write("roles/ci-bot", {"user": "ci-bot", "ttl": 60}) == 2
    kv.write("roles/deployer", {"user": "deployer"})
    kv.write("leases/ci-bot/abc", {"uuid": "u-1"})
    assert kv.read("roles/ci-bot") == ({"user": "ci-bot", "ttl": 60}, 2)
    assert kv.list("roles") == ["ci-bot", "deployer"]
    assert kv.list() == ["leases/", "roles/"]
    assert kv.list("leases") == ["ci-bot/"]


def test_kv2_delete_leaves_nothing_behind(vault_mounts):
    kv = vault_mounts.kv2_store()
    kv.write("leases/ci-bot/abc", {"uuid": "u-1"})
    kv.write("leases/ci-bot/abc", {"uuid": "u-2"})
    kv.delete("leases/ci-bot/abc")
    assert kv.read("leases/ci-bot/abc") is None
    assert kv.list("leases/ci-bot") == []
    assert kv.list() == []
    # No metadata or old versions linger: a new write starts again at version 1.
    raw = vault_mounts.client.adapter
    with pytest.raises(hvac.exceptions.InvalidPath):
        raw.get(f"/v1/{vault_mounts.kv2}/metadata/leases/ci-bot/abc")
    assert kv.write("leases/ci-bot/abc", {"uuid": "u-3"}) == 1
    kv.delete("never/written")  # absent: not an error


def test_kv2_soft_deleted_version_reads_as_absent(vault_mounts):
    kv = vault_mounts.kv2_store()
    kv.write("x", {"a": 1})
    vault_mounts.client.secrets.kv.v2.delete_latest_version_of_secret(
        "x", mount_point=vault_mounts.kv2)
    assert kv.read("x") is None


def test_kv2_data_types_roundtrip(vault_mounts):
    kv = vault_mounts.kv2_store()
    data = {"s": "é ü", "n": 3, "f": 1.5, "b": True, "none": None, "list": [1, "a"],
            "nested": {"k": ["v"]}}
    kv.write("types", data)
    assert kv.read("types") == (data, 1)


def test_kv1_roundtrip_and_list(vault_mounts):
    kv = vault_mounts.kv1_store()
    assert kv.read("creds/ci-bot") is None
    assert kv.list("creds") == []
    kv.write("creds/ci-bot", {"username": "ci-bot", "token": "t", "ttl": "15m"})
    kv.write("creds/deployer", {"username": "deployer"})
    assert kv.read("creds/ci-bot") == {"username": "ci-bot", "token": "t", "ttl": "15m"}
    assert kv.list("creds") == ["ci-bot", "deployer"]
    kv.write("creds/ci-bot", {"username": "ci-bot", "token": "t2"})  # replaces, no merge
    assert kv.read("creds/ci-bot") == {"username": "ci-bot", "token": "t2"}
    kv.delete("creds/ci-bot")
    kv.delete("creds/ci-bot")
    assert kv.read("creds/ci-bot") is None
    assert kv.list("creds") == ["deployer"]


def test_kv1_ttl_shows_as_refresh_interval(vault_mounts):
    kv = vault_mounts.kv1_store()
    kv.write("creds/ci-bot", {"username": "ci-bot", "ttl": "15m"})
    resp = vault_mounts.client.read(f"{vault_mounts.kv1}/creds/ci-bot")
    assert resp["lease_duration"] == 900


@pytest.mark.parametrize("bad", ["", "/", "a/../b", "..", "./a", "a//b", "a/\x00", "a\nb",
                                 "x" * 1025])
def test_bad_paths_are_refused_before_any_request(vault_mounts, bad):
    for kv in (vault_mounts.kv1_store(), vault_mounts.kv2_store()):
        with pytest.raises(VaultInvalidRequest):
            kv.read(bad)
        with pytest.raises(VaultInvalidRequest):
            kv.write(bad, {"a": 1})
        with pytest.raises(VaultInvalidRequest):
            kv.delete(bad)


def test_query_characters_in_keys_stay_in_the_path(vault_mounts):
    kv = vault_mounts.kv2_store()
    kv.write("odd/a?list=true#frag", {"a": 1})
    assert kv.read("odd/a?list=true#frag") == ({"a": 1}, 1)
    assert kv.list("odd") == ["a?list=true#frag"]


def test_bad_arguments(vault_mounts):
    kv = vault_mounts.kv2_store()
    with pytest.raises(VaultInvalidRequest):
        kv.write("x", ["not", "a", "dict"])
    with pytest.raises(VaultInvalidRequest):
        kv.write("x", {"a": 1}, cas=-1)
    with pytest.raises(VaultInvalidRequest):
        KVv1(vault_mounts.client, "../sys")


def test_default_mounts():
    assert KVv2.__init__.__defaults__ == ("jenkins-broker",)
    assert KVv1.__init__.__defaults__ == ("jenkins",)
