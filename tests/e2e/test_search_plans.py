"""Repeated searches reuse their plan, and nothing a plan depends on goes stale.

The server plans a search shape once (see ``sluice.engine.prepared_search``).
These tests repeat one request shape across the changes that must re-plan it:
an index dropped and created again, a release, a collection dropped and
recreated with another schema; and they cover the one-segment search path
(an indexed segment whose keys do or do not repeat).
"""

from __future__ import annotations

import numpy as np
from helpers import create_indexed, hit_ids, hit_scores, milvus_error, wait_indexed
from pymilvus import DataType, MilvusClient

STRONG = {"consistency_level": "Strong"}


def _schema(client: MilvusClient, dim: int):  # type: ignore[no-untyped-def]
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("n", DataType.INT64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    return schema


def _index(client: MilvusClient, index_type: str, metric: str):  # type: ignore[no-untyped-def]
    index = client.prepare_index_params()
    index.add_index("vector", index_type=index_type, metric_type=metric)
    return index


def _line(n: int, dim: int) -> list[dict[str, object]]:
    """Row ``i`` at ``(i + 1, 0, ...)``: nearest to the origin by L2 in id order."""
    return [{"id": i, "n": i, "vector": [float(i + 1)] + [0.0] * (dim - 1)} for i in range(n)]


def test_a_new_index_replans_the_same_request(client: MilvusClient) -> None:
    name = "plan_index"
    create_indexed(client, name, _schema(client, 4), _index(client, "FLAT", "L2"))
    client.insert(name, _line(20, 4))
    client.flush(name)
    query = [[0.5, 0.0, 0.0, 0.0]]
    for _ in range(3):
        assert hit_ids(client.search(name, query, limit=3, **STRONG)) == [[0, 1, 2]]

    client.release_collection(name)
    client.drop_index(name, "vector")
    client.create_index(name, _index(client, "FLAT", "IP"), sync=False)
    client.load_collection(name)
    wait_indexed(client, name, "vector", rows=20)
    # The same request shape now runs under the IP index: largest product first.
    assert hit_ids(client.search(name, query, limit=3, **STRONG)) == [[19, 18, 17]]
    with milvus_error(1100, match=r"metric type not match: invalid \[expected=IP\]\[actual=L2\]"):
        client.search(name, query, limit=3, search_params={"metric_type": "L2"})


def test_release_between_repeated_searches(client: MilvusClient) -> None:
    name = "plan_release"
    create_indexed(client, name, _schema(client, 4), _index(client, "FLAT", "L2"))
    client.insert(name, _line(5, 4))
    query = [[0.0, 0.0, 0.0, 0.0]]
    assert hit_ids(client.search(name, query, limit=2, **STRONG)) == [[0, 1]]
    collection_id = client.describe_collection(name)["collection_id"]
    client.release_collection(name)
    for _ in range(2):
        with milvus_error(
            101, message=f"failed to search: collection not loaded[collection={collection_id}]"
        ):
            client.search(name, query, limit=2)
    client.load_collection(name)
    assert hit_ids(client.search(name, query, limit=2, **STRONG)) == [[0, 1]]


def test_a_recreated_collection_gets_its_own_plan(client: MilvusClient) -> None:
    name = "plan_recreated"
    create_indexed(client, name, _schema(client, 4), _index(client, "FLAT", "L2"))
    client.insert(name, _line(5, 4))
    assert hit_ids(client.search(name, [[0.0] * 4], limit=2, **STRONG)) == [[0, 1]]

    client.drop_collection(name)
    create_indexed(client, name, _schema(client, 8), _index(client, "FLAT", "L2"))
    client.insert(name, _line(5, 8))
    with milvus_error(match="vector dimension mismatch, expected vector size\\(byte\\) 32"):
        client.search(name, [[0.0] * 4], limit=2, **STRONG)
    assert hit_ids(client.search(name, [[0.0] * 8], limit=2, **STRONG)) == [[0, 1]]


def test_one_indexed_segment_with_unique_keys(client: MilvusClient) -> None:
    """The one-segment path: offsets, short pages, filters and output fields."""
    name = "plan_unique"
    create_indexed(client, name, _schema(client, 4), _index(client, "HNSW", "L2"))
    client.insert(name, _line(50, 4))
    client.flush(name)
    wait_indexed(client, name, "vector", rows=50)
    query = [[0.0] * 4, [51.0, 0.0, 0.0, 0.0]]
    result = client.search(name, query, limit=4, offset=2, output_fields=["n"], **STRONG)
    assert hit_ids(result) == [[2, 3, 4, 5], [47, 46, 45, 44]]
    assert [h["entity"]["n"] for h in result[0]] == [2, 3, 4, 5]
    np.testing.assert_allclose(hit_scores(result)[0], [9.0, 16.0, 25.0, 36.0], rtol=1e-5)
    # Fewer matches than the limit, and an offset past the end.
    few = client.search(name, query, limit=10, filter="n in [3, 7]", **STRONG)
    assert hit_ids(few) == [[3, 7], [7, 3]]
    assert hit_ids(client.search(name, query, limit=5, offset=48, **STRONG)) == [[48, 49], [1, 0]]
    client.delete(name, filter="id in [0, 1]")
    assert hit_ids(client.search(name, query[:1], limit=2, **STRONG)) == [[2, 3]]


def test_keys_repeated_inside_one_indexed_segment(client: MilvusClient) -> None:
    """A key inserted twice before a flush: one segment holds both rows, a hit shows one."""
    name = "plan_repeats"
    create_indexed(client, name, _schema(client, 4), _index(client, "HNSW", "L2"))
    client.insert(name, _line(30, 4))
    # Keys 0..7 again, a little further from the origin, in the same growing segment.
    client.insert(
        name, [{"id": i, "n": 100 + i, "vector": [30.0 + i, 0.0, 0.0, 0.0]} for i in range(8)]
    )
    client.flush(name)
    wait_indexed(client, name, "vector", rows=38)
    every = client.search(name, [[0.0] * 4], limit=38, output_fields=["n"], **STRONG)
    ids = hit_ids(every)[0]
    assert sorted(ids) == list(range(30)), "each key once"
    # Both versions of keys 0..7 were candidates: the newest version is the one returned.
    assert {h["id"]: h["entity"]["n"] for h in every[0] if h["id"] < 8} == {
        i: 100 + i for i in range(8)
    }
    far = client.search(name, [[40.0, 0.0, 0.0, 0.0]], limit=3, output_fields=["n"], **STRONG)
    assert hit_ids(far) == [[7, 6, 5]]
    assert [h["entity"]["n"] for h in far[0]] == [107, 106, 105]


def test_unknown_partitions_are_refused(client: MilvusClient) -> None:
    """Milvus's proxy resolves ``partition_names`` first; Sluice has only ``_default``."""
    name = "plan_partitions"
    create_indexed(client, name, _schema(client, 4), _index(client, "FLAT", "L2"))
    client.insert(name, _line(5, 4))
    query = [[0.0] * 4]
    message = "partition name nope not found: invalid parameter"
    for _ in range(2):  # the second search reuses the plan without the partition
        assert hit_ids(client.search(name, query, limit=1, **STRONG)) == [[0]]
        with milvus_error(1100, message=message):
            client.search(name, query, limit=1, partition_names=["nope"])
    found = client.search(name, query, limit=1, partition_names=["_default"], **STRONG)
    assert hit_ids(found) == [[0]]
    with milvus_error(1100, message=message):
        client.query(name, filter="id >= 0", partition_names=["nope"])
    rows = client.query(name, filter="id < 2", partition_names=["_default"], **STRONG)
    assert sorted(r["id"] for r in rows) == [0, 1]
    with milvus_error(1100, message=message):
        client.get(name, ids=[1], partition_names=["nope"])
