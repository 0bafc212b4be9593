"""Partition-key collections through pymilvus: Milvus's partitions, routing and rules.

Where rows landed is read back from the server (GetPersistentSegmentInfo
after a flush names each segment's partition) and compared with partitions
computed here from the key (MurmurHash3 of the 8 little-endian bytes,
written out in ``tests/murmur_reference.py``).
"""

from __future__ import annotations

import struct
import zlib
from collections import Counter

import numpy as np
import pytest
from helpers import RawMilvus, SluiceProcess, assert_status, brute_force, milvus_error
from pymilvus import DataType, MilvusClient
from pymilvus.grpc_gen import common_pb2, milvus_pb2, schema_pb2

from tests.murmur_reference import murmur3_32

DIM = 8
STRONG = {"consistency_level": "Strong"}


def _create(client: MilvusClient, name: str, key_type: DataType, **kwargs: object) -> None:
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    if key_type == DataType.VARCHAR:
        schema.add_field("tenant", DataType.VARCHAR, max_length=64, is_partition_key=True)
    else:
        schema.add_field("tenant", DataType.INT64, is_partition_key=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index, **kwargs)


def _partition_rows(server: SluiceProcess, name: str) -> Counter[str]:
    """Rows per partition name, from the server's own segment listing."""
    raw = RawMilvus(server)
    try:
        shown = raw.call("ShowPartitions", milvus_pb2.ShowPartitionsRequest(collection_name=name))
        names = dict(zip(shown.partitionIDs, shown.partition_names, strict=True))
        rows: Counter[str] = Counter()
        for segment in raw.segments(name):
            if segment.num_rows:
                rows[names[segment.partitionID]] += segment.num_rows
        return rows
    finally:
        raw.close()


def test_partitions_are_named_and_counted_like_milvus(client: MilvusClient) -> None:
    _create(client, "pk_default", DataType.INT64)
    assert client.list_partitions("pk_default") == [f"_default_{i}" for i in range(16)]
    assert client.describe_collection("pk_default")["num_partitions"] == 16
    _create(client, "pk_seven", DataType.INT64, num_partitions=7)
    assert len(client.list_partitions("pk_seven")) == 7


def test_int64_keys_route_like_milvus(client: MilvusClient, server: SluiceProcess) -> None:
    name = "pk_route_int"
    _create(client, name, DataType.INT64, num_partitions=16)
    keys = [0, 1, 2, 7, 42, -5, 10**12, 2**62, -(2**63), 999]
    data = [
        {"id": i, "tenant": keys[i % len(keys)], "vector": [float(i)] * DIM} for i in range(200)
    ]
    client.insert(name, data)
    client.flush(name)
    expected: Counter[str] = Counter()
    for row in data:
        slot = murmur3_32(struct.pack("<q", row["tenant"])) % 16
        expected[f"_default_{slot}"] += 1
    assert _partition_rows(server, name) == expected


def test_varchar_keys_route_like_milvus(client: MilvusClient, server: SluiceProcess) -> None:
    name = "pk_route_str"
    _create(client, name, DataType.VARCHAR, num_partitions=5)
    keys = ["tenant_a", "tenant_b", "中文", "z" * 64, ""]
    data = [
        {"id": i, "tenant": keys[i % len(keys)], "vector": [float(i)] * DIM} for i in range(100)
    ]
    client.insert(name, data)
    client.flush(name)
    expected: Counter[str] = Counter()
    for row in data:
        expected[f"_default_{zlib.crc32(row['tenant'].encode()[:100]) % 5}"] += 1
    assert _partition_rows(server, name) == expected


def test_key_filters_find_what_a_full_scan_finds(client: MilvusClient) -> None:
    name = "pk_prune"
    _create(client, name, DataType.INT64)
    rng = np.random.default_rng(3)
    base = rng.random((600, DIM), dtype=np.float32)
    tenants = np.arange(600) % 23
    client.insert(
        name,
        [{"id": i, "tenant": int(tenants[i]), "vector": base[i].tolist()} for i in range(600)],
    )
    query = rng.random((1, DIM), dtype=np.float32)
    for expr, allowed in [
        ("tenant == 5", tenants == 5),
        ("tenant in [1, 9, 22]", np.isin(tenants, [1, 9, 22])),
        ("tenant == 4 and id > 100", (tenants == 4) & (np.arange(600) > 100)),
    ]:
        hits = client.search(name, query, limit=10, filter=expr, **STRONG)[0]
        order, _ = brute_force(base, query, "L2", 10, allowed)
        assert [h["id"] for h in hits] == [int(i) for i in order[0] if i >= 0]
        count = client.query(name, expr, output_fields=["count(*)"], **STRONG)[0]["count(*)"]
        assert count == int(allowed.sum())


