"""Every hvac and requests exception becomes a jenkins_broker VaultError, and
real failures of a real server map to the right class."""

import inspect
import socket
import threading

import hvac.exceptions as hvac_exc
import pytest
import requests

from jenkins_broker import errors
from jenkins_broker.vault import KVv2, VaultSettings, connect, login, new_client
from jenkins_broker.vault.translate import HVAC_ERRORS, error_for_status, scrub, translate
from tests.support.kv import wait_until_kv2_ready

ARGS = dict(addr="http://vault:8200", path="jenkins-broker/data/x", action="read")


def _hvac_classes():
    return [cls for _, cls in inspect.getmembers(hvac_exc, inspect.isclass)
            if issubclass(cls, hvac_exc.VaultError)]


def _requests_classes():
    return [cls for _, cls in inspect.getmembers(requests.exceptions, inspect.isclass)
            if issubclass(cls, requests.RequestException)]


def test_every_hvac_exception_class_is_in_the_table():
    missing = [cls.__name__ for cls in _hvac_classes() if cls not in HVAC_ERRORS]
    assert not missing, f"hvac exception classes with no mapping: {missing}"


@pytest.mark.parametrize("cls", _hvac_classes(), ids=lambda c: c.__name__)
@pytest.mark.parametrize("kind", ["op", "login", "caller"])
def test_every_hvac_exception_translates(cls, kind):
    err = translate(cls("boom", errors=["boom"], method="get", url="http://vault/v1/x"),
                    kind=kind, **ARGS)
    assert isinstance(err, errors.VaultError)
    assert "http://vault:8200/v1/jenkins-broker/data/x" in str(err)


@pytest.mark.parametrize("cls", _requests_classes(), ids=lambda c: c.__name__)
def test_every_requests_exception_translates_to_unavailable(cls):
    try:
        exc = cls("boom")
    except TypeError:  # JSONDecodeError wants (msg, doc, pos)
        exc = cls("boom", "<html>", 0)
    err = translate(exc, **ARGS)
    assert isinstance(err, errors.VaultUnavailable)


def test_foreign_non_http_exceptions_are_not_swallowed():
    with pytest.raises(TypeError):
        translate(KeyError("x"), **ARGS)


@pytest.mark.parametrize("status,kind,expected", [
    (400, "op", errors.VaultInvalidRequest),
    (403, "op", errors.VaultForbidden),
    (401, "caller", errors.VaultForbidden),
    (403, "caller", errors.VaultForbidden),
    (403, "login", errors.VaultAuthError),
    (400, "login", errors.VaultAuthError),
    (404, "op", errors.VaultNotFound),
    (429, "op", errors.VaultUnavailable),
    (500, "op", errors.VaultUnavailable),
    (501, "login", errors.VaultUnavailable),
    (502, "op", errors.VaultUnavailable),
    (503, "login", errors.VaultUnavailable),
    (418, "op", errors.VaultError),
])
def test_status_table(status, kind, expected):
    err = error_for_status(status, ["x"], kind=kind, **ARGS)
    assert type(err) is expected
    assert err.status == status and err.path == ARGS["path"]


def test_cas_mismatch_is_a_conflict():
    err = error_for_status(400, ["check-and-set parameter did not match the current version"],
                           **ARGS)
    assert isinstance(err, errors.VaultConflict)


def test_scrub_masks_tokens_and_named_secrets():
    text = "bad s.1ANLIUW9jzfnIZvq2HXAxbpP and hvs.CAESIJ0123456789abcdefghij and my-secret-id"
    out = scrub(text, ["my-secret-id"])
    assert "s.1ANLIUW9" not in out and "hvs.CAES" not in out and "my-secret-id" not in out


def test_vault_error_text_is_scrubbed_in_messages():
    err = error_for_status(403, ["token s.1ANLIUW9jzfnIZvq2HXAxbpP is bad"], kind="caller", **ARGS)
    assert "1ANLIUW9" not in str(err)


# -- against a real server ------------------------------------------------------------

