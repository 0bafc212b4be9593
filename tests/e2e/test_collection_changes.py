"""Changing live collections through pymilvus: rename, truncate, properties, fields, TTL."""

from __future__ import annotations

import time

from helpers import (
    RawMilvus,
    SluiceProcess,
    count,
    milvus_error,
    quick_collection,
    rows,
    wait_indexed,
)
from pymilvus import DataType, MilvusClient
from pymilvus.grpc_gen import milvus_pb2

DIM = 4
STRONG = {"consistency_level": "Strong"}


def test_rename_keeps_data_indexes_and_load_state(client: MilvusClient) -> None:
    quick_collection(client, "rn_old", DIM)
    client.insert("rn_old", rows(300, DIM))
    client.flush("rn_old")
    wait_indexed(client, "rn_old", "vector")
    before = client.describe_collection("rn_old")
    client.rename_collection("rn_old", "rn_new")
    assert not client.has_collection("rn_old")
    after = client.describe_collection("rn_new")
    assert after["collection_id"] == before["collection_id"]
    assert after["collection_name"] == "rn_new"
    assert after["update_timestamp"] > before["update_timestamp"]
    assert count(client, "rn_new") == 300  # still loaded
    assert client.describe_index("rn_new", "vector")["indexed_rows"] == 300
    hits = client.search("rn_new", [[0.2] * DIM], limit=3, **STRONG)
    assert len(hits[0]) == 3
    quick_collection(client, "rn_other", DIM)
    with milvus_error(
        65535,
        message="duplicated new collection name default:rn_new with other collection name or alias",
    ):
        client.rename_collection("rn_other", "rn_new")


def test_rename_into_another_database(client: MilvusClient, server: SluiceProcess) -> None:
    client.create_database("rn_db")
    quick_collection(client, "rn_move", DIM)
    client.insert("rn_move", rows(5, DIM))
    client.rename_collection("rn_move", "rn_moved", target_db="rn_db")
    assert "rn_move" not in client.list_collections()
    scoped = MilvusClient(server.uri, db_name="rn_db")
    try:
        assert scoped.list_collections() == ["rn_moved"]
        assert count(scoped, "rn_moved") == 5
        scoped.drop_collection("rn_moved")
    finally:
        scoped.close()
    client.drop_database("rn_db")


def test_rename_rules(client: MilvusClient) -> None:
    quick_collection(client, "rn_a", DIM)
    client.create_alias("rn_a", "rn_a_alias")
    with milvus_error(
        65535, message="unsupported use an alias to rename collection, alias:rn_a_alias"
    ):
        client.rename_collection("rn_a_alias", "rn_b")
    client.create_database("rn_db2")
    with milvus_error(
        65535,
        message="fail to rename db name, must drop all aliases of this collection before rename",
    ):
        client.rename_collection("rn_a", "rn_b", target_db="rn_db2")
    client.drop_alias("rn_a_alias")
    client.drop_database("rn_db2")


def test_truncate_keeps_schema_index_and_load(client: MilvusClient, server: SluiceProcess) -> None:
    name = "tr_data"
    quick_collection(client, name, DIM)
    client.create_partition(name, "p1")
    client.insert(name, rows(200, DIM))
    client.insert(name, rows(50, DIM, start=1000), partition_name="p1")
    client.flush(name)
    wait_indexed(client, name, "vector")
    client.delete(name, ids=[1, 2])
    client.insert(name, rows(20, DIM, start=5000))  # growing, in the WAL only
    client.truncate_collection(name)
    assert count(client, name) == 0
    assert client.list_partitions(name) == ["_default", "p1"]
    assert client.describe_index(name, "vector")["index_type"] == "AUTOINDEX"
    assert client.get_load_state(name)["state"].name == "Loaded"
    client.insert(name, rows(3, DIM, start=1))  # keys deleted before the truncate come back
    assert count(client, name) == 3
    server.kill()
    server.start()
    fresh = MilvusClient(server.uri)
    try:
        assert count(fresh, name) == 3
        assert sorted(r["id"] for r in fresh.query(name, "id >= 0", **STRONG)) == [1, 2, 3]
    finally:
        fresh.close()


