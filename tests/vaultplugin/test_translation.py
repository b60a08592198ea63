"""OpenBao's protobuf messages to the engine's requests and back: JSON, nanoseconds, errors."""

from __future__ import annotations

import json

import pytest

from jenkins_broker.vaultplugin.grpcbackend import proto_error, to_proto_response, to_request
from jenkins_broker.vaultplugin.logical import (
    BadRequest,
    LeaseOptions,
    LogicalError,
    NotFound,
    Response,
    Secret,
    UnsupportedOperation,
    UnsupportedPath,
    UpstreamError,
)
from jenkins_broker.vaultplugin.proto import backend_pb2 as pb
from jenkins_broker.vaultplugin.storage import MemoryStorage

NS = 1_000_000_000


def test_request_with_secret():
    message = pb.Request(operation="renew", path="creds/ci-bot", data='{"a": 1}', display_name="token-ci")
    message.secret.lease_options.TTL = 60 * NS
    message.secret.lease_options.MaxTTL = 600 * NS
    message.secret.lease_options.increment = 30 * NS
    message.secret.lease_options.issue_time.seconds = 1_800_000_000
    message.secret.lease_options.issue_time.nanos = 500_000_000
    message.secret.internal_data = '{"secret_type": "jenkins_token"}'
    request = to_request(pb.Request.FromString(message.SerializeToString()), MemoryStorage())
    assert request.operation == "renew" and request.data == {"a": 1} and request.display_name == "token-ci"
    lease = request.secret.lease
    assert (lease.ttl, lease.max_ttl, lease.increment, lease.issue_time) == (60, 600, 30, 1_800_000_000.5)
    assert request.secret.internal_data == {"secret_type": "jenkins_token"}


def test_empty_and_bad_data():
    assert to_request(pb.Request(operation="read", path="config"), MemoryStorage()).data == {}
    assert to_request(pb.Request(operation="read", data="null"), MemoryStorage()).data == {}
    with pytest.raises(BadRequest):
        to_request(pb.Request(operation="update", data="[1]"), MemoryStorage())


def test_response_with_lease():
    response = Response(data={"token": "x"}, warnings=["w"],
                        secret=Secret(lease=LeaseOptions(ttl=90, max_ttl=3600, issue_time=1_800_000_000.25),
                                      internal_data={"k": "v"}))
    out = pb.Response.FromString(to_proto_response(response).SerializeToString())
    assert json.loads(out.data) == {"token": "x"} and list(out.warnings) == ["w"]
    options = out.secret.lease_options
    assert options.TTL == 90 * NS and options.MaxTTL == 3600 * NS and options.renewable
    assert options.issue_time.seconds == 1_800_000_000 and options.issue_time.nanos == 250_000_000
    assert json.loads(out.secret.internal_data) == {"k": "v"}


def test_response_data_is_always_a_json_object():
    assert json.loads(to_proto_response(Response()).data) == {}


@pytest.mark.parametrize("error, err_type, code", [
    (BadRequest("x"), 4, 0), (UnsupportedPath("x"), 6, 0), (UnsupportedOperation("x"), 5, 0),
    (NotFound("x"), 3, 404), (UpstreamError("x"), 3, 502), (LogicalError("x"), 2, 0),
    (RuntimeError("boom"), 2, 0),
])
def test_error_types(error, err_type, code):
    found = proto_error(error)
    assert found.err_type == err_type and found.err_code == code


def test_internal_errors_are_redacted():
    found = proto_error(RuntimeError("token 11" + "a" * 32 + " leaked"))
    assert "aaaa" not in found.err_msg and "<redacted>" in found.err_msg