def test_manual_partition_operations_are_refused(client: MilvusClient) -> None:
    name = "pk_manual"
    _create(client, name, DataType.INT64)
    with milvus_error(65535, message="disable create partition if partition key mode is used"):
        client.create_partition(name, "mine")
    with milvus_error(65535, message="disable drop partition if partition key mode is used"):
        client.drop_partition(name, "_default_0")
    with milvus_error(65535, message="disable load partitions if partition key mode is used"):
        client.load_partitions(name, ["_default_0"])
    with milvus_error(65535, message="disable release partitions if partition key mode is used"):
        client.release_partitions(name, ["_default_0"])
    manual = "not support manually specifying the partition names if partition key mode is used"
    with milvus_error(65535, message=manual):
        client.insert(name, [{"id": 1, "tenant": 1, "vector": [0.0] * DIM}], partition_name="x")
    with milvus_error(65535, message=manual):
        client.search(name, [[0.0] * DIM], limit=1, partition_names=["_default_0"])


def test_partition_key_schema_rules(client: MilvusClient, server: SluiceProcess) -> None:
    raw = RawMilvus(server)
    schema = schema_pb2.CollectionSchema(
        name="pk_bad_type",
        fields=[
            schema_pb2.FieldSchema(name="id", data_type=DataType.INT64, is_primary_key=True),
            schema_pb2.FieldSchema(name="f", data_type=DataType.FLOAT, is_partition_key=True),
            schema_pb2.FieldSchema(
                name="vector",
                data_type=DataType.FLOAT_VECTOR,
                type_params=[common_pb2.KeyValuePair(key="dim", value=str(DIM))],
            ),
        ],
    )
    status = raw.call(
        "CreateCollection",
        milvus_pb2.CreateCollectionRequest(
            collection_name="pk_bad_type", schema=schema.SerializeToString()
        ),
    )
    raw.close()
    assert_status(status, 65535, reason="the data type of partition key should be Int64 or VarChar")
    with milvus_error(
        1100, message="partition number (1025) exceeds max configuration (1024): invalid parameter"
    ):
        _create(client, "pk_too_many", DataType.INT64, num_partitions=1025)


def test_isolation_needs_one_key_value(client: MilvusClient) -> None:
    name = "pk_isolated"
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("tenant", DataType.INT64, is_partition_key=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    client.create_collection(name, schema=schema, properties={"partitionkey.isolation": "true"})
    index = client.prepare_index_params()
    index.add_index("vector", index_type="HNSW", metric_type="L2")
    client.create_index(name, index)
    client.load_collection(name)
    client.insert(name, [{"id": i, "tenant": i % 3, "vector": [float(i)] * DIM} for i in range(30)])
    hits = client.search(name, [[0.0] * DIM], limit=5, filter="tenant == 1 and id > 3", **STRONG)
    assert {h["id"] % 3 for h in hits[0]} == {1}
    for expr, why in [
        ("tenant in [1, 2]", "partition key isolation does not support IN"),
        ("tenant == 1 or id > 3", "partition key isolation does not support OR"),
        ("tenant != 1", "partition key isolation does not support NotEqual"),
        (
            "id > 3",
            "partition key not found in expr or the expr is invalid when validating partition "
            "key isolation",
        ),
    ]:
        with milvus_error(65535, message=why):
            client.search(name, [[0.0] * DIM], limit=5, filter=expr)


def test_isolation_needs_a_partition_key(client: MilvusClient) -> None:
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    with milvus_error(
        105,
        message="partition key isolation mode is enabled but no partition key field is set. "
        "Please set the partition key first: illegal collection schema[collection=pk_no_key]",
    ):
        client.create_collection(
            "pk_no_key", schema=schema, properties={"partitionkey.isolation": "true"}
        )


@pytest.mark.parametrize("key", [5, -(2**63)])
def test_delete_and_upsert_find_keyed_rows(client: MilvusClient, key: int) -> None:
    name = f"pk_upsert_{abs(key) % 1000}"
    _create(client, name, DataType.INT64)
    client.insert(name, [{"id": 1, "tenant": key, "vector": [1.0] * DIM}])
    # The upsert moves the row to another key's partition: the old row must go.
    client.upsert(name, [{"id": 1, "tenant": key + 1, "vector": [2.0] * DIM}])
    got = client.query(name, "id == 1", output_fields=["tenant"], **STRONG)
    assert got == [{"id": 1, "tenant": key + 1}]
    client.delete(name, filter="tenant == " + str(key + 1))
    assert client.query(name, "id >= 0", output_fields=["count(*)"], **STRONG)[0]["count(*)"] == 0
