"""Every index type × metric finds the right neighbours on clustered data.

One collection per index type holds the same 6,000 clustered 32-d vectors in
three vector fields, one per metric (L2, IP, COSINE), over two shards.  The
data is flushed, so each shard's segment gets its own index, and 300 more rows
stay growing (searched exactly).  Queries come from the same mixture.  Results
are compared with a numpy brute force in Milvus's conventions: L2 is the
squared distance, ascending; IP and COSINE are similarities, descending.

FLAT must be exact (same IDs, same distances); every ANN index must reach
recall@10 ≥ 0.95 with the search parameters a Milvus user would pass.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from helpers import (
    SluiceProcess,
    brute_force,
    clustered,
    hit_ids,
    hit_scores,
    metric_scores,
    milvus_error,
    mixture_queries,
    recall,
    wait_indexed,
)
from pymilvus import DataType, MilvusClient

DIM = 32
FLUSHED_ROWS = 6000
GROWING_ROWS = 300
K = 10
STRONG = {"consistency_level": "Strong"}
METRICS = ("L2", "IP", "COSINE")
FIELD = {"L2": "v_l2", "IP": "v_ip", "COSINE": "v_cos"}

#: Build parameters as a user passes them to ``add_index(..., params=...)``.
BUILD: dict[str, dict[str, Any]] = {
    "FLAT": {},
    "IVF_FLAT": {"nlist": 64},
    "IVF_SQ8": {"nlist": 64},
    "IVF_PQ": {"nlist": 64, "m": 8, "nbits": 8},
    "HNSW": {"M": 16, "efConstruction": 200},
    "AUTOINDEX": {},
}
#: Search parameters as a user passes them to ``search(..., search_params=...)``.
SEARCH: dict[str, dict[str, Any]] = {
    "FLAT": {},
    "IVF_FLAT": {"nprobe": 16},
    "IVF_SQ8": {"nprobe": 16},
    "IVF_PQ": {"nprobe": 16},
    "HNSW": {"ef": 64},
    "AUTOINDEX": {"ef": 64},
}
#: What the server builds for each requested type (AUTOINDEX is HNSW).
ENGINE = {**{t: t for t in BUILD}, "AUTOINDEX": "HNSW"}
#: Indexes that keep full-precision vectors, so their distances are exact.
EXACT_DISTANCES = {"FLAT", "IVF_FLAT", "HNSW", "AUTOINDEX"}


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    base, centres = clustered(FLUSHED_ROWS + GROWING_ROWS, DIM, spread=0.5, seed=42)
    queries = mixture_queries(centres, 40, spread=0.5, seed=43)
    return base, queries


_built: dict[str, str] = {}


def _collection(client: MilvusClient, index_type: str, base: np.ndarray) -> str:
    """The collection indexed with ``index_type`` on all three metric fields (built once)."""
    if index_type in _built:
        return _built[index_type]
    name = f"ann_{index_type.lower()}"
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    for field in FIELD.values():
        schema.add_field(field, DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    for metric, field in FIELD.items():
        index.add_index(field, index_type=index_type, metric_type=metric, params=BUILD[index_type])
    client.create_collection(name, schema=schema, index_params=index, num_shards=2)

    def insert(start: int, stop: int) -> None:
        batch = [
            {"id": i, **{f: base[i].tolist() for f in FIELD.values()}} for i in range(start, stop)
        ]
        client.insert(name, batch)

    insert(0, FLUSHED_ROWS)
    client.flush(name)
    for field in FIELD.values():
        wait_indexed(client, name, field, rows=FLUSHED_ROWS)
    insert(FLUSHED_ROWS, FLUSHED_ROWS + GROWING_ROWS)
    _built[index_type] = name
    return name


def _search(client: MilvusClient, name: str, index_type: str, metric: str, queries, **kw):
    return client.search(
        name,
        queries.tolist(),
        anns_field=FIELD[metric],
        limit=kw.pop("limit", K),
        search_params={"metric_type": metric, "params": SEARCH[index_type]},
        **STRONG,
        **kw,
    )


def _assert_ordered(scores: list[float], metric: str) -> None:
    diffs = np.diff(np.asarray(scores))
    if metric == "L2":
        assert np.all(diffs >= 0), f"L2 distances not ascending: {scores}"
    else:
        assert np.all(diffs <= 0), f"{metric} similarities not descending: {scores}"


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("index_type", list(BUILD))
def test_neighbours_match_brute_force(
    client: MilvusClient, data: tuple[np.ndarray, np.ndarray], index_type: str, metric: str
) -> None:
    base, queries = data
    name = _collection(client, index_type, base)
    result = _search(client, name, index_type, metric, queries)
    want_ids, want_scores = brute_force(base, queries, metric, K)
    got_ids = hit_ids(result)
    got_scores = hit_scores(result)

    assert len(result) == len(queries)
    truth = metric_scores(base, queries, metric)
    for q, (ids, scores) in enumerate(zip(got_ids, got_scores, strict=True)):
        assert len(ids) == K and len(set(ids)) == K, f"query {q}: {ids}"
        _assert_ordered(scores, metric)
        if index_type in EXACT_DISTANCES:
            # Whatever was found, its score is the true one for that row.
            np.testing.assert_allclose(scores, truth[q, ids], rtol=1e-4, atol=2e-3)

    if index_type == "FLAT":
        assert got_ids == want_ids.tolist()
        np.testing.assert_allclose(np.array(got_scores), want_scores, rtol=1e-4, atol=2e-3)
    else:
        r = recall(got_ids, want_ids.tolist())
        assert r >= 0.95, f"{index_type}/{metric} recall@{K} = {r:.3f}"


@pytest.mark.parametrize("index_type", list(BUILD))
def test_describe_index_and_per_segment_builds(
    client: MilvusClient, server: SluiceProcess, data: tuple[np.ndarray, np.ndarray], index_type
) -> None:
    name = _collection(client, index_type, data[0])
    assert sorted(client.list_indexes(name)) == sorted(FIELD.values())
    for metric, field in FIELD.items():
        info = client.describe_index(name, field)
        assert info["index_type"] == index_type
        assert info["metric_type"] == metric
        assert info["field_name"] == field
        # Growing rows are not counted: only flushed segments get indexes.
        assert info["total_rows"] == FLUSHED_ROWS
        assert info["indexed_rows"] == FLUSHED_ROWS
        assert info["pending_index_rows"] == 0
        assert info["state"] == "Finished"
        for key, value in BUILD[index_type].items():
            assert str(info[key]) == str(value)
    # Two shards, one flush: two sealed segments, each indexed once per field.
    segments = {s.segment_id for s in client.list_loaded_segments(name)}
    assert len(segments) == 2
    for field in FIELD.values():
        built = re.findall(
            rf"built {ENGINE[index_type]} index {field} for segment (\d+)", server.log()
        )
        assert {int(s) for s in built} >= segments, f"{field}: {built} vs {segments}"


@pytest.mark.parametrize("index_type", list(BUILD))
def test_filtered_indexed_search(
    client: MilvusClient, data: tuple[np.ndarray, np.ndarray], index_type: str
) -> None:
    """A filter is applied inside the index search, not after it: still k hits, all passing."""
    base, queries = data
    name = _collection(client, index_type, base)
    result = _search(client, name, index_type, "L2", queries[:10], filter="id % 7 == 3")
    allowed = np.arange(len(base)) % 7 == 3
    want_ids, _ = brute_force(base, queries[:10], "L2", K, allowed)
    got = hit_ids(result)
    assert all(len(ids) == K and all(i % 7 == 3 for i in ids) for ids in got)
    if index_type == "FLAT":
        assert got == want_ids.tolist()
    else:
        assert recall(got, want_ids.tolist()) >= 0.9


def test_hnsw_ef_smaller_than_limit(client: MilvusClient, data) -> None:
    name = _collection(client, "HNSW", data[0])
    with milvus_error(65535, match=r"ef\(5\) should be larger than k\(10\)"):
        client.search(
            name,
            data[1][:1].tolist(),
            anns_field="v_l2",
            limit=10,
            search_params={"metric_type": "L2", "params": {"ef": 5}},
        )
    # ef >= limit is fine.
    hits = client.search(
        name,
        data[1][:1].tolist(),
        anns_field="v_l2",
        limit=10,
        search_params={"metric_type": "L2", "params": {"ef": 10}},
        **STRONG,
    )
    assert len(hits[0]) == 10


def test_offset_pages_through_index(client: MilvusClient, data) -> None:
    """limit/offset on an HNSW index: pages concatenate to the unpaged result."""
    base, queries = data
    name = _collection(client, "HNSW", base)
    params = {"metric_type": "COSINE", "params": {"ef": 200}}
    full = client.search(
        name, queries[:3].tolist(), anns_field="v_cos", limit=40, search_params=params, **STRONG
    )
    pages: list[list[list[int]]] = []
    for offset in range(0, 40, 10):
        page = client.search(
            name,
            queries[:3].tolist(),
            anns_field="v_cos",
            limit=10,
            offset=offset,
            search_params=params,
            **STRONG,
        )
        pages.append(hit_ids(page))
    for q in range(3):
        assert [i for page in pages for i in page[q]] == hit_ids(full)[q]
