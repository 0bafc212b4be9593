"""Collection lifecycle through pymilvus: create (quick and full schema), describe, list, drop.

Expected codes and messages are Milvus's (docs/reference/milvus-behaviour.md §1-2).
"""

from __future__ import annotations

import re

import pytest
from helpers import (
    ILLEGAL_ARGUMENT,
    PLAIN_ERROR,
    UNEXPECTED_ERROR,
    RawMilvus,
    SluiceProcess,
    assert_ok,
    assert_recent_tso,
    assert_status,
    milvus_error,
    vchannel_pattern,
)
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import DescribeCollectionException
from pymilvus.grpc_gen import schema_pb2

# --- quick setup ------------------------------------------------------------------


def test_quick_setup_describe(client: MilvusClient, raw: RawMilvus) -> None:
    client.create_collection("quick", dimension=16, num_shards=2)
    desc = client.describe_collection("quick")

    fields = [(f["field_id"], f["name"], f["type"]) for f in desc["fields"]]
    assert fields == [(100, "id", DataType.INT64), (101, "vector", DataType.FLOAT_VECTOR)]
    assert desc["fields"][0]["is_primary"] is True
    assert desc["fields"][1]["params"]["dim"] == 16
    assert desc["auto_id"] is False
    assert 2**50 < desc["collection_id"] < 2**63
    assert desc["num_shards"] == 2
    assert desc["consistency_level"] == 2  # Bounded
    assert desc["consistency_level_name"] == "Bounded"
    assert desc["enable_dynamic_field"] is True
    assert "$meta" not in {f["name"] for f in desc["fields"]}
    assert desc["num_partitions"] == 1
    assert_recent_tso(desc["created_timestamp"], within=60)

    # The raw response: $meta hidden there too, one vchannel per shard, Milvus names.
    response = raw.describe("quick")
    assert_ok(response.status)
    assert response.schema.enable_dynamic_field
    assert [f.name for f in response.schema.fields] == ["id", "vector"]
    assert response.shards_num == 2
    pattern = vchannel_pattern(response.collectionID)
    shards = sorted(int(pattern.fullmatch(v).group(2)) for v in response.virtual_channel_names)
    assert shards == [0, 1]
    for vchannel, pchannel in zip(
        response.virtual_channel_names, response.physical_channel_names, strict=True
    ):
        assert vchannel.rsplit("_", 1)[0] == pchannel


def test_quick_setup_indexes_and_loads(client: MilvusClient) -> None:
    client.create_collection("quick_loaded", dimension=8)
    assert client.get_load_state("quick_loaded")["state"].name == "Loaded"
    assert client.list_indexes("quick_loaded") == ["vector"]
    index = client.describe_index("quick_loaded", "vector")
    assert index["metric_type"] == "COSINE"
    assert client.describe_collection("quick_loaded")["num_shards"] == 1


def test_quick_setup_string_primary_key(client: MilvusClient) -> None:
    client.create_collection(
        "quick_str", dimension=8, id_type="string", max_length=64, primary_field_name="pk"
    )
    fields = client.describe_collection("quick_str")["fields"]
    assert fields[0]["name"] == "pk"
    assert fields[0]["type"] == DataType.VARCHAR
    assert fields[0]["params"]["max_length"] == 64


# --- full schema --------------------------------------------------------------------


def _all_types_schema(client: MilvusClient, pk_type: DataType, auto_id: bool = False):
    schema = client.create_schema(auto_id=auto_id, enable_dynamic_field=False, description="all")
    if pk_type == DataType.VARCHAR:
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=32)
    else:
        schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("b", DataType.BOOL)
    schema.add_field("i8", DataType.INT8)
    schema.add_field("i16", DataType.INT16)
    schema.add_field("i32", DataType.INT32)
    schema.add_field("i64", DataType.INT64)
    schema.add_field("f", DataType.FLOAT)
    schema.add_field("d", DataType.DOUBLE)
    schema.add_field("s", DataType.VARCHAR, max_length=100)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=32)
    return schema


