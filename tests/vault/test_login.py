"""Logging the broker in: token, AppRole and Kubernetes, against a real OpenBao.

Kubernetes cannot run here, so the Kubernetes test stands up the one piece of
it Vault talks to, the TokenReview API, as a tiny local HTTP server: the real
OpenBao kubernetes auth method then calls it, which proves the login went to
the right mount with the right role and the JWT read from the file.
"""

import base64
import http.server
import json
import logging
import time

import pytest
import trustme

from jenkins_broker.errors import ConfigError, VaultAuthError, VaultError
from jenkins_broker.vault import CallerAuthz, TokenRenewer, VaultSettings, connect, login
from jenkins_broker.vault.kv import KVv2
from tests.support.processes import answer_json, serving

pytestmark = pytest.mark.integration


def test_token_login(bao_server, vault_sandbox):
    policy = vault_sandbox.policy("reader", 'path "sys/mounts" { capabilities = ["read"] }')
    auth = vault_sandbox.token([policy], ttl="10m")
    client, result = connect(VaultSettings(addr=bao_server.addr, token=auth["client_token"]))
    assert result.method == "token"
    assert result.accessor == auth["accessor"]
    assert policy in result.policies
    assert 0 < result.ttl <= 600 and result.renewable
    assert client.token == auth["client_token"]
    assert client.request("GET", "sys/mounts", action="list mounts")  # the token is usable
    assert auth["client_token"] not in repr(result)


def test_root_token_login(vault_settings):
    client, result = connect(vault_settings)
    assert result.ttl == 0 and result.policies == ("root",)


def _approle(sandbox, **role):
    c = sandbox.client
    c.sys.enable_auth_method("approle", path=sandbox.approle)
    policy = sandbox.policy("broker", f'path "{sandbox.kv2}/*" {{ capabilities = ["create", '
                                      '"read", "update", "delete", "list"] }')
    c.auth.approle.create_or_update_approle("broker", mount_point=sandbox.approle,
                                            token_policies=[policy], **role)
    role_id = c.auth.approle.read_role_id("broker", mount_point=sandbox.approle)["data"]["role_id"]
    secret_id = c.auth.approle.generate_secret_id("broker",
                                                  mount_point=sandbox.approle)["data"]["secret_id"]
    return policy, role_id, secret_id


def test_approle_login(bao_server, vault_mounts):
    policy, role_id, secret_id = _approle(vault_mounts, token_ttl="5m", token_max_ttl="1h")
    settings = VaultSettings(addr=bao_server.addr, auth_method="approle", role_id=role_id,
                             secret_id=secret_id, approle_mount=vault_mounts.approle)
    client, result = connect(settings)
    assert result.method == "approle" and policy in result.policies
    assert result.ttl == 300 and result.renewable
    kv = KVv2(client, vault_mounts.kv2)
    kv.write("config", {"a": 1})
    assert kv.read("config") == ({"a": 1}, 1)


def test_approle_bad_secret_id_is_an_auth_error_without_the_secret(bao_server, vault_sandbox,
                                                                   caplog):
    caplog.set_level(logging.DEBUG)
    _, role_id, _ = _approle(vault_sandbox)
    wrong = "00000000-1111-2222-3333-444444444444"
    settings = VaultSettings(addr=bao_server.addr, auth_method="approle", role_id=role_id,
                             secret_id=wrong, approle_mount=vault_sandbox.approle)
    with pytest.raises(VaultAuthError) as err:
        connect(settings)
    message = str(err.value)
    assert "AppRole" in message and vault_sandbox.approle in message
    assert "JENKINS_BROKER_VAULT_SECRET_ID" in message
    assert wrong not in message and wrong not in caplog.text


def test_approle_mount_absent(bao_server):
    settings = VaultSettings(addr=bao_server.addr, auth_method="approle", role_id="r",
                             secret_id="s", approle_mount="no-such-approle")
    with pytest.raises(VaultAuthError, match="no-such-approle"):
        login(settings)


# -- Kubernetes ---------------------------------------------------------------------

def _b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _service_account_jwt(namespace: str, name: str, uid: str) -> str:
    # Unsigned in substance: with no public keys configured the auth method does
    # not verify the signature and relies on the TokenReview answer instead.
    claims = {"iss": "kubernetes/serviceaccount",
              "kubernetes.io/serviceaccount/namespace": namespace,
              "kubernetes.io/serviceaccount/service-account.name": name,
              "kubernetes.io/serviceaccount/service-account.uid": uid,
              "sub": f"system:serviceaccount:{namespace}:{name}"}
    return ".".join([_b64({"alg": "RS256", "typ": "JWT"}), _b64(claims), _b64(b"signature")])


@pytest.fixture
def token_review_api():
    """A fake Kubernetes TokenReview endpoint that accepts one JWT."""
    seen: list[dict] = []
    accepted: dict = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append({"path": self.path, "token": body["spec"]["token"]})
            ok = body["spec"]["token"] == accepted.get("jwt")
            status = {"authenticated": ok}
            if ok:
                status["user"] = {"username": accepted["username"], "uid": accepted["uid"]}
            answer_json(self, 201, {"apiVersion": "authentication.k8s.io/v1",
                                    "kind": "TokenReview", "status": status})

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with serving(server) as url:
        yield url, seen, accepted


