"""Data round trips through pymilvus: insert, get, query, delete, count and exact search.

Reads use Strong consistency so every acknowledged write is visible.  Search
results are compared with a numpy brute force in Milvus's conventions:
L2 is the *squared* distance, smallest first; IP and COSINE are similarities,
largest first.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest
from helpers import (
    RawMilvus,
    assert_ok,
    assert_recent_tso,
    count,
    create_indexed,
    int64_field,
    milvus_error,
    quick_collection,
    tso_ms,
    vector_field,
    vectors,
)
from pymilvus import DataType, MilvusClient
from pymilvus.grpc_gen import milvus_pb2

DIM = 16
STRONG = {"consistency_level": "Strong"}
COLORS = ("red", "green", "blue")


# --- INT64 primary key, dynamic fields, two shards --------------------------------------


@pytest.fixture(scope="module")
def people(client: MilvusClient) -> Iterator[list[dict]]:
    schema = client.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("name", DataType.VARCHAR, max_length=32)
    schema.add_field("age", DataType.INT32)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="AUTOINDEX", metric_type="L2")
    create_indexed(client, "people", schema, index, shards=2)
    data = vectors(200, DIM, seed=11)
    rows = []
    for i in range(200):
        row = {"id": i, "name": f"p{i}", "age": i % 50, "vector": data[i].tolist()}
        if i % 2 == 0:
            row["color"] = COLORS[i % 3]
            row["rank"] = i // 2
        rows.append(row)
    result = client.insert("people", rows)
    assert result["insert_count"] == 200
    assert list(result["ids"]) == list(range(200))
    yield rows


def test_count_star(people: list[dict], client: MilvusClient) -> None:
    assert count(client, "people") == 200


def test_get_by_ids(people: list[dict], client: MilvusClient) -> None:
    got = client.get("people", ids=[5, 0, 199, 12345], output_fields=["*"], **STRONG)
    by_id = {r["id"]: r for r in got}
    assert set(by_id) == {0, 5, 199}
    for pk in (0, 5, 199):
        expected = people[pk]
        row = by_id[pk]
        assert row["name"] == expected["name"]
        assert row["age"] == expected["age"]
        np.testing.assert_allclose(row["vector"], expected["vector"], rtol=1e-6)
    # Dynamic keys come back flattened, only where the row had them; $meta never shows.
    assert by_id[0]["color"] == "red" and by_id[0]["rank"] == 0
    assert "color" not in by_id[5]
    assert all("$meta" not in r for r in got)


def test_query_pk_in(people: list[dict], client: MilvusClient) -> None:
    got = client.query("people", filter="id in [3, 7, 11, 999]", output_fields=["name"], **STRONG)
    assert sorted((r["id"], r["name"]) for r in got) == [(3, "p3"), (7, "p7"), (11, "p11")]
    assert all(set(r) == {"id", "name"} for r in got)


def test_query_scalar_and_dynamic_filters(people: list[dict], client: MilvusClient) -> None:
    got = client.query("people", filter="age == 7", output_fields=["id"], **STRONG)
    assert sorted(r["id"] for r in got) == [7, 57, 107, 157]
    red = client.query("people", filter='color == "red"', output_fields=["color"], **STRONG)
    expected = sorted(r["id"] for r in people if r.get("color") == "red")
    assert sorted(r["id"] for r in red) == expected
    assert all(r["color"] == "red" for r in red)


def test_query_output_star(people: list[dict], client: MilvusClient) -> None:
    got = client.query("people", filter="id in [4, 5]", output_fields=["*"], **STRONG)
    by_id = {r["id"]: r for r in got}
    assert set(by_id[4]) == {"id", "name", "age", "vector", "color", "rank"}
    assert set(by_id[5]) == {"id", "name", "age", "vector"}
    assert by_id[4]["color"] == COLORS[4 % 3] and by_id[4]["rank"] == 2


def test_query_output_dynamic_key_only(people: list[dict], client: MilvusClient) -> None:
    got = client.query("people", filter="id in [2, 3]", output_fields=["rank"], **STRONG)
    by_id = {r["id"]: r for r in got}
    assert by_id[2] == {"id": 2, "rank": 1}
    assert by_id[3] == {"id": 3}


def test_query_with_limit(people: list[dict], client: MilvusClient) -> None:
    got = client.query("people", filter="", output_fields=["id"], limit=7, **STRONG)
    assert len(got) == 7
    assert len({r["id"] for r in got}) == 7


def test_delete_then_get(client: MilvusClient) -> None:
    quick_collection(client, "del_int", 8, shards=2)
    data = vectors(60, 8, seed=5)
    client.insert("del_int", [{"id": i, "vector": data[i].tolist()} for i in range(60)])
    assert count(client, "del_int") == 60

    client.delete("del_int", ids=[1, 2, 3, 40, 777])
    assert client.get("del_int", ids=[1, 2, 3, 40], **STRONG) == []
    assert [r["id"] for r in client.get("del_int", ids=[0, 4], **STRONG)] == [0, 4]
    assert count(client, "del_int") == 56
    assert client.query("del_int", filter="id in [1, 2, 3]", **STRONG) == []

    client.delete("del_int", filter="id >= 50")
    assert count(client, "del_int") == 46
    hits = client.search("del_int", [data[55].tolist()], limit=5, **STRONG)
    assert 55 not in {h["id"] for h in hits[0]}

    # Re-inserting a deleted key makes it visible again.
    client.insert("del_int", [{"id": 2, "vector": data[2].tolist()}])
    assert [r["id"] for r in client.get("del_int", ids=[2], **STRONG)] == [2]
    assert count(client, "del_int") == 47


def test_delete_returns_delete_count(client: MilvusClient) -> None:
    quick_collection(client, "del_count", 8)
    data = vectors(10, 8, seed=15)
    client.insert("del_count", [{"id": i, "vector": data[i].tolist()} for i in range(10)])
    result = client.delete("del_count", ids=[1, 2, 3])
    assert isinstance(result, dict)
    assert result["delete_count"] == 3
    result = client.delete("del_count", filter="id >= 8")
    assert result["delete_count"] == 2
    assert count(client, "del_count") == 5


# --- VARCHAR primary key --------------------------------------------------------------------


def test_varchar_primary_key_round_trip(client: MilvusClient) -> None:
    quick_collection(client, "by_name", 8, shards=2, string_ids=True)
    data = vectors(30, 8, seed=6)
    keys = [f"k{i:02d}" for i in range(30)]
    result = client.insert(
        "by_name", [{"id": k, "vector": data[i].tolist(), "n": i} for i, k in enumerate(keys)]
    )
    assert list(result["ids"]) == keys
    assert count(client, "by_name") == 30

    got = client.get("by_name", ids=["k03", "k17", "zz"], output_fields=["n"], **STRONG)
    assert sorted((r["id"], r["n"]) for r in got) == [("k03", 3), ("k17", 17)]
    got = client.query("by_name", filter='id in ["k05", "k06"]', output_fields=["id"], **STRONG)
    assert sorted(r["id"] for r in got) == ["k05", "k06"]

    client.delete("by_name", ids=["k03", "k04"])
    assert client.get("by_name", ids=["k03", "k04"], **STRONG) == []
    assert count(client, "by_name") == 28
    hits = client.search("by_name", [data[17].tolist()], limit=1, **STRONG)
    assert hits[0][0]["id"] == "k17"


# --- auto_id ---------------------------------------------------------------------------------


@pytest.mark.parametrize("pk_type", [DataType.INT64, DataType.VARCHAR])
def test_auto_id_returns_ids(client: MilvusClient, pk_type: DataType) -> None:
    name = f"auto_{pk_type.name.lower()}"
    schema = client.create_schema(auto_id=True, enable_dynamic_field=False)
    if pk_type == DataType.VARCHAR:
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=32)
    else:
        schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("tag", DataType.INT64)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=8)
    index = client.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="L2")
    create_indexed(client, name, schema, index, shards=2)
    data = vectors(25, 8, seed=7)

    first = client.insert(name, [{"tag": i, "v": data[i].tolist()} for i in range(20)])
    second = client.insert(name, [{"tag": 20 + i, "v": data[20 + i].tolist()} for i in range(5)])
    ids = list(first["ids"]) + list(second["ids"])
    assert first["insert_count"] == 20 and len(ids) == 25
    assert len(set(ids)) == 25
    if pk_type == DataType.VARCHAR:
        # Milvus generates VARCHAR auto IDs as the decimal text of an int64.
        assert all(isinstance(k, str) and k.isdigit() for k in ids)
    else:
        assert all(isinstance(k, int) and k > 0 for k in ids)

    got = client.get(name, ids=[ids[3], ids[22]], output_fields=["tag"], **STRONG)
    assert sorted(r["tag"] for r in got) == [3, 22]
    assert count(client, name) == 25


# --- MutationResult.timestamp ----------------------------------------------------------------


def test_mutation_timestamps_are_tsos(client: MilvusClient, raw: RawMilvus) -> None:
    # MilvusClient hides MutationResult; the raw response shows what pymilvus caches
    # as the collection's last write time for Session consistency.
    quick_collection(client, "stamped", 8, shards=2)
    data = vectors(10, 8, seed=8)
    before = time.time()
    inserted = raw.insert(
        "stamped", [int64_field("id", range(10)), vector_field("vector", data)], 10
    )
    assert_ok(inserted.status)
    assert inserted.insert_cnt == 10
    assert list(inserted.IDs.int_id.data) == list(range(10))
    assert_recent_tso(inserted.timestamp, within=5)
    assert tso_ms(inserted.timestamp) >= int(before * 1000) - 50

    deleted = raw.call(
        "Delete", milvus_pb2.DeleteRequest(collection_name="stamped", expr="id in [1, 2]")
    )
    assert_ok(deleted.status)
    assert deleted.delete_cnt == 2
    assert_recent_tso(deleted.timestamp, within=5)
    assert deleted.timestamp > inserted.timestamp

    again = raw.insert("stamped", [int64_field("id", [100]), vector_field("vector", data[:1])], 1)
    assert again.timestamp > deleted.timestamp
    assert count(client, "stamped") == 9


# --- exact search ----------------------------------------------------------------------------


def _brute_force(
    base: np.ndarray, queries: np.ndarray, metric: str, k: int
) -> tuple[np.ndarray, np.ndarray]:
    if metric == "L2":
        scores = ((queries[:, None, :] - base[None, :, :]) ** 2).sum(axis=2)
        order = np.argsort(scores, axis=1, kind="stable")[:, :k]
    else:
        if metric == "COSINE":
            base = base / np.linalg.norm(base, axis=1, keepdims=True)
            queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        scores = queries @ base.T
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(scores, order, axis=1)


@pytest.mark.parametrize("index_type", ["FLAT", "AUTOINDEX"])
@pytest.mark.parametrize("metric", ["L2", "IP", "COSINE"])
def test_search_matches_brute_force(client: MilvusClient, metric: str, index_type: str) -> None:
    name = f"exact_{metric.lower()}_{index_type.lower()}"
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("vector", index_type=index_type, metric_type=metric)
    create_indexed(client, name, schema, index, shards=2)

    rng = np.random.default_rng(hash(name) % 2**32)
    base = rng.standard_normal((300, DIM)).astype(np.float32)
    queries = rng.standard_normal((5, DIM)).astype(np.float32)
    client.insert(name, [{"id": i, "vector": base[i].tolist()} for i in range(300)])
    # Half the data persisted, half still growing: search must see both.
    client.flush(name)
    more = rng.standard_normal((100, DIM)).astype(np.float32)
    client.insert(name, [{"id": 300 + i, "vector": more[i].tolist()} for i in range(100)])
    base = np.vstack([base, more])

    k = 10
    # AUTOINDEX is HNSW: with ef past the segment size it visits every node it can reach;
    # a graph built on two threads may leave one unreachable, so it is held to recall and
    # to exact distances for what it returns, FLAT to the exact answer.
    extra = {"search_params": {"params": {"ef": 512}}} if index_type == "AUTOINDEX" else {}
    hits = client.search(name, queries.tolist(), limit=k, **extra, **STRONG)
    want_ids, want_scores = _brute_force(
        base.astype(np.float64), queries.astype(np.float64), metric, k
    )
    everything, every_score = _brute_force(
        base.astype(np.float64), queries.astype(np.float64), metric, len(base)
    )
    assert len(hits) == len(queries)
    for q, row in enumerate(hits):
        got_ids = [h["id"] for h in row]
        got_scores = np.array([h["distance"] for h in row])
        if index_type == "FLAT":
            assert got_ids == want_ids[q].tolist(), f"query {q}, {metric}"
            np.testing.assert_allclose(got_scores, want_scores[q], rtol=1e-4, atol=1e-4)
        else:
            assert len(set(got_ids) & set(want_ids[q].tolist())) >= k - 1, f"query {q}"
            true_score = dict(zip(everything[q].tolist(), every_score[q].tolist(), strict=True))
            expected = np.array([true_score[i] for i in got_ids])
            np.testing.assert_allclose(got_scores, expected, rtol=1e-4, atol=1e-4)
        if metric == "L2":
            assert np.all(np.diff(got_scores) >= 0)
        else:
            assert np.all(np.diff(got_scores) <= 0)


def test_search_with_filter_and_output_fields(people: list[dict], client: MilvusClient) -> None:
    base = np.array([r["vector"] for r in people], dtype=np.float64)
    query = vectors(1, DIM, seed=99)[0].astype(np.float64)
    hits = client.search(
        "people",
        [query.tolist()],
        limit=5,
        filter="age < 10",
        output_fields=["name", "color"],
        **STRONG,
    )
    allowed = np.array([r["age"] < 10 for r in people])
    distances = ((base - query) ** 2).sum(axis=1)
    distances[~allowed] = np.inf
    want = np.argsort(distances)[:5]
    got = hits[0]
    assert [h["id"] for h in got] == want.tolist()
    np.testing.assert_allclose([h["distance"] for h in got], distances[want], rtol=1e-4)
    for h in got:
        assert h["entity"]["name"] == f"p{h['id']}"
        if h["id"] % 2 == 0:
            assert h["entity"]["color"] == people[h["id"]]["color"]


# --- read errors -----------------------------------------------------------------------------


def test_read_errors(people: list[dict], client: MilvusClient) -> None:
    with milvus_error(
        1100, message="count entities with pagination is not allowed: invalid parameter"
    ):
        client.query("people", filter="", output_fields=["count(*)"], limit=5)
    with milvus_error(
        1100, message="empty expression should be used with limit: invalid parameter"
    ):
        client.query("people", filter="", output_fields=["id"])
    with milvus_error(
        2000,
        message="vector dimension mismatch, expected vector size(byte) 64, actual 32.: "
        "segcore error",
    ):
        client.search("people", [[0.1] * 8], limit=3)
    with milvus_error(
        1100,
        message="fail to search: metric type not match: invalid [expected=L2][actual=IP]: "
        "invalid parameter",
    ):
        client.search("people", [[0.1] * DIM], limit=3, search_params={"metric_type": "IP"})


def test_reads_need_a_loaded_collection(client: MilvusClient) -> None:
    quick_collection(client, "released", 8)
    client.insert("released", [{"id": 1, "vector": [0.1] * 8}])
    collection_id = client.describe_collection("released")["collection_id"]
    client.release_collection("released")
    assert client.get_load_state("released")["state"].name == "NotLoad"
    with milvus_error(
        101, message=f"failed to query: collection not loaded[collection={collection_id}]"
    ):
        client.query("released", filter="id == 1")
    with milvus_error(
        101, message=f"failed to search: collection not loaded[collection={collection_id}]"
    ):
        client.search("released", [[0.1] * 8], limit=1)
    client.load_collection("released")
    assert count(client, "released") == 1


@pytest.mark.parametrize("string_ids", [False, True], ids=["int64", "varchar"])
def test_upsert_refuses_a_key_twice_in_one_batch(client: MilvusClient, string_ids: bool) -> None:
    name = f"dup_upsert_{int(string_ids)}"
    quick_collection(client, name, 4, string_ids=string_ids)
    key = (lambda i: str(i)) if string_ids else (lambda i: i)
    rows = [{"id": key(i), "vector": [0.1, 0.2, 0.3, float(i)]} for i in (1, 2, 1)]
    with milvus_error(1100, match="duplicate primary keys are not allowed in the same batch"):
        client.upsert(name, rows)
    assert count(client, name) == 0
    client.upsert(name, rows[:2])
    assert count(client, name) == 2


@pytest.mark.parametrize("string_ids", [False, True])
def test_upsert_into_an_auto_id_collection_gives_rows_new_keys(
    client: MilvusClient, string_ids: bool
) -> None:
    """Milvus 2.6: the row is inserted under a generated key and the key sent is deleted."""
    name = f"auto_upsert_{int(string_ids)}"
    schema = client.create_schema(auto_id=True)
    if string_ids:
        schema.add_field("id", DataType.VARCHAR, is_primary=True, auto_id=True, max_length=64)
    else:
        schema.add_field("id", DataType.INT64, is_primary=True, auto_id=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("t", DataType.INT64)
    index = client.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index)
    vectors = np.random.default_rng(3).random((4, DIM)).astype(np.float32)
    ids = client.insert(name, [{"v": vectors[i].tolist(), "t": i} for i in range(3)])["ids"]
    result = client.upsert(name, [{"id": ids[0], "v": vectors[3].tolist(), "t": 100}])
    (new_id,) = result["ids"]
    assert new_id not in ids
    rows = {r["id"]: r["t"] for r in client.query(name, filter="t >= 0", output_fields=["t"])}
    assert rows == {new_id: 100, ids[1]: 1, ids[2]: 2}
    client.flush(name)
    rows = {r["id"]: r["t"] for r in client.query(name, filter="t >= 0", output_fields=["t"])}
    assert rows == {new_id: 100, ids[1]: 1, ids[2]: 2}


def test_partial_upsert_reads_like_a_query(client: MilvusClient) -> None:
    """Milvus reads the stored rows with a query: loaded collection, the target partition only."""
    name = "partial_scope"
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("n", DataType.INT32)
    index = client.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index)
    client.create_partition(name, "a")
    client.create_partition(name, "b")
    vector = [0.5] * DIM
    client.insert(name, [{"id": 1, "v": vector, "n": 7}], partition_name="a")
    client.upsert(name, [{"id": 1, "v": vector}], partition_name="a", partial_update=True)
    assert client.query(name, filter="id == 1", output_fields=["n"])[0]["n"] == 7
    with milvus_error(
        1100, message="fieldSchema(n) has no corresponding fieldData pass in: invalid parameter"
    ):
        client.upsert(name, [{"id": 1, "v": vector}], partition_name="b", partial_update=True)
    client.release_collection(name)
    with milvus_error(101, match="failed to query: collection not loaded"):
        client.upsert(name, [{"id": 1, "v": vector}], partition_name="a", partial_update=True)