@pytest.mark.parametrize(
    ("name", "pk_type", "auto_id"),
    [
        ("full_int", DataType.INT64, False),
        ("full_int_auto", DataType.INT64, True),
        ("full_str", DataType.VARCHAR, False),
        ("full_str_auto", DataType.VARCHAR, True),
    ],
)
def test_full_schema(client: MilvusClient, name: str, pk_type: DataType, auto_id: bool) -> None:
    client.create_collection(name, schema=_all_types_schema(client, pk_type, auto_id))
    desc = client.describe_collection(name)
    got = [(f["field_id"], f["name"], f["type"]) for f in desc["fields"]]
    assert got == [
        (100, "pk", pk_type),
        (101, "b", DataType.BOOL),
        (102, "i8", DataType.INT8),
        (103, "i16", DataType.INT16),
        (104, "i32", DataType.INT32),
        (105, "i64", DataType.INT64),
        (106, "f", DataType.FLOAT),
        (107, "d", DataType.DOUBLE),
        (108, "s", DataType.VARCHAR),
        (109, "v", DataType.FLOAT_VECTOR),
    ]
    by_name = {f["name"]: f for f in desc["fields"]}
    assert by_name["pk"]["is_primary"] is True
    assert bool(by_name["pk"].get("auto_id", False)) is auto_id
    assert desc["auto_id"] is auto_id
    assert by_name["s"]["params"]["max_length"] == 100
    assert by_name["v"]["params"]["dim"] == 32
    assert desc["enable_dynamic_field"] is False
    assert desc["description"] == "all"
    assert desc["num_shards"] == 1
    # A schema without index_params is created but not loaded.
    assert client.get_load_state(name)["state"].name == "NotLoad"


def test_create_is_idempotent_with_same_schema(client: MilvusClient) -> None:
    schema = _all_types_schema(client, DataType.INT64)
    client.create_collection("idem", schema=schema, num_shards=2)
    first = client.describe_collection("idem")["collection_id"]
    client.create_collection("idem", schema=_all_types_schema(client, DataType.INT64), num_shards=2)
    assert client.describe_collection("idem")["collection_id"] == first
    assert client.list_collections().count("idem") == 1


@pytest.mark.parametrize(
    "change",
    ["dim", "shards", "extra_field"],
)
def test_create_with_different_schema_fails(client: MilvusClient, change: str) -> None:
    name = f"differs_{change}"
    client.create_collection(name, dimension=8, num_shards=1)
    collection_id = client.describe_collection(name)["collection_id"]
    message = f"create duplicate collection with different parameters, collection: {name}"
    with milvus_error(PLAIN_ERROR, message=message, legacy=UNEXPECTED_ERROR):
        if change == "dim":
            client.create_collection(name, dimension=16)
        elif change == "shards":
            client.create_collection(name, dimension=8, num_shards=2)
        else:
            schema = client.create_schema(enable_dynamic_field=True)
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=8)
            schema.add_field("extra", DataType.INT32)
            client.create_collection(name, schema=schema)
    desc = client.describe_collection(name)
    assert desc["collection_id"] == collection_id
    assert [f["name"] for f in desc["fields"]] == ["id", "vector"]
    assert desc["fields"][1]["params"]["dim"] == 8


# --- list / has / drop ----------------------------------------------------------------


def test_list_has_drop(client: MilvusClient) -> None:
    for name in ("lhd_a", "lhd_b"):
        client.create_collection(name, dimension=4)
    listed = client.list_collections()
    assert {"lhd_a", "lhd_b"} <= set(listed)
    assert client.has_collection("lhd_a") is True
    assert client.has_collection("lhd_never") is False
    assert client.get_load_state("lhd_never")["state"].name == "NotExist"

    client.drop_collection("lhd_a")
    assert client.has_collection("lhd_a") is False
    assert "lhd_a" not in client.list_collections()
    assert "lhd_b" in client.list_collections()
    # Dropping what does not exist (any more) succeeds, as in Milvus.
    client.drop_collection("lhd_a")
    client.drop_collection("lhd_never")

    # The name is free again: a new collection with a new ID.
    old_id = client.describe_collection("lhd_b")["collection_id"]
    client.create_collection("lhd_a", dimension=8)
    assert client.describe_collection("lhd_a")["fields"][1]["params"]["dim"] == 8
    assert client.describe_collection("lhd_a")["collection_id"] != old_id


def test_describe_missing_collection(client: MilvusClient) -> None:
    with pytest.raises(DescribeCollectionException) as info:
        client.describe_collection("never_created")
    assert info.value.code == 100
    assert "can't find collection" in info.value.message
    assert info.value.message == "can't find collection[database=default][collection=never_created]"


