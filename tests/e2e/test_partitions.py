"""Partitions through pymilvus: scoped writes and reads, per-partition load state, limits, errors."""

from __future__ import annotations

import numpy as np
from helpers import RawMilvus, SluiceProcess, milvus_error, quick_collection, rows
from pymilvus import Collection, MilvusClient, Partition, connections
from pymilvus.grpc_gen import milvus_pb2

DIM = 4
STRONG = {"consistency_level": "Strong"}


def _count(client: MilvusClient, name: str, partitions: list[str] | None = None) -> int:
    result = client.query(
        name, "", output_fields=["count(*)"], partition_names=partitions, **STRONG
    )
    return int(result[0]["count(*)"])


def test_rows_live_in_their_partition(client: MilvusClient) -> None:
    name = "parts_basic"
    quick_collection(client, name, DIM)
    client.create_partition(name, "red")
    client.create_partition(name, "blue")
    client.create_partition(name, "red")  # creating an existing partition succeeds
    assert client.list_partitions(name) == ["_default", "red", "blue"]
    client.insert(name, rows(10, DIM, start=0), partition_name="red")
    client.insert(name, rows(20, DIM, start=100), partition_name="blue")
    client.insert(name, rows(5, DIM, start=1000))
    assert _count(client, name) == 35
    assert _count(client, name, ["red"]) == 10
    assert _count(client, name, ["red", "blue"]) == 30
    query = np.full((1, DIM), 0.5, dtype=np.float32)
    hits = client.search(name, query, limit=50, partition_names=["blue"], **STRONG)[0]
    assert len(hits) == 20 and all(100 <= h["id"] < 120 for h in hits)
    got = client.get(name, ids=[0, 100, 1000], partition_names=["blue"], **STRONG)
    assert [r["id"] for r in got] == [100]
    # Upsert into a partition replaces the key there only.
    client.upsert(name, rows(1, DIM, start=0, tag="new"), partition_name="blue")
    assert _count(client, name, ["red"]) == 10
    assert _count(client, name, ["blue"]) == 21


def test_delete_honours_partition_name(client: MilvusClient, server: SluiceProcess) -> None:
    name = "parts_delete"
    quick_collection(client, name, DIM)
    client.create_partition(name, "p1")
    client.insert(name, rows(10, DIM))
    client.insert(name, rows(10, DIM), partition_name="p1")  # the same keys in both
    client.delete(name, filter="id < 4", partition_name="p1")
    assert _count(client, name) == 16
    assert _count(client, name, ["p1"]) == 6
    client.delete(name, ids=[8, 9])  # no partition: every partition
    assert _count(client, name) == 12
    client.flush(name)
    # The delete scopes survive a restart, persisted or replayed.
    server.restart()
    fresh = MilvusClient(server.uri)
    try:
        assert _count(fresh, name, ["_default"]) == 8
        assert _count(fresh, name, ["p1"]) == 4
    finally:
        fresh.close()


def test_load_state_is_per_partition(client: MilvusClient) -> None:
    name = "parts_load"
    quick_collection(client, name, DIM)
    client.create_partition(name, "p1")
    client.insert(name, rows(3, DIM), partition_name="p1")
    client.insert(name, rows(4, DIM, start=10))
    client.release_partitions(name, ["p1"])
    assert client.get_load_state(name)["state"].name == "Loaded"
    assert client.get_load_state(name, "p1")["state"].name == "NotLoad"
    assert _count(client, name) == 4  # only loaded partitions are read
    with milvus_error(201, match=r"^failed to query: partition not loaded\[partition=\d+\]$"):
        client.query(name, "id >= 0", partition_names=["p1"])
    client.release_collection(name)
    assert client.get_load_state(name)["state"].name == "NotLoad"
    with milvus_error(101, match=r"^failed to search: collection not loaded\[collection=\d+\]$"):
        client.search(name, [[0.1] * DIM], limit=1, partition_names=["p1"])
    client.load_partitions(name, ["p1"])
    assert _count(client, name) == 3
    # A partition created after LoadPartitions stays released; after LoadCollection it loads.
    client.create_partition(name, "later")
    assert client.get_load_state(name, "later")["state"].name == "NotLoad"
    client.load_collection(name)
    client.create_partition(name, "latest")
    assert client.get_load_state(name, "latest")["state"].name == "Loaded"
    with milvus_error(200, message="partition not found[partition=nope]"):
        client.get_load_state(name, "nope")


