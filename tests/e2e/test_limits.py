"""Milvus's quotas and limits: DML/DQL/DDL rates, collection and field counts, message sizes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from access_helpers import write_toml
from helpers import (
    RATE_LIMIT,
    RawMilvus,
    SluiceProcess,
    assert_ok,
    assert_status,
    int64_field,
    milvus_error,
    vector_field,
)
from pymilvus import DataType, MilvusClient
from pymilvus.grpc_gen import milvus_pb2, schema_pb2

RATE_REFUSAL = "request is rejected by grpc RateLimiter middleware, please retry later: "


def _server(folder: Path, text: str) -> SluiceProcess:
    return SluiceProcess(folder / "data", config=write_toml(folder / "sluice.toml", text)).start()


@pytest.fixture(scope="module")
def rated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SluiceProcess]:
    proc = _server(
        tmp_path_factory.mktemp("rates"),
        "[quota]\n"
        "dml_enabled = true\ndml_insert_rate = 0.001\n"
        "dql_enabled = true\ndql_query_rate = 0.2\n"
        "ddl_enabled = true\nddl_collection_rate = 0.2\n",
    )
    try:
        yield proc
    finally:
        proc.kill()


def _schema() -> schema_pb2.CollectionSchema:
    return schema_pb2.CollectionSchema(
        name="rated",
        fields=[
            schema_pb2.FieldSchema(
                fieldID=100, name="id", data_type=schema_pb2.DataType.Int64, is_primary_key=True
            ),
            schema_pb2.FieldSchema(
                fieldID=101,
                name="vector",
                data_type=schema_pb2.DataType.FloatVector,
                type_params=[{"key": "dim", "value": "4"}],
            ),
        ],
    )


def test_dml_dql_and_ddl_rates_refuse_with_code_8(rated: SluiceProcess) -> None:
    raw = RawMilvus(rated)
    assert_ok(raw.create_collection("rated", _schema()))
    second = raw.create_collection("rated_too", _schema())
    assert_status(
        second, 8, reason=f"{RATE_REFUSAL}rate limit exceeded[rate=0.2]", legacy=RATE_LIMIT
    )
    rows = np.random.default_rng(0).random((200, 4), dtype=np.float32)
    fields = [int64_field("id", list(range(200))), vector_field("vector", rows)]
    assert_ok(raw.insert("rated", fields, 200).status)
    refused = raw.insert("rated", fields, 200)
    assert_status(
        refused.status,
        8,
        reason=f"{RATE_REFUSAL}rate limit exceeded[rate=1048.576]",
        legacy=RATE_LIMIT,
    )
    query = milvus_pb2.QueryRequest(collection_name="rated", expr="id >= 0", output_fields=["id"])
    first = raw.call("Query", query)
    assert first.status.code != 8
    assert_status(raw.call("Query", query).status, 8, legacy=RATE_LIMIT)
    raw.close()


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SluiceProcess]:
    proc = _server(
        tmp_path_factory.mktemp("limits"),
        "[quota]\nmax_collection_num = 2\nmax_field_num = 3\n"
        "[grpc]\nserver_max_recv_size = 65536\nserver_max_send_size = 65536\n",
    )
    try:
        yield proc
    finally:
        proc.kill()


def test_collection_count_limit(limited: SluiceProcess) -> None:
    client = MilvusClient(limited.uri)
    client.create_collection("count_a", dimension=4)
    client.create_collection("count_b", dimension=4)
    client.create_collection("count_a", dimension=4)  # same schema again: not a new collection
    with milvus_error(
        102, message="exceeded the limit number of collections[dbName=default][limit=2]"
    ):
        client.create_collection("count_c", dimension=4)
    client.drop_collection("count_b")
    client.create_collection("count_c", dimension=4)
    client.drop_collection("count_a")
    client.drop_collection("count_c")
    client.close()


def test_field_count_limit(limited: SluiceProcess) -> None:
    client = MilvusClient(limited.uri)
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=4)
    schema.add_field("a", DataType.INT32)
    schema.add_field("b", DataType.INT32)
    with milvus_error(65535, message="maximum field's number should be limited to 3"):
        client.create_collection("too_many_fields", schema=schema)
    client.close()


def test_message_size_limits(limited: SluiceProcess) -> None:
    client = MilvusClient(limited.uri)
    client.create_collection("sized", dimension=64)
    rows = [{"id": i, "vector": [0.5] * 64} for i in range(400)]  # about 100 KB
    with pytest.raises(grpc.RpcError) as info:
        client.insert("sized", rows)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in str(info.value.details())
    for start in range(0, 400, 100):
        client.insert("sized", rows[start : start + 100])
    with pytest.raises(grpc.RpcError) as sent:
        client.query("sized", filter="id >= 0", output_fields=["vector"], limit=400)
    assert sent.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in str(sent.value.details())
    client.drop_collection("sized")
    client.close()
