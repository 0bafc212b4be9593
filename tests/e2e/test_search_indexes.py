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
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from helpers import (
    SluiceProcess,
    brute_force,
    clustered,
    create_indexed,
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
GROUPS = 13
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


@pytest.fixture(scope="module")
def indexed(client: MilvusClient, data: tuple[np.ndarray, np.ndarray]) -> Callable[[str], str]:
    """``indexed(index_type)``: the collection indexed with that type on all three metric
    fields, created and filled on first use, then shared by every test of the module."""
    base = data[0]
    built: dict[str, str] = {}

    def get(index_type: str) -> str:
        if index_type not in built:
            built[index_type] = _create(client, index_type, base)
        return built[index_type]

    return get


def _create(client: MilvusClient, index_type: str, base: np.ndarray) -> str:
    name = f"ann_{index_type.lower()}"
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("grp", DataType.INT64)
    for field in FIELD.values():
        schema.add_field(field, DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    for metric, field in FIELD.items():
        index.add_index(field, index_type=index_type, metric_type=metric, params=BUILD[index_type])
    client.create_collection(name, schema=schema, index_params=index, num_shards=2)

    def insert(start: int, stop: int) -> None:
        batch = [
            {"id": i, "grp": i % GROUPS, **{f: base[i].tolist() for f in FIELD.values()}}
            for i in range(start, stop)
        ]
        client.insert(name, batch)

    insert(0, FLUSHED_ROWS)
    client.flush(name)
    for field in FIELD.values():
        wait_indexed(client, name, field, rows=FLUSHED_ROWS)
    insert(FLUSHED_ROWS, FLUSHED_ROWS + GROWING_ROWS)
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
    client: MilvusClient,
    indexed: Callable[[str], str],
    data: tuple[np.ndarray, np.ndarray],
    index_type: str,
    metric: str,
) -> None:
    base, queries = data
    name = indexed(index_type)
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
    client: MilvusClient,
    indexed: Callable[[str], str],
    server: SluiceProcess,
    index_type: str,
) -> None:
    name = indexed(index_type)
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
        mine = sorted(int(s) for s in built if int(s) in segments)
        assert mine == sorted(segments), f"{field}: built {mine} for segments {segments}"


@pytest.mark.parametrize("index_type", list(BUILD))
def test_filtered_indexed_search(
    client: MilvusClient,
    indexed: Callable[[str], str],
    data: tuple[np.ndarray, np.ndarray],
    index_type: str,
) -> None:
    """A filter is applied inside the index search, not after it: still k hits, all passing."""
    base, queries = data
    name = indexed(index_type)
    result = _search(client, name, index_type, "L2", queries[:10], filter="id % 7 == 3")
    allowed = np.arange(len(base)) % 7 == 3
    want_ids, _ = brute_force(base, queries[:10], "L2", K, allowed)
    got = hit_ids(result)
    assert all(len(ids) == K and all(i % 7 == 3 for i in ids) for ids in got)
    if index_type == "FLAT":
        assert got == want_ids.tolist()
    else:
        assert recall(got, want_ids.tolist()) >= 0.9


def test_hnsw_ef_smaller_than_limit(
    client: MilvusClient, indexed: Callable[[str], str], data
) -> None:
    name = indexed("HNSW")
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


def test_offset_pages_through_index(
    client: MilvusClient, indexed: Callable[[str], str], data
) -> None:
    """limit/offset on an HNSW index: pages concatenate to the unpaged result."""
    queries = data[1]
    name = indexed("HNSW")
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