def test_drop_partition_removes_its_rows(client: MilvusClient, server: SluiceProcess) -> None:
    name = "parts_drop"
    quick_collection(client, name, DIM)
    client.create_partition(name, "gone")
    client.insert(name, rows(50, DIM), partition_name="gone")
    client.flush(name)
    client.insert(name, rows(5, DIM, start=50), partition_name="gone")  # still in the WAL
    client.insert(name, rows(7, DIM, start=100))
    raw = RawMilvus(server)
    shown = raw.call("ShowPartitions", milvus_pb2.ShowPartitionsRequest(collection_name=name))
    gone_id = dict(zip(shown.partition_names, shown.partitionIDs, strict=True))["gone"]
    collection_id = client.describe_collection(name)["collection_id"]
    raw.close()
    with milvus_error(
        65535, message="partition cannot be dropped, partition is loaded, please release it first"
    ):
        client.drop_partition(name, "gone")
    client.release_partitions(name, ["gone"])
    client.drop_partition(name, "gone")
    client.drop_partition(name, "gone")  # dropping a missing partition succeeds
    assert client.list_partitions(name) == ["_default"]
    assert _count(client, name) == 7
    server.kill()  # the dropped partition's WAL records must not come back
    server.start()
    fresh = MilvusClient(server.uri)
    try:
        assert fresh.list_partitions(name) == ["_default"]
        assert _count(fresh, name) == 7
        files = server.data_dir / "segments" / "insert_log" / str(collection_id) / str(gone_id)
        assert not files.exists() or not list(files.rglob("*.parquet"))
    finally:
        fresh.close()


def test_partition_errors_word_for_word(client: MilvusClient) -> None:
    name = "parts_errors"
    quick_collection(client, name, DIM)
    with milvus_error(65535, message="default partition cannot be deleted"):
        client.drop_partition(name, "_default")
    with milvus_error(
        65535,
        message="Invalid partition name: 1p. The first character of a partition name must be an "
        "underscore or letter.",
    ):
        client.create_partition(name, "1p")
    with milvus_error(
        65535,
        message="Invalid partition name: a b. Partition name can only contain numbers, letters "
        "and underscores.",
    ):
        client.create_partition(name, "a b")
    with milvus_error(200, message="partition not found[partition=nope]"):
        client.insert(name, rows(1, DIM), partition_name="nope")
    with milvus_error(1100, message="partition name nope not found: invalid parameter"):
        client.search(name, [[0.1] * DIM], limit=1, partition_names=["nope"])
    with milvus_error(200, message="partition not found[partition=nope]"):
        client.load_partitions(name, ["nope"])
    assert client.has_partition(name, "nope") is False


def test_partition_limit(client: MilvusClient) -> None:
    name = "parts_limit"
    quick_collection(client, name, DIM)
    for i in range(1023):
        client.create_partition(name, f"p{i}")
    with milvus_error(
        65535,
        message=f"partition number (1024) exceeds max configuration (1024), collection: {name}",
    ):
        client.create_partition(name, "one_too_many")
    client.drop_collection(name)


def test_orm_partition(client: MilvusClient, server: SluiceProcess) -> None:
    name = "parts_orm"
    quick_collection(client, name, DIM)
    connections.connect("orm_parts", uri=server.uri)
    try:
        collection = Collection(name, using="orm_parts")
        partition = Partition(collection, "orm_p", using="orm_parts")
        assert collection.has_partition("orm_p")
        partition.insert(rows(6, DIM))
        partition.flush()
        assert partition.num_entities == 6
        hits = partition.search([[0.1] * DIM], "vector", {"metric_type": "COSINE"}, limit=10)
        assert len(hits[0]) == 6
        partition.release()
        partition.drop()
        assert not collection.has_partition("orm_p")
    finally:
        connections.disconnect("orm_parts")


def test_iterators_honour_partition_names(client: MilvusClient) -> None:
    name = "parts_iter"
    quick_collection(client, name, DIM)
    client.create_partition(name, "p1")
    client.insert(name, rows(30, DIM))
    client.insert(name, rows(25, DIM, start=100), partition_name="p1")
    seen: list[int] = []
    iterator = client.query_iterator(
        name, batch_size=7, filter="id >= 0", partition_names=["p1"], **STRONG
    )
    while page := iterator.next():
        seen.extend(r["id"] for r in page)
    iterator.close()
    assert sorted(seen) == list(range(100, 125))
    found: list[int] = []
    searcher = client.search_iterator(
        name, [[0.3] * DIM], batch_size=6, limit=40, partition_names=["_default"], **STRONG
    )
    while page := searcher.next():
        found.extend(hit["id"] for hit in page)
    searcher.close()
    assert sorted(found) == list(range(30))