def test_added_field_reads_old_and_new_rows(client: MilvusClient, server: SluiceProcess) -> None:
    name = "af_live"
    quick_collection(client, name, DIM)
    client.insert(name, rows(4, DIM))
    client.flush(name)
    client.insert(name, rows(2, DIM, start=4))  # growing when the field arrives
    client.add_collection_field(name, "rating", DataType.INT64, nullable=True, default_value=3)
    client.add_collection_field(name, "note", DataType.VARCHAR, max_length=16, nullable=True)
    fields = {f["name"]: f for f in client.describe_collection(name)["fields"]}
    # After id (100), vector (101) and the dynamic field's $meta (102).
    assert fields["rating"]["field_id"] == 103 and fields["note"]["field_id"] == 104
    client.insert(name, rows(1, DIM, start=6, rating=9, note="fresh"))
    expected = [{"id": i, "rating": 3, "note": None} for i in range(6)] + [
        {"id": 6, "rating": 9, "note": "fresh"}
    ]
    got = client.query(name, "id >= 0", output_fields=["rating", "note"], **STRONG)
    assert got == expected
    assert client.query(name, "rating == 9", output_fields=["id"], **STRONG) == [{"id": 6}]
    server.kill()  # old binlogs and old WAL records must read back with the new columns
    server.start()
    fresh = MilvusClient(server.uri)
    try:
        got = fresh.query(name, "id >= 0", output_fields=["rating", "note"], **STRONG)
        assert got == expected
        fresh.flush(name)
        server.stop()
        server.start()
        assert fresh.query(name, "id >= 0", output_fields=["rating", "note"], **STRONG) == expected
    finally:
        fresh.close()


def test_added_field_rules(client: MilvusClient) -> None:
    name = "af_rules"
    quick_collection(client, name, DIM)
    with milvus_error(
        1100,
        message="added field must be nullable, please check it, field name = x: invalid parameter",
    ):
        client.add_collection_field(name, "x", DataType.INT64)
    with milvus_error(1100, message="duplicated field name vector: invalid parameter"):
        client.add_collection_field(name, "vector", DataType.INT64, nullable=True)


def test_properties_show_and_ttl_hides_old_rows(milvus: MilvusClient) -> None:
    # A server of its own: after a restart, hybrid timestamps may run up to the oracle's
    # window (3 s) ahead of the wall clock and stand still meanwhile, so ages would lag.
    client = milvus
    name = "ttl_rows"
    quick_collection(client, name, DIM)
    client.insert(name, rows(5, DIM))
    client.alter_collection_properties(name, {"collection.ttl.seconds": 2, "my.own.key": "x"})
    props = client.describe_collection(name)["properties"]
    assert props["collection.ttl.seconds"] == "2" and props["my.own.key"] == "x"
    client.insert(name, rows(1, DIM, start=100))
    time.sleep(2.1)
    # Rows older than two seconds are invisible to search, query, get and count.
    assert count(client, name) == 0
    assert client.get(name, ids=[0, 100], **STRONG) == []
    client.insert(name, rows(1, DIM, start=200))
    assert [r["id"] for r in client.query(name, "id >= 0", **STRONG)] == [200]
    hits = client.search(name, [[0.5] * DIM], limit=10, **STRONG)
    assert [h["id"] for h in hits[0]] == [200]
    client.drop_collection_properties(name, ["collection.ttl.seconds", "my.own.key"])
    assert "my.own.key" not in client.describe_collection(name)["properties"]
    with milvus_error(
        104,
        message="can not alter mmap properties if collection loaded: collection already loaded"
        f"[collection={name}]",
    ):
        client.alter_collection_properties(name, {"mmap.enabled": True})
    with milvus_error(
        1100,
        message="collection TTL is out of range, expect [-1, 3155760000], got -2: invalid parameter",
    ):
        client.alter_collection_properties(name, {"collection.ttl.seconds": -2})


def test_alter_field_max_length(client: MilvusClient) -> None:
    name = "alter_field"
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("title", DataType.VARCHAR, max_length=4)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("vector", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index)
    row = {"id": 1, "title": "longer", "vector": [0.0] * DIM}
    with milvus_error(1100):
        client.insert(name, [row])
    client.alter_collection_field(name, "title", {"max_length": 10})
    client.insert(name, [row])
    # Milvus names no field in this message (its field name variable is still empty).
    message = " can not modify the maxlength for non-string types: invalid parameter"
    with milvus_error(1100, message=message):
        client.alter_collection_field(name, "id", {"max_length": 10})
    described = {f["name"]: f for f in client.describe_collection(name)["fields"]}
    assert described["title"]["params"]["max_length"] == 10


def test_batch_describe_answers_each_name(client: MilvusClient, server: SluiceProcess) -> None:
    quick_collection(client, "bd_one", DIM)
    client.create_alias("bd_one", "bd_alias")
    raw = RawMilvus(server)
    try:
        response = raw.call(
            "BatchDescribeCollection",
            milvus_pb2.BatchDescribeCollectionRequest(
                collection_name=["bd_one", "bd_alias", "bd_missing"]
            ),
        )
    finally:
        raw.close()
    assert response.status.code == 0
    first, aliased, missing = response.responses
    assert first.collection_name == aliased.collection_name == "bd_one"
    assert list(first.aliases) == ["bd_alias"]
    assert first.db_name == "default" and first.num_partitions == 1
    assert missing.status.code == 100
    assert missing.status.reason == "can't find collection[database=default][collection=bd_missing]"