def test_unknown_database_from_header(server: SluiceProcess) -> None:
    nope = MilvusClient(server.uri, db_name="nope")
    try:
        with milvus_error(800, message="database not found[database=nope]"):
            nope.list_collections()
        with milvus_error(800, match=r"database not found\[database=nope\]"):
            nope.create_collection("in_nope", dimension=4)
        with milvus_error(800, message="database not found[database=nope]"):
            nope.has_collection("in_nope")
    finally:
        nope.close()
    default = MilvusClient(server.uri, db_name="default")
    try:
        assert "in_nope" not in default.list_collections()
    finally:
        default.close()


def test_default_database_header_is_default(server: SluiceProcess, client: MilvusClient) -> None:
    client.create_collection("db_header", dimension=4)
    explicit = MilvusClient(server.uri, db_name="default")
    try:
        assert "db_header" in explicit.list_collections()
    finally:
        explicit.close()


# --- invalid schemas -----------------------------------------------------------------


def _vector_schema(client: MilvusClient, dim: int):
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=dim)
    return schema


@pytest.mark.parametrize(
    ("dim", "message"),
    [
        (0, "invalid dimension: 0. should be in range 2 ~ 32768"),
        (1, "invalid dimension: 1. should be in range 2 ~ 32768"),
        (
            40000,
            "invalid dimension: 40000 of field v. float vector dimension should be in range "
            "2 ~ 32768",
        ),
    ],
)
def test_bad_dimension(client: MilvusClient, dim: int, message: str) -> None:
    name = f"bad_dim_{dim}"
    with milvus_error(PLAIN_ERROR, message=message, legacy=UNEXPECTED_ERROR):
        client.create_collection(name, schema=_vector_schema(client, dim))
    assert client.has_collection(name) is False


@pytest.mark.parametrize("dim", [2, 32768])
def test_dimension_limits_accepted(client: MilvusClient, dim: int) -> None:
    client.create_collection(f"dim_ok_{dim}", schema=_vector_schema(client, dim))
    desc = client.describe_collection(f"dim_ok_{dim}")
    assert desc["fields"][1]["params"]["dim"] == dim


def test_missing_primary_key_raw(raw: RawMilvus, client: MilvusClient) -> None:
    # pymilvus refuses such a schema client-side; a raw client reaches the server check.
    schema = schema_pb2.CollectionSchema(name="no_pk")
    schema.fields.add(name="a", data_type=schema_pb2.DataType.Int64)
    vec = schema.fields.add(name="v", data_type=schema_pb2.DataType.FloatVector)
    vec.type_params.add(key="dim", value="4")
    status = raw.create_collection("no_pk", schema)
    assert_status(
        status, PLAIN_ERROR, reason="primary key is not specified", legacy=UNEXPECTED_ERROR
    )
    assert client.has_collection("no_pk") is False


def test_two_primary_keys_raw(raw: RawMilvus, client: MilvusClient) -> None:
    schema = schema_pb2.CollectionSchema(name="two_pk")
    schema.fields.add(name="a", data_type=schema_pb2.DataType.Int64, is_primary_key=True)
    schema.fields.add(name="b", data_type=schema_pb2.DataType.Int64, is_primary_key=True)
    vec = schema.fields.add(name="v", data_type=schema_pb2.DataType.FloatVector)
    vec.type_params.add(key="dim", value="4")
    status = raw.create_collection("two_pk", schema)
    assert_status(
        status, PLAIN_ERROR, reason="there are more than one primary key, field name = a, b"
    )
    assert client.has_collection("two_pk") is False


def test_duplicate_field_names(client: MilvusClient) -> None:
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("a", DataType.INT32)
    schema.add_field("a", DataType.DOUBLE)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=4)
    with milvus_error(PLAIN_ERROR, message="duplicated field name a found"):
        client.create_collection("dup_fields", schema=schema)
    assert client.has_collection("dup_fields") is False


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("1abc", "the first character of a collection name must be an underscore or letter"),
        ("a-b", "collection name can only contain numbers, letters and underscores"),
        ("a" * 256, "the length of a collection name must be less than 255 characters"),
    ],
)
def test_invalid_collection_name(client: MilvusClient, name: str, why: str) -> None:
    # The spacing after the name is checked byte for byte in the exact-text test below.
    pattern = rf"Invalid collection name: {re.escape(name)}\. {{1,2}}{why}: invalid parameter"
    with milvus_error(1100, legacy=ILLEGAL_ARGUMENT) as info:
        client.create_collection(name, dimension=4)
    assert re.fullmatch(pattern, info.value.message), info.value.message
    assert name not in client.list_collections()


