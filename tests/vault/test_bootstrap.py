"""bootstrap() and create_token() against a real OpenBao."""

import hvac.exceptions
import pytest

from jenkins_broker.errors import ConfigError, VaultForbidden
from jenkins_broker.vault import (
    CallerAuthz,
    KVv1,
    KVv2,
    VaultSettings,
    admin_client,
    bootstrap,
    connect,
    create_token,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def policies(tmp_path, vault_sandbox):
    """A policies directory whose file names are unique to this test."""
    broker = vault_sandbox.name("broker")
    consumer = vault_sandbox.name("consumer")
    (tmp_path / f"{broker}.hcl").write_text(
        f'path "{vault_sandbox.kv2}/*" {{ capabilities = ["create", "read", "update", '
        f'"delete", "list"] }}\npath "{vault_sandbox.kv1}/*" {{ capabilities = ["create", '
        '"read", "update", "delete", "list"] }\n')
    (tmp_path / f"{consumer}.hcl").write_text(
        f'path "{vault_sandbox.kv1}/creds/ci-bot" {{ capabilities = ["read"] }}\n')
    (tmp_path / "README.md").write_text("not a policy")
    return tmp_path, broker, consumer


def _run(sandbox, policies_dir, broker, **kwargs):
    return bootstrap(sandbox.client, policies_dir=policies_dir, kv1_mount=sandbox.kv1,
                     kv2_mount=sandbox.kv2, approle_mount=sandbox.approle,
                     role_name=broker, policy_name=broker, **kwargs)


def test_bootstrap_is_idempotent_and_the_approle_works(bao_server, vault_sandbox, policies):
    policies_dir, broker, consumer = policies
    first = _run(vault_sandbox, policies_dir, broker)
    assert f"mount {vault_sandbox.kv1}/ (KV v1)" in first.created
    assert f"mount {vault_sandbox.kv2}/ (KV v2)" in first.created
    assert f"policy {broker} ({broker}.hcl)" in first.created
    assert f"policy {consumer} ({consumer}.hcl)" in first.created
    assert f"auth method {vault_sandbox.approle}/ (approle)" in first.created
    assert any(item.startswith(f"AppRole role {broker}") for item in first.created)
    assert first.role_id and first.secret_id and not first.warnings

    second = _run(vault_sandbox, policies_dir, broker)
    assert f"mount {vault_sandbox.kv1}/ (KV v1)" in second.unchanged
    assert f"mount {vault_sandbox.kv2}/ (KV v2)" in second.unchanged
    assert f"policy {broker} ({broker}.hcl)" in second.unchanged
    assert f"auth method {vault_sandbox.approle}/ (approle)" in second.unchanged
    assert any(item.startswith(f"AppRole role {broker}") for item in second.updated)
    # The broker's secret_id is not multiplied: none is issued while the role has one, the
    # one given is kept, and a new one (asked for) replaces the others.
    assert second.role_id == first.role_id and second.secret_id == ""
    kept = _run(vault_sandbox, policies_dir, broker, secret_id=first.secret_id)
    assert kept.secret_id == first.secret_id and kept.secret_id_accessor == first.secret_id_accessor
    second = _run(vault_sandbox, policies_dir, broker, new_secret_id=True)
    assert second.secret_id not in ("", first.secret_id)
    assert second.destroyed and first.secret_id_accessor in second.destroyed[0]
    assert vault_sandbox.client.auth.approle.list_secret_id_accessors(
        broker, mount_point=vault_sandbox.approle)["data"]["keys"] == [second.secret_id_accessor]

    # A changed policy file is reported as updated.
    (policies_dir / f"{consumer}.hcl").write_text('path "x" { capabilities = ["read"] }\n')
    third = _run(vault_sandbox, policies_dir, broker)
    assert f"policy {consumer} ({consumer}.hcl)" in third.updated

    # The broker logs in with what bootstrap returned and has its policy's rights.
    settings = VaultSettings(addr=bao_server.addr, auth_method="approle",
                             role_id=second.role_id, secret_id=second.secret_id,
                             approle_mount=vault_sandbox.approle)
    client, login = connect(settings)
    assert broker in login.policies and login.ttl == 3600
    KVv2(client, vault_sandbox.kv2).write("config", {"jenkins_url": "http://j"})
    KVv1(client, vault_sandbox.kv1).write("creds/ci-bot", {"username": "ci-bot"})
    with pytest.raises(hvac.exceptions.Forbidden):  # least privilege: no mounting
        admin_client(settings, client.token).sys.enable_secrets_engine(
            "kv", path=vault_sandbox.name("nope"))
    role = vault_sandbox.client.auth.approle.read_role(broker, mount_point=vault_sandbox.approle)
    assert role["data"]["token_max_ttl"] == 86400


def test_result_output_hides_the_secret_id(vault_sandbox, policies):
    policies_dir, broker, _ = policies
    result = _run(vault_sandbox, policies_dir, broker)
    text = "\n".join(result.lines()) + repr(result) + str(result.as_dict())
    assert result.secret_id not in text
    assert result.as_dict(include_secret=True)["secret_id"] == result.secret_id


def test_wrong_mount_type_is_a_clear_error(vault_sandbox, policies):
    policies_dir, broker, _ = policies
    vault_sandbox.client.sys.enable_secrets_engine("kv", path=vault_sandbox.kv1,
                                                   options={"version": "2"})
    with pytest.raises(ConfigError, match=f"KV v2 mounted at '{vault_sandbox.kv1}/'.*KV v1"):
        _run(vault_sandbox, policies_dir, broker)


def test_missing_broker_policy_is_a_warning(vault_sandbox, tmp_path):
    result = bootstrap(vault_sandbox.client, policies_dir=tmp_path, kv1_mount=None,
                       kv2_mount=vault_sandbox.kv2, approle_mount=vault_sandbox.approle,
                       role_name="broker", policy_name=vault_sandbox.name("absent"))
    assert result.warnings and "no rights" in result.warnings[0]
    assert not any(vault_sandbox.kv1 in item for item in result.created)  # skipped


def test_missing_policies_dir_and_bad_names(vault_sandbox, tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        bootstrap(vault_sandbox.client, policies_dir=tmp_path / "absent",
                  kv2_mount=vault_sandbox.kv2, kv1_mount=None)
    with pytest.raises(ConfigError, match="role name"):
        bootstrap(vault_sandbox.client, policies_dir=None, kv2_mount=vault_sandbox.kv2,
                  role_name="../x")


def test_bootstrap_needs_an_administrator(bao_server, vault_sandbox, policies):
    policies_dir, broker, _ = policies
    weak = vault_sandbox.token(["default"])["client_token"]
    client = bao_server.client(weak)
    with pytest.raises(VaultForbidden) as err:
        bootstrap(client, policies_dir=policies_dir, kv2_mount=vault_sandbox.kv2)
    assert weak not in str(err.value)


def test_create_token_for_ci(bao_server, vault_sandbox):
    policy = vault_sandbox.policy("ci", 'path "jenkins/creds/ci-bot" { capabilities = ["read"] }')
    issued = create_token(vault_sandbox.client, [policy], ttl="30m", display_name="ci")
    assert issued.token not in repr(issued)
    assert policy in issued.policies and issued.ttl == 1800
    authz = CallerAuthz(VaultSettings(addr=bao_server.addr, token="unused"))
    assert authz.capabilities(issued.token, "jenkins/creds/ci-bot") == {"read"}
    who = authz.lookup_self(issued.token)
    assert who["accessor"] == issued.accessor
    # An orphan: it survives its creator's revocation.
    data = vault_sandbox.client.auth.token.lookup(issued.token)["data"]
    assert data["orphan"] is True