@pytest.mark.parametrize("metric", ["L2", "COSINE"])
@pytest.mark.parametrize("index_type", list(BUILD))
def test_range_search_on_index(
    client: MilvusClient,
    indexed: Callable[[str], str],
    data: tuple[np.ndarray, np.ndarray],
    index_type: str,
    metric: str,
) -> None:
    """Every hit lies inside the window; the index finds (nearly) all rows in it."""
    base, queries = data
    name = indexed(index_type)
    scores = metric_scores(base, queries[:5], metric)
    for q in range(5):
        ranked = np.sort(scores[q]) if metric == "L2" else np.sort(scores[q])[::-1]
        # Window: ranks 5..44 (midpoints between neighbouring scores as the edges).
        inner = float((ranked[4] + ranked[5]) / 2)
        outer = float((ranked[44] + ranked[45]) / 2)
        params = {**SEARCH[index_type], "radius": outer, "range_filter": inner}
        result = client.search(
            name,
            queries[q : q + 1].tolist(),
            anns_field=FIELD[metric],
            limit=100,
            search_params={"metric_type": metric, "params": params},
            **STRONG,
        )
        got_ids, got_scores = hit_ids(result)[0], hit_scores(result)[0]
        inside = [
            i
            for i, s in enumerate(scores[q])
            if (inner <= s < outer if metric == "L2" else outer < s <= inner)
        ]
        assert len(inside) == 40
        for s in got_scores:
            assert (
                (inner - 1e-3 <= s < outer + 1e-3)
                if metric == "L2"
                else (outer - 1e-3 < s <= inner + 1e-3)
            )
        _assert_ordered(got_scores, metric)
        assert len(got_ids) == len(set(got_ids))
        if index_type == "FLAT":
            assert sorted(got_ids) == inside
        else:
            found = len(set(got_ids) & set(inside)) / len(inside)
            assert found >= 0.9, f"query {q}: {found:.2f} of the window found"


@pytest.mark.parametrize("index_type", list(BUILD))
def test_group_by_on_index(
    client: MilvusClient,
    indexed: Callable[[str], str],
    data: tuple[np.ndarray, np.ndarray],
    index_type: str,
) -> None:
    base, queries = data
    name = indexed(index_type)
    result = _search(
        client,
        name,
        index_type,
        "L2",
        queries[:5],
        limit=4,
        group_by_field="grp",
        group_size=2,
        output_fields=["grp"],
    )
    scores = metric_scores(base, queries[:5], "L2")
    for q, hits in enumerate(result):
        groups = [h["entity"]["grp"] for h in hits]
        assert all(h["id"] % GROUPS == h["entity"]["grp"] for h in hits)
        distinct = list(dict.fromkeys(groups))
        assert len(distinct) == 4, groups
        assert all(groups.count(g) == 2 for g in distinct), groups
        # Hits come group by group, best group first.
        assert groups == [g for g in distinct for _ in range(2)]
        if index_type == "FLAT":
            order = np.argsort(scores[q], kind="stable")
            want: dict[int, list[int]] = {}
            for row in order.tolist():
                g = row % GROUPS
                if g not in want and len(want) == 4:
                    continue
                if len(want.setdefault(g, [])) < 2:
                    want[g].append(row)
            assert [h["id"] for h in hits] == [i for ids in want.values() for i in ids]


@pytest.mark.parametrize("index_type", list(BUILD))
def test_limit_beyond_a_small_segment(client: MilvusClient, index_type: str) -> None:
    """A segment smaller than nlist (or ef) is still indexed and still returns every row."""
    name = f"tiny_{index_type.lower()}"
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("vector", index_type=index_type, metric_type="L2", params=BUILD[index_type])
    create_indexed(client, name, schema, index)
    tiny = clustered(60, DIM, clusters=3, seed=5)[0]
    client.insert(name, [{"id": i, "vector": tiny[i].tolist()} for i in range(60)])
    client.flush(name)
    wait_indexed(client, name, "vector", rows=60)
    # The user's usual parameters; HNSW needs ef >= limit.
    params = {**SEARCH[index_type], **({"ef": 100} if "ef" in SEARCH[index_type] else {})}
    result = client.search(
        name,
        tiny[:3].tolist(),
        limit=100,
        search_params={"params": params},
        **STRONG,
    )
    for q, ids in enumerate(hit_ids(result)):
        assert sorted(ids) == list(range(60))
        assert ids[0] == q


@pytest.mark.parametrize("index_type", list(BUILD))
def test_output_vectors_are_the_inserted_ones(
    client: MilvusClient,
    indexed: Callable[[str], str],
    data: tuple[np.ndarray, np.ndarray],
    index_type: str,
) -> None:
    """Quantised indexes still return the stored vectors, not their reconstructions."""
    base, _ = data
    name = indexed(index_type)
    targets = [0, 17, FLUSHED_ROWS + 3]  # two in indexed segments, one growing
    result = client.search(
        name,
        base[targets].tolist(),
        anns_field="v_l2",
        limit=1,
        output_fields=["v_l2", "v_cos"],
        search_params={"metric_type": "L2", "params": SEARCH[index_type]},
        **STRONG,
    )
    for target, hits in zip(targets, result, strict=True):
        assert hits[0]["id"] == target
        for field in ("v_l2", "v_cos"):
            got = np.asarray(hits[0]["entity"][field], dtype=np.float32)
            assert np.array_equal(got, base[target]), field