def test_invalid_collection_name_exact_text(client: MilvusClient) -> None:
    # One space after the first sentence: Milvus 2.6's answer, which clients match on.
    message = (
        "Invalid collection name: 1abc. the first character of a collection name must be an "
        "underscore or letter: invalid parameter"
    )
    with milvus_error(1100, message=message):
        client.create_collection("1abc", dimension=4)


def test_collection_name_of_255_characters_is_accepted(client: MilvusClient) -> None:
    name = "n" * 255
    client.create_collection(name, dimension=4)
    assert client.has_collection(name)


@pytest.mark.parametrize(
    ("field", "message"),
    [
        (
            "1f",
            "Invalid field name: 1f. The first character of a field name must be an underscore "
            "or letter.: field name invalid[field=1f]",
        ),
        (
            "a-b",
            "Invalid field name: a-b. Field name can only contain numbers, letters, and "
            "underscores.: field name invalid[field=a-b]",
        ),
    ],
)
def test_invalid_field_name(client: MilvusClient, field: str, message: str) -> None:
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field(field, DataType.INT32)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=4)
    with milvus_error(1701, message=message, legacy=UNEXPECTED_ERROR):
        client.create_collection("bad_field", schema=schema)
    assert client.has_collection("bad_field") is False


def test_varchar_without_max_length(client: MilvusClient) -> None:
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("s", DataType.VARCHAR)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=4)
    message = "type param(max_length) should be specified for varChar field(s) of collection vc1"
    with milvus_error(PLAIN_ERROR, message=message):
        client.create_collection("vc1", schema=schema)
    assert client.has_collection("vc1") is False


@pytest.mark.parametrize("max_length", [0, 65536])
def test_varchar_max_length_out_of_range(client: MilvusClient, max_length: int) -> None:
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("s", DataType.VARCHAR, max_length=max_length)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=4)
    message = (
        "the maximum length specified for the field(s) should be in (0, 65535], "
        f"but got {max_length} instead: invalid parameter"
    )
    with milvus_error(1100, message=message, legacy=ILLEGAL_ARGUMENT):
        client.create_collection(f"vc_{max_length}", schema=schema)
    assert client.has_collection(f"vc_{max_length}") is False


def test_varchar_max_length_65535_is_accepted(client: MilvusClient) -> None:
    schema = client.create_schema()
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=65535)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=4)
    client.create_collection("vc_max", schema=schema)
    assert client.describe_collection("vc_max")["fields"][0]["params"]["max_length"] == 65535


def test_too_many_shards(client: MilvusClient) -> None:
    with milvus_error(PLAIN_ERROR, message="maximum shards's number should be limited to 16"):
        client.create_collection("shards17", dimension=4, num_shards=17)
    assert client.has_collection("shards17") is False
    client.create_collection("shards16", dimension=4, num_shards=16)
    assert client.describe_collection("shards16")["num_shards"] == 16


def test_no_vector_field(client: MilvusClient) -> None:
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("a", DataType.INT32)
    with milvus_error(1100, message="schema does not contain vector field: invalid parameter"):
        client.create_collection("no_vector", schema=schema)
    assert client.has_collection("no_vector") is False


@pytest.mark.parametrize(
    ("field", "message"),
    [
        (
            {
                "field_name": "id",
                "datatype": DataType.INT64,
                "is_primary": True,
                "default_value": 10,
            },
            "primary field not support default_value",
        ),
        (
            {"field_name": "v2", "datatype": DataType.FLOAT_VECTOR, "dim": 4, "default_value": 1},
            "type not support default_value, type:FloatVector, fieldName:v2",
        ),
        (
            {"field_name": "j", "datatype": DataType.JSON, "default_value": 10},
            "type not support default_value, type:JSON, fieldName:j",
        ),
        (
            {"field_name": "small", "datatype": DataType.INT8, "default_value": "abc"},
            "type (Int8) of field (small) is not equal to the type(DataType_VarChar) of "
            "default_value",
        ),
        (
            {"field_name": "f", "datatype": DataType.FLOAT, "default_value": 1},
            "type (Float) of field (f) is not equal to the type(DataType_Int64) of default_value",
        ),
    ],
    ids=["primary", "vector", "json", "int8-from-text", "float-from-int"],
)
def test_default_values_milvus_refuses(
    client: MilvusClient, field: dict[str, object], message: str
) -> None:
    schema = client.create_schema()
    if field["field_name"] != "id":
        schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field(**field)  # type: ignore[arg-type]
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=4)
    with milvus_error(1100, match=re.escape(message)):
        client.create_collection("defaults", schema=schema)
    assert not client.has_collection("defaults")