@pytest.mark.integration
def test_sealed_server_is_unavailable(bao_factory):
    bao = bao_factory()
    client = bao.client()
    client.sys.enable_secrets_engine("kv", path="state", options={"version": "2"})
    kv = KVv2(bao.vault_client(), "state")
    wait_until_kv2_ready(kv)  # done before the seal: else it runs again at unseal, refusing the read
    bao.seal()
    with pytest.raises(errors.VaultUnavailable, match="sealed"):
        kv.read("x")
    # A login against a sealed Vault is an outage, not a bad credential.
    with pytest.raises(errors.VaultUnavailable):
        login(VaultSettings(addr=bao.addr, token="root"))
    bao.unseal()
    assert kv.read("x") is None


@pytest.mark.integration
def test_stopped_server_is_unavailable(bao_factory):
    bao = bao_factory()
    client, _ = connect(VaultSettings(addr=bao.addr, token="root"))
    bao.stop()
    with pytest.raises(errors.VaultUnavailable, match="could not connect"):
        KVv2(client, "secret").read("x")


@pytest.mark.integration
def test_timeout_is_unavailable():
    # A listener that accepts and never answers.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    addr = f"http://127.0.0.1:{sock.getsockname()[1]}"
    held = []
    threading.Thread(target=lambda: held.append(sock.accept()), daemon=True).start()
    try:
        client = new_client(VaultSettings(addr=addr, token="t", timeout=0.3))
        with pytest.raises(errors.VaultUnavailable, match="timed out|timeout"):
            KVv2(client, "jenkins-broker").read("x")
    finally:
        sock.close()


@pytest.mark.integration
def test_bad_token(bao_server, vault_mounts):
    bad = "s.NotARealTokenButLooksLikeOne"
    client = new_client(VaultSettings(addr=bao_server.addr, token=bad), bad)
    with pytest.raises(errors.VaultForbidden) as err:
        KVv2(client, vault_mounts.kv2).read("x")
    assert bad not in str(err.value)
    with pytest.raises(errors.VaultAuthError) as err:
        login(VaultSettings(addr=bao_server.addr, token=bad))
    assert bad not in str(err.value) and "VAULT_TOKEN" in str(err.value)


@pytest.mark.integration
def test_cas_conflict(vault_mounts):
    kv = vault_mounts.kv2_store()
    v1 = kv.write("roles/ci-bot", {"a": 1}, cas=0)
    with pytest.raises(errors.VaultConflict, match="check-and-set"):
        kv.write("roles/ci-bot", {"a": 2}, cas=0)
    assert kv.write("roles/ci-bot", {"a": 2}, cas=v1) == v1 + 1
    with pytest.raises(errors.VaultConflict):
        kv.write("roles/ci-bot", {"a": 3}, cas=v1)


@pytest.mark.integration
def test_missing_mount_is_not_found(bao_server):
    client = bao_server.vault_client()
    with pytest.raises(errors.VaultNotFound, match="bootstrap"):
        KVv2(client, "no-such-mount").read("x")
    with pytest.raises(errors.VaultNotFound):
        KVv2(client, "no-such-mount").list()


@pytest.mark.parametrize("cls,expected", [
    (hvac_exc.InvalidRequest, errors.VaultInvalidRequest),
    (hvac_exc.Unauthorized, errors.VaultForbidden),
    (hvac_exc.Forbidden, errors.VaultForbidden),
    (hvac_exc.InvalidPath, errors.VaultNotFound),
    (hvac_exc.PreconditionFailed, errors.VaultUnavailable),
    (hvac_exc.RateLimitExceeded, errors.VaultUnavailable),
    (hvac_exc.InternalServerError, errors.VaultUnavailable),
    (hvac_exc.VaultNotInitialized, errors.VaultUnavailable),
    (hvac_exc.BadGateway, errors.VaultUnavailable),
    (hvac_exc.VaultDown, errors.VaultUnavailable),
    (hvac_exc.UnsupportedOperation, errors.VaultInvalidRequest),
    (hvac_exc.ParamValidationError, errors.VaultInvalidRequest),
    (hvac_exc.UnexpectedError, errors.VaultError),
])
def test_hvac_classes_map_as_documented(cls, expected):
    assert type(translate(cls("x", errors=["x"]), **ARGS)) is expected