def test_kubernetes_login(bao_server, vault_sandbox, token_review_api, tmp_path):
    host, seen, accepted = token_review_api
    mount = vault_sandbox.name("k8s")
    c = vault_sandbox.client
    c.sys.enable_auth_method("kubernetes", path=mount)
    # The CA is required by the config but unused: the fake API is plain HTTP.
    ca = trustme.CA().cert_pem.bytes().decode()
    c.write(f"auth/{mount}/config", kubernetes_host=host, kubernetes_ca_cert=ca,
            disable_local_ca_jwt=True)
    policy = vault_sandbox.policy("k8s-broker", 'path "sys/mounts" { capabilities = ["read"] }')
    c.write(f"auth/{mount}/role/broker", bound_service_account_names=["jenkins-broker"],
            bound_service_account_namespaces=["ci"], token_policies=[policy], token_ttl="5m")
    jwt = _service_account_jwt("ci", "jenkins-broker", "uid-1234")
    accepted.update(jwt=jwt, username="system:serviceaccount:ci:jenkins-broker", uid="uid-1234")
    jwt_file = tmp_path / "token"
    jwt_file.write_text(jwt + "\n")

    settings = VaultSettings(addr=bao_server.addr, auth_method="kubernetes", k8s_role="broker",
                             k8s_mount=mount, k8s_jwt_path=str(jwt_file))
    client, result = connect(settings)
    assert result.method == "kubernetes" and policy in result.policies and result.ttl == 300
    assert seen and seen[-1] == {"path": "/apis/authentication.k8s.io/v1/tokenreviews",
                                 "token": jwt}
    assert client.request("GET", "sys/mounts", action="list mounts")

    # The TokenReview says no: a clear auth error that does not quote the JWT.
    accepted["jwt"] = "something-else"
    with pytest.raises(VaultAuthError) as err:
        login(settings)
    assert "Kubernetes" in str(err.value) and jwt not in str(err.value)


def test_kubernetes_mount_absent_is_a_clear_auth_error(bao_server, tmp_path):
    jwt_file = tmp_path / "token"
    jwt_file.write_text(_service_account_jwt("ci", "jenkins-broker", "uid"))
    settings = VaultSettings(addr=bao_server.addr, auth_method="kubernetes", k8s_role="broker",
                             k8s_jwt_path=str(jwt_file))
    with pytest.raises(VaultAuthError) as err:
        login(settings)
    message = str(err.value)
    assert "auth/kubernetes/login" in message and "JENKINS_BROKER_VAULT_K8S_MOUNT" in message
    assert "role 'broker'" in message


def test_kubernetes_jwt_file_missing(bao_server, tmp_path):
    settings = VaultSettings(addr=bao_server.addr, auth_method="kubernetes", k8s_role="broker",
                             k8s_jwt_path=str(tmp_path / "absent"))
    with pytest.raises(ConfigError, match="JENKINS_BROKER_VAULT_K8S_JWT_PATH"):
        login(settings)


def test_no_token_or_secret_id_in_any_log_line_or_error(bao_server, vault_mounts, caplog):
    """A whole session at DEBUG (hvac, urllib3, ours): login, renewal, KV, authz, failures."""
    caplog.set_level(logging.DEBUG)
    _, role_id, secret_id = _approle(vault_mounts, token_ttl="2s", token_max_ttl="1m")
    settings = VaultSettings(addr=bao_server.addr, auth_method="approle", role_id=role_id,
                             secret_id=secret_id, approle_mount=vault_mounts.approle)
    client, result = connect(settings)
    seen_tokens = {result.token}
    errors: list[str] = []
    with TokenRenewer(client, settings, login_result=result) as renewer:
        kv = KVv2(client, vault_mounts.kv2)
        kv.write("leases/ci-bot/1", {"uuid": "u"})
        kv.read("leases/ci-bot/1")
        authz = CallerAuthz(settings)
        authz.capabilities(result.token, "jenkins/creds/ci-bot")
        authz.lookup_self(result.token)
        for bad in (lambda: authz.lookup_self(result.token + "x"),
                    lambda: KVv2(client, "no-such-mount").read("x"),
                    lambda: login(VaultSettings(addr=bao_server.addr, auth_method="approle",
                                                role_id=role_id, secret_id=secret_id + "x",
                                                approle_mount=vault_mounts.approle))):
            try:
                bad()
            except VaultError as exc:
                errors.append(str(exc))
        deadline = time.monotonic() + 3
        while renewer.renewals < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        seen_tokens.add(client.token)
    assert renewer.renewals >= 1 and len(errors) == 3
    text = caplog.text + "\n".join(errors)
    for secret in (*seen_tokens, secret_id, secret_id + "x", result.token + "x"):
        assert secret not in text
