"""Clustering keys in the schema through pymilvus, raw gRPC and REST: kept, shown and checked.

A field marked ``is_clustering_key`` keeps the mark through CreateCollection,
DescribeCollection, AddCollectionField and a restart.  Refusals carry Milvus
2.6's codes and wording (the proxy's ``validateClusteringKey`` and its
AddCollectionField checks).  Schemas pymilvus would refuse before sending are
sent as raw ``CreateCollection`` requests, so the server's own answer is
what is checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import requests
from helpers import RawMilvus, SluiceProcess, assert_status, milvus_error
from pymilvus import DataType, MilvusClient
from pymilvus.grpc_gen import common_pb2, schema_pb2

DIM = 8
STRONG = {"consistency_level": "Strong"}
PB = schema_pb2.DataType


def _params(**values: int) -> list[common_pb2.KeyValuePair]:
    return [common_pb2.KeyValuePair(key=k, value=str(v)) for k, v in values.items()]


def _pk() -> schema_pb2.FieldSchema:
    return schema_pb2.FieldSchema(name="id", data_type=PB.Int64, is_primary_key=True)


def _vector(name: str = "vector", **flags: bool) -> schema_pb2.FieldSchema:
    return schema_pb2.FieldSchema(
        name=name, data_type=PB.FloatVector, type_params=_params(dim=DIM), **flags
    )


def _key(name: str, data_type: int, **extra: Any) -> schema_pb2.FieldSchema:
    return schema_pb2.FieldSchema(name=name, data_type=data_type, is_clustering_key=True, **extra)


def _raw_schema(
    name: str,
    fields: Sequence[schema_pb2.FieldSchema],
    structs: Sequence[schema_pb2.StructArrayFieldSchema] = (),
) -> schema_pb2.CollectionSchema:
    return schema_pb2.CollectionSchema(
        name=name, fields=list(fields), struct_array_fields=list(structs)
    )


def _described_flags(client: MilvusClient, name: str) -> dict[str, tuple[bool, bool]]:
    """``(is_clustering_key, is_partition_key)`` of each field, as pymilvus describes them."""
    fields = client.describe_collection(name)["fields"]
    return {
        f["name"]: (bool(f.get("is_clustering_key")), bool(f.get("is_partition_key")))
        for f in fields
    }


def _create_with_key(client: MilvusClient, name: str, key_type: DataType) -> None:
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    if key_type == DataType.VARCHAR:
        schema.add_field("key", DataType.VARCHAR, max_length=64, is_clustering_key=True)
    else:
        schema.add_field("key", key_type, is_clustering_key=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index)


def _create_plain(client: MilvusClient, name: str) -> None:
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    client.create_collection(name, schema=schema)


@pytest.mark.parametrize(
    ("name", "key_type", "value"),
    [("ck_varchar", DataType.VARCHAR, "k7"), ("ck_int64", DataType.INT64, 7)],
)
def test_clustering_key_is_kept_and_described(
    client: MilvusClient, raw: RawMilvus, name: str, key_type: DataType, value: object
) -> None:
    _create_with_key(client, name, key_type)
    assert _described_flags(client, name) == {
        "id": (False, False),
        "key": (True, False),
        "vector": (False, False),
    }
    described = raw.describe(name)
    assert [f.is_clustering_key for f in described.schema.fields] == [False, True, False]
    # The key is an ordinary field for reads and writes.
    client.insert(name, [{"id": 1, "key": value, "vector": [0.5] * DIM}])
    got = client.query(name, "id == 1", output_fields=["key"], **STRONG)
    assert got == [{"id": 1, "key": value}]


def test_clustering_keys_survive_a_restart(sluice_server: SluiceProcess) -> None:
    server = sluice_server  # a server of its own: the module's keeps running
    first = MilvusClient(server.uri)
    try:
        _create_with_key(first, "ck_kept_str", DataType.VARCHAR)
        _create_with_key(first, "ck_kept_int", DataType.INT64)
        _create_plain(first, "ck_kept_added")
        first.add_collection_field(
            "ck_kept_added", "added", DataType.INT32, nullable=True, is_clustering_key=True
        )
    finally:
        first.close()
    server.restart()
    fresh = MilvusClient(server.uri)
    try:
        assert _described_flags(fresh, "ck_kept_str")["key"] == (True, False)
        assert _described_flags(fresh, "ck_kept_int")["key"] == (True, False)
        assert _described_flags(fresh, "ck_kept_added") == {
            "id": (False, False),
            "vector": (False, False),
            "added": (True, False),
        }
        # Still one clustering key: a second one is refused after the restart too.
        with milvus_error(
            1100,
            message="already has another clustering key field, field name: more: invalid parameter",
        ):
            fresh.add_collection_field(
                "ck_kept_added", "more", DataType.INT64, nullable=True, is_clustering_key=True
            )
    finally:
        fresh.close()


@pytest.mark.parametrize(
    ("field", "type_name"),
    [
        (_key("flag", PB.Bool), "Bool"),
        (_key("doc", PB.JSON), "JSON"),
        (
            _key("tags", PB.Array, element_type=PB.Int64, type_params=_params(max_capacity=4)),
            "Array",
        ),
        (_key("bits", PB.BinaryVector, type_params=_params(dim=16)), "BinaryVector"),
        (_key("sparse", PB.SparseFloatVector), "SparseFloatVector"),
        (_key("when", PB.Timestamptz), "Timestamptz"),
        (_key("shape", PB.Geometry), "Geometry"),
        (_key("half", PB.Float16Vector, type_params=_params(dim=DIM)), "Float16Vector"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_unsupported_clustering_key_types_are_refused(
    raw: RawMilvus, client: MilvusClient, field: schema_pb2.FieldSchema, type_name: str
) -> None:
    name = f"ck_bad_{type_name.lower()}"
    status = raw.create_collection(name, _raw_schema(name, [_pk(), field, _vector()]))
    assert_status(
        status,
        105,
        reason=f"clustering key field {field.name} has unsupported data type {type_name}: "
        f"illegal collection schema[collection={name}]",
    )
    assert not client.has_collection(name)


def test_vector_clustering_key_is_refused(client: MilvusClient, raw: RawMilvus) -> None:
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM, is_clustering_key=True)
    with milvus_error(107, message="vector clustering key not allowed[collection=ck_vector]"):
        client.create_collection("ck_vector", schema=schema)
    assert not client.has_collection("ck_vector")
    # The answer is an input error, as Milvus tags it.
    status = raw.create_collection(
        "ck_vector", _raw_schema("ck_vector", [_pk(), _vector(is_clustering_key=True)])
    )
    assert_status(status, 107, reason="vector clustering key not allowed[collection=ck_vector]")
    assert status.extra_info.get("is_input_error") == "true"


def test_two_clustering_keys_are_refused(raw: RawMilvus, client: MilvusClient) -> None:
    name = "ck_two"
    fields = [
        _pk(),
        _key("a", PB.Int64),
        _key("b", PB.VarChar, type_params=_params(max_length=16)),
        _vector(),
    ]
    status = raw.create_collection(name, _raw_schema(name, fields))
    assert_status(
        status,
        105,
        reason="there are more than one clustering key, field name = a, b: "
        f"illegal collection schema[collection={name}]",
    )
    assert not client.has_collection(name)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        # Each field's type is checked before the next field is looked at.
        (
            [_pk(), _key("a", PB.Int64), _key("flag", PB.Bool), _vector()],
            "clustering key field flag has unsupported data type Bool: "
            "illegal collection schema[collection=ck_order]",
        ),
        # A vector key is refused as such even when it is the second key.
        (
            [_pk(), _key("a", PB.Int64), _vector(is_clustering_key=True)],
            "vector clustering key not allowed[collection=ck_order]",
        ),
        # ... and before a later second key is seen.
        (
            [_pk(), _vector(is_clustering_key=True), _key("a", PB.Int64)],
            "vector clustering key not allowed[collection=ck_order]",
        ),
    ],
    ids=["type-before-count", "vector-before-count", "first-vector"],
)
def test_refusals_come_in_milvus_order(
    raw: RawMilvus, fields: list[schema_pb2.FieldSchema], reason: str
) -> None:
    status = raw.create_collection("ck_order", _raw_schema("ck_order", fields))
    code = 107 if reason.startswith("vector") else 105
    assert_status(status, code, reason=reason)


def test_struct_sub_field_cannot_be_the_clustering_key(
    raw: RawMilvus, client: MilvusClient
) -> None:
    name = "ck_struct"
    struct = schema_pb2.StructArrayFieldSchema(
        name="chunks",
        fields=[
            schema_pb2.FieldSchema(
                name="text",
                data_type=PB.Array,
                element_type=PB.VarChar,
                type_params=_params(max_length=32, max_capacity=4),
                is_clustering_key=True,
            ),
            schema_pb2.FieldSchema(
                name="emb",
                data_type=PB.ArrayOfVector,
                element_type=PB.FloatVector,
                type_params=_params(dim=DIM, max_capacity=4),
            ),
        ],
    )
    status = raw.create_collection(name, _raw_schema(name, [_pk(), _vector()], [struct]))
    assert_status(
        status,
        105,
        reason="clustering key is not supported for struct field, field name = text: "
        f"illegal collection schema[collection={name}]",
    )
    assert not client.has_collection(name)


def test_partition_key_may_also_be_the_clustering_key(client: MilvusClient) -> None:
    name = "ck_both"
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("tenant", DataType.INT64, is_partition_key=True, is_clustering_key=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index, num_partitions=4)
    assert _described_flags(client, name)["tenant"] == (True, True)
    assert len(client.list_partitions(name)) == 4
    client.insert(name, [{"id": i, "tenant": i % 3, "vector": [float(i)] * DIM} for i in range(9)])
    count = client.query(name, "tenant == 2", output_fields=["count(*)"], **STRONG)
    assert count[0]["count(*)"] == 3


def test_added_field_may_become_the_only_clustering_key(client: MilvusClient) -> None:
    name = "ck_added"
    _create_plain(client, name)
    with milvus_error(
        1100, message="clustering key field flag has unsupported data type Bool: invalid parameter"
    ):
        client.add_collection_field(
            name, "flag", DataType.BOOL, nullable=True, is_clustering_key=True
        )
    client.add_collection_field(
        name, "score", DataType.DOUBLE, nullable=True, is_clustering_key=True
    )
    assert _described_flags(client, name)["score"] == (True, False)
    with milvus_error(
        1100,
        message="already has another clustering key field, field name: rank: invalid parameter",
    ):
        client.add_collection_field(
            name, "rank", DataType.INT64, nullable=True, is_clustering_key=True
        )
    # Neither refused field was added; an ordinary one still may be.
    client.add_collection_field(name, "rank", DataType.INT64, nullable=True)
    assert _described_flags(client, name) == {
        "id": (False, False),
        "vector": (False, False),
        "score": (True, False),
        "rank": (False, False),
    }


def test_a_created_key_blocks_an_added_one(client: MilvusClient) -> None:
    _create_with_key(client, "ck_has_key", DataType.VARCHAR)
    with milvus_error(
        1100,
        message="already has another clustering key field, field name: extra: invalid parameter",
    ):
        client.add_collection_field(
            "ck_has_key", "extra", DataType.INT64, nullable=True, is_clustering_key=True
        )
    assert "extra" not in _described_flags(client, "ck_has_key")


def _rest(server: SluiceProcess, path: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = requests.post(f"{server.http_uri}/v2/vectordb{path}", json=body, timeout=30)
    assert reply.status_code == 200, reply.text
    answer: dict[str, Any] = reply.json()
    return answer


def test_rest_carries_the_clustering_key(server: SluiceProcess) -> None:
    def body(name: str, key_type: str) -> dict[str, Any]:
        return {
            "collectionName": name,
            "schema": {
                "fields": [
                    {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
                    {
                        "fieldName": "key",
                        "dataType": key_type,
                        "isClusteringKey": True,
                        "elementTypeParams": {"max_length": 32},
                    },
                    {
                        "fieldName": "vector",
                        "dataType": "FloatVector",
                        "elementTypeParams": {"dim": DIM},
                    },
                ]
            },
        }

    created = _rest(server, "/collections/create", body("ck_rest", "VarChar"))
    assert created["code"] == 0, created
    described = _rest(server, "/collections/describe", {"collectionName": "ck_rest"})
    keys = {f["name"]: f["clusteringKey"] for f in described["data"]["fields"]}
    assert keys == {"id": False, "key": True, "vector": False}
    refused = _rest(server, "/collections/create", body("ck_rest_bad", "Bool"))
    assert refused["code"] == 105
    assert refused["message"] == (
        "clustering key field key has unsupported data type Bool: "
        "illegal collection schema[collection=ck_rest_bad]"
    )
