"""The built plugin file: one reproducible file of pure Python, refusing wrong starts at
once, and speaking the protocol to a host written here in Python (OpenBao's part: the
handshake, mutual TLS, the broker stream, a Storage service to dial back, Shutdown)."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import time
import zipfile

import pytest
from grpclib.client import Channel, UnaryUnaryMethod
from grpclib.config import Configuration
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from grpclib.server import Server

from jenkins_broker.vaultplugin.build import build_plugin
from jenkins_broker.vaultplugin.handshake import MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE, parse_handshake_line
from jenkins_broker.vaultplugin.proto import (
    backend_grpc,
    go_plugin_grpc,
    go_plugin_pb2,
    plugin_info_grpc,
    plugin_info_pb2,
    plugin_version_grpc,
    plugin_version_pb2,
)
from jenkins_broker.vaultplugin.proto import backend_pb2 as pb
from jenkins_broker.vaultplugin.storage import MemoryStorage
from jenkins_broker.vaultplugin.tlscert import Identity, generate_identity


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_plugin(tmp_path_factory.mktemp("plugin"))


def test_the_file_is_reproducible_and_pure_python(built, tmp_path):
    again = build_plugin(tmp_path)
    assert again.sha256 == built.sha256
    data = built.path.read_bytes()
    assert data.startswith(f"#!{built.python} -IS\n".encode())
    assert os.access(built.path, os.X_OK)
    with zipfile.ZipFile(built.path) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read("jenkins_broker_plugin.json"))
    assert "__main__.py" in names and "jenkins_broker/vaultplugin/backend.py" in names
    assert not [n for n in names if n.endswith((".so", ".pyd"))]
    assert not [n for n in names if n.startswith(("jenkins_broker/web/", "jenkins_broker/fakejenkins/"))]
    assert any(n.startswith("licenses/grpclib/") for n in names)
    assert {"grpclib", "protobuf", "urllib3", "certifi", "ecdsa"} <= set(manifest["dependencies"])
    assert "requests" not in manifest["dependencies"]  # the engine talks HTTP on urllib3


@pytest.mark.parametrize("extra", [
    {},
    {MAGIC_COOKIE_KEY: "wrong"},
    {"VAULT_DATABASE_PLUGIN": "926a0820-aea2-be28-51d6-83cdf00e8edb", "PLUGIN_PROTOCOL_VERSIONS": "5"},
])
def test_wrong_starts_exit_1_fast(built, extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "PLUGIN_"))}
    started = time.monotonic()
    result = subprocess.run([str(built.path)], env={**env, **extra}, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and result.stdout == ""
    assert time.monotonic() - started < 2


# -- a host in Python -----------------------------------------------------------------------------

class HostStorage(backend_grpc.StorageBase):
    """OpenBao's side of pb.Storage, over a MemoryStorage."""

    def __init__(self):
        self.memory = MemoryStorage()

    async def Get(self, stream):
        key = (await stream.recv_message()).key
        value = self.memory.get(key)
        await stream.send_message(pb.StorageGetReply(entry=pb.StorageEntry(key=key, value=value))
                                  if value is not None else pb.StorageGetReply())

    async def Put(self, stream):
        entry = (await stream.recv_message()).entry
        self.memory.put(entry.key, entry.value)
        await stream.send_message(pb.StoragePutReply())

    async def Delete(self, stream):
        self.memory.delete((await stream.recv_message()).key)
        await stream.send_message(pb.StorageDeleteReply())

    async def List(self, stream):
        prefix = (await stream.recv_message()).prefix
        await stream.send_message(pb.StorageListReply(keys=self.memory.list(prefix)))


def _context(identity: Identity, peer_pem: str, *, server: bool, folder) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    path = folder / ("host-server.pem" if server else "host-client.pem")
    path.write_text(identity.key_pem + identity.cert_pem)
    context.load_cert_chain(path)
    context.load_verify_locations(cadata=peer_pem)
    if server:
        context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["h2"])
    return context


