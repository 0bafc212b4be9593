"""Every MilvusService RPC answers, in its own response type, at once.

An empty request of each of the service's RPCs gets a response that parses
as the RPC's own type, within a short deadline and without a gRPC error
(which SDKs retry for minutes): a real answer or a Milvus status in the
field the type uses for it.  The two response types without a status field
(Dummy, GetReplicateInfo) answer with a value; of the streaming RPCs,
DumpMessages streams one status, and CreateReplicateStream, whose messages
carry no status, ends with ``UNIMPLEMENTED``.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import message_factory
from pymilvus.grpc_gen import common_pb2, milvus_pb2

SERVICE = milvus_pb2.DESCRIPTOR.services_by_name["MilvusService"]
DEADLINE = 10.0
UNARY = [m for m in SERVICE.methods if not m.client_streaming and not m.server_streaming]


@pytest.fixture(scope="module")
def channel(server) -> Iterator[grpc.Channel]:  # type: ignore[no-untyped-def]
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as chan:
        yield chan


def _path(method: object) -> str:
    return f"/{SERVICE.full_name}/{method.name}"  # type: ignore[attr-defined]


def _status(response: object) -> common_pb2.Status | None:
    if isinstance(response, common_pb2.Status):
        return response
    for field in response.DESCRIPTOR.fields:  # type: ignore[attr-defined]
        if field.message_type is common_pb2.Status.DESCRIPTOR:
            return getattr(response, field.name)  # type: ignore[no-any-return]
    return None


def test_the_service_has_144_rpcs() -> None:
    assert len(SERVICE.methods) == 144


@pytest.mark.parametrize("method", UNARY, ids=lambda m: m.name)
def test_unary_rpc_answers_in_its_own_type(channel: grpc.Channel, method: object) -> None:
    request_cls = message_factory.GetMessageClass(method.input_type)  # type: ignore[attr-defined]
    response_cls = message_factory.GetMessageClass(method.output_type)  # type: ignore[attr-defined]
    call = channel.unary_unary(
        _path(method),
        request_serializer=request_cls.SerializeToString,
        response_deserializer=response_cls.FromString,
    )
    response = call(request_cls(), timeout=DEADLINE)
    assert isinstance(response, response_cls)
    status = _status(response)
    if status is None:
        assert method.name in ("Dummy", "GetReplicateInfo")  # type: ignore[attr-defined]
    elif status.code == 10:
        assert "is not supported by Sluice" in status.reason
        assert method.name in status.reason  # type: ignore[attr-defined]


def test_dummy_answers_like_milvus(channel: grpc.Channel) -> None:
    call = channel.unary_unary(
        f"/{SERVICE.full_name}/Dummy",
        request_serializer=milvus_pb2.DummyRequest.SerializeToString,
        response_deserializer=milvus_pb2.DummyResponse.FromString,
    )
    failed = call(milvus_pb2.DummyRequest(request_type="nonsense"), timeout=DEADLINE)
    assert failed.response == '{"status": "fail"}'


def test_dump_messages_streams_one_status(channel: grpc.Channel) -> None:
    call = channel.unary_stream(
        f"/{SERVICE.full_name}/DumpMessages",
        request_serializer=milvus_pb2.DumpMessagesRequest.SerializeToString,
        response_deserializer=milvus_pb2.DumpMessagesResponse.FromString,
    )
    responses = list(call(milvus_pb2.DumpMessagesRequest(), timeout=DEADLINE))
    assert len(responses) == 1
    assert responses[0].status.code == 10
    assert "DumpMessages is not supported by Sluice" in responses[0].status.reason


def test_replicate_stream_ends_unimplemented(channel: grpc.Channel) -> None:
    call = channel.stream_stream(
        f"/{SERVICE.full_name}/CreateReplicateStream",
        request_serializer=milvus_pb2.ReplicateRequest.SerializeToString,
        response_deserializer=milvus_pb2.ReplicateResponse.FromString,
    )
    with pytest.raises(grpc.RpcError) as info:
        list(call(iter([milvus_pb2.ReplicateRequest()]), timeout=DEADLINE))
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "CreateReplicateStream is not supported by Sluice" in (info.value.details() or "")
