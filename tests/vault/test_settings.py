"""VaultSettings: environment names, validation messages, secrets kept out of repr."""

import pytest

from jenkins_broker.errors import ConfigError
from jenkins_broker.vault.settings import DEFAULT_K8S_JWT_PATH, VaultSettings

ADDR = "http://127.0.0.1:8200"


def test_from_env_reads_the_vault_cli_names(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    s = VaultSettings.from_env({
        "VAULT_ADDR": "https://vault.example:8200", "VAULT_TOKEN": "s.abc",
        "VAULT_CACERT": str(ca), "VAULT_CAPATH": str(tmp_path), "VAULT_CLIENT_CERT": str(cert),
        "VAULT_CLIENT_KEY": str(key), "VAULT_SKIP_VERIFY": "false", "VAULT_NAMESPACE": "team",
        "VAULT_CLIENT_TIMEOUT": "5s",
    })
    assert s.addr == "https://vault.example:8200"
    assert s.auth_method == "token" and s.token == "s.abc"
    assert s.verify == str(ca)              # VAULT_CACERT wins over VAULT_CAPATH, as in the CLI
    assert s.cert == (str(cert), str(key))
    assert s.namespace == "team" and s.timeout == 5.0


def test_from_env_approle_and_secret_id_file(tmp_path):
    f = tmp_path / "sid"
    f.write_text("secret-from-file\n")
    s = VaultSettings.from_env({
        "VAULT_ADDR": ADDR, "JENKINS_BROKER_VAULT_AUTH": "approle",
        "JENKINS_BROKER_VAULT_ROLE_ID": "rid", "JENKINS_BROKER_VAULT_SECRET_ID_FILE": str(f),
        "JENKINS_BROKER_VAULT_APPROLE_MOUNT": "ci-approle",
    })
    assert (s.auth_method, s.role_id, s.secret_id, s.approle_mount) == (
        "approle", "rid", "secret-from-file", "ci-approle")
    assert s.login_mount == "ci-approle"


def test_from_env_kubernetes_defaults():
    s = VaultSettings.from_env({"VAULT_ADDR": ADDR, "JENKINS_BROKER_VAULT_AUTH": "kubernetes",
                                "JENKINS_BROKER_VAULT_K8S_ROLE": "broker"})
    assert s.k8s_role == "broker" and s.k8s_mount == "kubernetes"
    assert s.k8s_jwt_path == DEFAULT_K8S_JWT_PATH
    assert s.login_mount == "kubernetes"


def test_explicit_arguments_override_the_environment():
    s = VaultSettings.from_env({"VAULT_ADDR": ADDR, "VAULT_TOKEN": "a"}, token="b", timeout=3)
    assert s.token == "b" and s.timeout == 3


@pytest.mark.parametrize("value,expected", [("1", False), ("true", False), ("T", False),
                                            ("0", True), ("false", True)])
def test_skip_verify_is_parsed_like_the_cli(value, expected):
    s = VaultSettings.from_env({"VAULT_ADDR": ADDR, "VAULT_TOKEN": "t", "VAULT_SKIP_VERIFY": value})
    assert (s.verify is True) is expected


@pytest.mark.parametrize("env,names", [
    ({}, "VAULT_ADDR"),
    ({"VAULT_ADDR": "vault:8200", "VAULT_TOKEN": "t"}, "VAULT_ADDR"),
    ({"VAULT_ADDR": "http://u:p@vault:8200", "VAULT_TOKEN": "t"}, "VAULT_ADDR"),
    ({"VAULT_ADDR": ADDR}, "VAULT_TOKEN"),
    ({"VAULT_ADDR": ADDR, "JENKINS_BROKER_VAULT_AUTH": "ldap"}, "JENKINS_BROKER_VAULT_AUTH"),
    ({"VAULT_ADDR": ADDR, "JENKINS_BROKER_VAULT_AUTH": "approle",
      "JENKINS_BROKER_VAULT_SECRET_ID": "s"}, "JENKINS_BROKER_VAULT_ROLE_ID"),
    ({"VAULT_ADDR": ADDR, "JENKINS_BROKER_VAULT_AUTH": "approle",
      "JENKINS_BROKER_VAULT_ROLE_ID": "r"}, "JENKINS_BROKER_VAULT_SECRET_ID"),
    ({"VAULT_ADDR": ADDR, "JENKINS_BROKER_VAULT_AUTH": "kubernetes"},
     "JENKINS_BROKER_VAULT_K8S_ROLE"),
    ({"VAULT_ADDR": ADDR, "VAULT_TOKEN": "t", "VAULT_SKIP_VERIFY": "maybe"}, "VAULT_SKIP_VERIFY"),
    ({"VAULT_ADDR": ADDR, "VAULT_TOKEN": "t", "VAULT_CACERT": "/nonexistent/ca.pem"},
     "VAULT_CACERT"),
    ({"VAULT_ADDR": ADDR, "VAULT_TOKEN": "t", "VAULT_CAPATH": "/nonexistent"}, "VAULT_CAPATH"),
    ({"VAULT_ADDR": ADDR, "VAULT_TOKEN": "t", "VAULT_CLIENT_CERT": "/etc/hostname"},
     "VAULT_CLIENT_KEY"),
    ({"VAULT_ADDR": ADDR, "VAULT_TOKEN": "t", "VAULT_CLIENT_TIMEOUT": "soon"},
     "VAULT_CLIENT_TIMEOUT"),
    ({"VAULT_ADDR": ADDR, "VAULT_TOKEN": "t", "VAULT_CLIENT_TIMEOUT": "0"},
     "VAULT_CLIENT_TIMEOUT"),
    ({"VAULT_ADDR": ADDR, "VAULT_TOKEN": "t", "JENKINS_BROKER_VAULT_APPROLE_MOUNT": "/x/"},
     "JENKINS_BROKER_VAULT_APPROLE_MOUNT"),
    ({"VAULT_ADDR": ADDR, "JENKINS_BROKER_VAULT_AUTH": "approle",
      "JENKINS_BROKER_VAULT_ROLE_ID": "r", "JENKINS_BROKER_VAULT_SECRET_ID": "s",
      "JENKINS_BROKER_VAULT_SECRET_ID_FILE": "/etc/hostname"}, "JENKINS_BROKER_VAULT_SECRET_ID"),
    ({"VAULT_ADDR": ADDR, "JENKINS_BROKER_VAULT_AUTH": "approle",
      "JENKINS_BROKER_VAULT_ROLE_ID": "r",
      "JENKINS_BROKER_VAULT_SECRET_ID_FILE": "/nonexistent/sid"},
     "JENKINS_BROKER_VAULT_SECRET_ID_FILE"),
])
def test_invalid_settings_name_the_variable(env, names):
    with pytest.raises(ConfigError, match=names):
        VaultSettings.from_env(env)


def test_secrets_are_not_in_repr_or_errors():
    s = VaultSettings(addr=ADDR, auth_method="approle", role_id="rid",
                      secret_id="SECRET-ID-VALUE", token="TOKEN-VALUE")
    assert "SECRET-ID-VALUE" not in repr(s) and "TOKEN-VALUE" not in repr(s)
    assert "rid" in repr(s)
    with pytest.raises(ConfigError) as err:
        VaultSettings(addr=ADDR, token="s.has a space")
    assert "has a space" not in str(err.value)
    assert "VAULT_TOKEN" in str(err.value)


def test_empty_variables_count_as_unset():
    s = VaultSettings.from_env({"VAULT_ADDR": ADDR, "VAULT_TOKEN": "t", "VAULT_NAMESPACE": " ",
                                "VAULT_CACERT": ""})
    assert s.namespace is None and s.verify is True


def test_skip_verify_disables_verification_and_no_client_cert_by_default():
    s = VaultSettings(addr=ADDR, token="t", skip_verify=True)
    assert s.verify is False and s.cert == ()