async def _host_session(line: str, host: Identity, folder, jenkins_url: str, token: str) -> dict:
    fields = parse_handshake_line(line)
    padded = fields["cert"] + "=" * (-len(fields["cert"]) % 4)
    plugin_pem = ssl.DER_cert_to_PEM_cert(__import__("base64").b64decode(padded))
    channel = Channel(path=fields["address"], ssl=_context(host, plugin_pem, server=False, folder=folder),
                      config=Configuration(ssl_target_name_override="localhost"))
    storage_server = Server([HostStorage()])
    storage_path = str(folder / "storage.sock")
    await storage_server.start(path=storage_path, ssl=_context(host, plugin_pem, server=True, folder=folder))
    seen = {}
    try:
        backend = backend_grpc.BackendStub(channel)
        seen["multiplexed"] = (await plugin_info_grpc.PluginMultiplexingStub(channel).MultiplexingSupport(
            plugin_info_pb2.MultiplexingSupportRequest())).supported
        seen["version"] = (await plugin_version_grpc.PluginVersionStub(channel).Version(
            plugin_version_pb2.Empty())).plugin_version
        async with go_plugin_grpc.GRPCBrokerStub(channel).StartStream.open() as broker:
            await broker.send_message(go_plugin_pb2.ConnInfo(service_id=7, network="unix", address=storage_path))
            await backend.Setup(pb.SetupArgs(broker_id=7, Config={"plugin_name": "jenkins"}))
            seen["type"] = (await backend.Type(pb.Empty())).type
            seen["special"] = list((await backend.SpecialPaths(pb.Empty())).paths.seal_wrap_storage)
            seen["init_err"] = (await backend.Initialize(pb.InitializeArgs())).HasField("err")

            async def call(operation, path, data=None):
                reply = await backend.HandleRequest(pb.HandleRequestArgs(request=pb.Request(
                    operation=operation, path=path, data=json.dumps(data or {}))))
                if reply.HasField("err"):
                    return reply.err
                return json.loads(reply.response.data) if reply.HasField("response") else None

            await call("update", "config", {"url": jenkins_url, "username": "ci-bot", "token": token})
            await call("update", "roles/ci-bot", {"jenkins_user": "ci-bot", "strategy": "user-token"})
            seen["config"] = await call("read", "config")
            seen["creds"] = await call("read", "creds/ci-bot")
            seen["missing"] = await call("read", "creds/nope")
            seen["exists"] = (await backend.HandleExistenceCheck(pb.HandleExistenceCheckArgs(
                request=pb.Request(operation="update", path="roles/ci-bot")))).exists
            with pytest.raises(GRPCError) as unknown:
                await UnaryUnaryMethod(channel, "/no.Such/Method", go_plugin_pb2.Empty, go_plugin_pb2.Empty)(
                    go_plugin_pb2.Empty())
            seen["unknown"] = unknown.value.status
            await backend.Cleanup(pb.Empty())
            await broker.end()
        await go_plugin_grpc.GRPCControllerStub(channel).Shutdown(go_plugin_pb2.Empty())
    finally:
        channel.close()
        storage_server.close()
        await storage_server.wait_closed()
    return seen


def test_the_protocol_with_a_python_host(built, tmp_path, fake_jenkins):
    token = fake_jenkins.add_token("ci-bot", "bootstrap")[1]
    host = generate_identity()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "PLUGIN_"))}
    env.update({MAGIC_COOKIE_KEY: MAGIC_COOKIE_VALUE, "PLUGIN_PROTOCOL_VERSIONS": "5",
                "PLUGIN_CLIENT_CERT": host.cert_pem, "PLUGIN_UNIX_SOCKET_DIR": str(tmp_path)})
    started = time.monotonic()
    process = subprocess.Popen([str(built.path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        line = process.stdout.readline()
        handshake = time.monotonic() - started
        seen = asyncio.run(asyncio.wait_for(_host_session(line, host, tmp_path, fake_jenkins.url, token), 30))
        assert process.wait(10) == 0, "Shutdown must end the process"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert handshake < 5
    assert seen["multiplexed"] is False and seen["version"] == "" and seen["type"] == 1
    assert seen["special"] == ["config"] and seen["init_err"] is False
    assert seen["config"]["username"] == "ci-bot" and token not in json.dumps(seen["config"])
    assert seen["creds"]["username"] == "ci-bot" and seen["creds"]["token"].startswith("11")
    assert seen["missing"].err_type == 3 and seen["missing"].err_code == 404
    assert seen["exists"] is True
    assert seen["unknown"] == Status.UNIMPLEMENTED
    assert not list(tmp_path.glob("plugin*")), "the plugin's socket must be removed"
    stderr = process.stderr.read()
    assert "listening on" in stderr and token not in stderr and seen["creds"]["token"] not in stderr
