"""Search features through pymilvus: paging, output fields, range, group-by, iterators, errors.

The main fixtures are FLAT-indexed collections (one per metric) over two
shards whose rows sit in several flushed segments plus a growing one, so every
exact answer also checks the merge across shards and segments.  References are
computed with numpy in Milvus's conventions (L2 squared and ascending, IP and
COSINE descending).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from helpers import (
    brute_force,
    clustered,
    count,
    create_indexed,
    hit_ids,
    hit_scores,
    metric_scores,
    milvus_error,
    mixture_queries,
)
from pymilvus import DataType, MilvusClient

DIM = 16
N = 900
STRONG = {"consistency_level": "Strong"}
METRICS = ("L2", "IP", "COSINE")
COLORS = ("red", "green", "blue", "black")
TAGS = ("alpha", "beta", "gamma", "delta", "eps")


def _row(i: int, vec: np.ndarray) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": i,
        "grp": i % 12,
        "tag": TAGS[i % len(TAGS)],
        "vector": vec.tolist(),
    }
    if i % 3 == 0:
        row["color"] = COLORS[i % 4]
        row["rank"] = i
    return row


@pytest.fixture(scope="module")
def base() -> np.ndarray:
    return clustered(N, DIM, clusters=20, spread=0.5, seed=7)[0]


@pytest.fixture(scope="module")
def queries() -> np.ndarray:
    centres = clustered(N, DIM, clusters=20, spread=0.5, seed=7)[1]
    return mixture_queries(centres, 6, spread=0.5, seed=8)


@pytest.fixture(scope="module")
def flat(client: MilvusClient, base: np.ndarray) -> dict[str, str]:
    """One FLAT collection per metric: 2 shards, two flushes (4 sealed segments) + growing rows."""
    names = {}
    for metric in METRICS:
        name = f"feat_{metric.lower()}"
        schema = client.create_schema(auto_id=False, enable_dynamic_field=True)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("grp", DataType.INT64)
        schema.add_field("tag", DataType.VARCHAR, max_length=16)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
        index = client.prepare_index_params()
        index.add_index("vector", index_type="FLAT", metric_type=metric)
        create_indexed(client, name, schema, index, shards=2)
        for start, stop, flush in ((0, 400, True), (400, 700, True), (700, N, False)):
            client.insert(name, [_row(i, base[i]) for i in range(start, stop)])
            if flush:
                client.flush(name)
        names[metric] = name
    return names


def _ordered(scores: list[float], metric: str) -> bool:
    diffs = np.diff(np.asarray(scores))
    return bool(np.all(diffs >= 0) if metric == "L2" else np.all(diffs <= 0))


# --- merging, paging, several queries --------------------------------------------------------


@pytest.mark.parametrize("metric", METRICS)
def test_exact_across_shards_and_segments(
    client: MilvusClient, flat: dict[str, str], base, queries, metric: str
) -> None:
    name = flat[metric]
    assert len(client.list_loaded_segments(name)) == 4
    assert count(client, name) == N
    result = client.search(name, queries.tolist(), limit=20, **STRONG)
    want_ids, want_scores = brute_force(base, queries, metric, 20)
    assert hit_ids(result) == want_ids.tolist()
    np.testing.assert_allclose(np.array(hit_scores(result)), want_scores, rtol=1e-4, atol=1e-3)
    assert all(_ordered(s, metric) for s in hit_scores(result))


@pytest.mark.parametrize("metric", METRICS)
def test_offset_pages_concatenate(client: MilvusClient, flat, queries, metric: str) -> None:
    name = flat[metric]
    full = client.search(name, queries[:2].tolist(), limit=35, **STRONG)
    pages = [
        client.search(name, queries[:2].tolist(), limit=7, offset=offset, **STRONG)
        for offset in range(0, 35, 7)
    ]
    for q in range(2):
        assert [h for page in pages for h in hit_ids(page)[q]] == hit_ids(full)[q]
        assert np.allclose([s for page in pages for s in hit_scores(page)[q]], hit_scores(full)[q])


def test_offset_near_the_end(client: MilvusClient, flat, base, queries) -> None:
    """A page that runs past the last row is short, not padded."""
    result = client.search(flat["L2"], queries[:1].tolist(), limit=10, offset=N - 4, **STRONG)
    want, _ = brute_force(base, queries[:1], "L2", N)
    assert hit_ids(result)[0] == want[0, -4:].tolist()


def test_several_query_vectors_in_one_call(client: MilvusClient, flat, base, queries) -> None:
    name = flat["COSINE"]
    together = client.search(name, queries.tolist(), limit=8, **STRONG)
    assert len(together) == len(queries)
    for q in range(len(queries)):
        alone = client.search(name, [queries[q].tolist()], limit=8, **STRONG)
        assert hit_ids(alone)[0] == hit_ids(together)[q]
    want, _ = brute_force(base, queries, "COSINE", 8)
    assert hit_ids(together) == want.tolist()


def test_empty_collection_and_empty_filter(client: MilvusClient, flat, queries) -> None:
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index(
        "vector", index_type="HNSW", metric_type="L2", params={"M": 8, "efConstruction": 32}
    )
    create_indexed(client, "feat_empty", schema, index)
    # One (empty) result list per query vector.
    assert hit_ids(client.search("feat_empty", queries[:3].tolist(), limit=5, **STRONG)) == [
        [],
        [],
        [],
    ]
    nothing = client.search(flat["L2"], queries[:2].tolist(), limit=5, filter="grp > 100", **STRONG)
    assert hit_ids(nothing) == [[], []]


def test_ignore_growing(client: MilvusClient, flat, base, queries) -> None:
    """``ignore_growing=True`` reads only sealed segments (rows 0..699 here, 700.. are growing)."""
    name = flat["L2"]
    result = client.search(name, queries.tolist(), limit=10, ignore_growing=True, **STRONG)
    sealed = np.arange(N) < 700
    want, _ = brute_force(base, queries, "L2", 10, sealed)
    assert hit_ids(result) == want.tolist()
    got = client.query(
        name, filter="id >= 650 and id < 750", output_fields=["id"], ignore_growing=True, **STRONG
    )
    assert sorted(r["id"] for r in got) == list(range(650, 700))


# --- output fields ----------------------------------------------------------------------------


def test_output_fields_star_returns_vectors_and_dynamic_keys(
    client: MilvusClient, flat, base
) -> None:
    name = flat["L2"]
    targets = [0, 1, 3, 702]  # dynamic keys on multiples of 3; 702 is still growing
    result = client.search(name, base[targets].tolist(), limit=1, output_fields=["*"], **STRONG)
    for target, hits in zip(targets, result, strict=True):
        hit = hits[0]
        assert hit["id"] == target
        entity = hit["entity"]
        want = _row(target, base[target])
        np.testing.assert_allclose(entity["vector"], want["vector"], rtol=1e-6)
        assert entity["grp"] == want["grp"] and entity["tag"] == want["tag"]
        if target % 3 == 0:
            assert entity["color"] == want["color"] and entity["rank"] == target
        else:
            assert "color" not in entity and "rank" not in entity
        assert "$meta" not in entity


def test_output_fields_named_and_dynamic(client: MilvusClient, flat, base) -> None:
    name = flat["L2"]
    result = client.search(
        name, base[[3, 4]].tolist(), limit=1, output_fields=["tag", "color"], **STRONG
    )
    assert result[0][0]["entity"] == {"tag": TAGS[3 % 5], "color": COLORS[3 % 4]}
    assert result[1][0]["entity"] == {"tag": TAGS[4 % 5]}
    # No output fields: just keys and distances.
    bare = client.search(name, base[[3]].tolist(), limit=3, **STRONG)
    assert all(h["entity"] == {} for h in bare[0])


# --- round_decimal ----------------------------------------------------------------------------


def test_round_decimal(client: MilvusClient, flat, base, queries) -> None:
    name = flat["L2"]
    exact = client.search(name, queries[:2].tolist(), limit=10, **STRONG)
    # pymilvus rounds positive round_decimal itself; 0 is left to the server.
    rounded = client.search(name, queries[:2].tolist(), limit=10, round_decimal=0, **STRONG)
    assert hit_ids(rounded) == hit_ids(exact)
    for got, want in zip(hit_scores(rounded), hit_scores(exact), strict=True):
        assert all(float(g).is_integer() for g in got), got
        assert np.allclose(got, np.round(want), atol=1e-6)
    three = client.search(name, queries[:2].tolist(), limit=10, round_decimal=3, **STRONG)
    for got, want in zip(hit_scores(three), hit_scores(exact), strict=True):
        assert np.allclose(got, np.round(want, 3), atol=1e-6)


# --- range search -----------------------------------------------------------------------------


def _window(scores: np.ndarray, metric: str, first: int, last: int) -> tuple[float, float]:
    """(radius, range_filter) whose window holds exactly ranks ``first..last`` (0-based)."""
    ranked = np.sort(scores) if metric == "L2" else np.sort(scores)[::-1]
    inner = (ranked[first - 1] + ranked[first]) / 2
    outer = (ranked[last] + ranked[last + 1]) / 2
    return float(outer), float(inner)


@pytest.mark.parametrize("metric", METRICS)
def test_range_search_window(client: MilvusClient, flat, base, queries, metric: str) -> None:
    name = flat[metric]
    scores = metric_scores(base, queries[:1], metric)[0]
    radius, range_filter = _window(scores, metric, 30, 129)
    params = {"params": {"radius": radius, "range_filter": range_filter}}
    result = client.search(name, queries[:1].tolist(), limit=300, search_params=params, **STRONG)
    got = hit_scores(result)[0]
    order = np.argsort(scores if metric == "L2" else -scores, kind="stable")
    assert hit_ids(result)[0] == order[30:130].tolist()
    for s in got:
        if metric == "L2":
            assert range_filter <= s < radius
        else:
            assert radius < s <= range_filter
    assert _ordered(got, metric)

    # With a smaller limit: the best rows inside the window.
    some = client.search(name, queries[:1].tolist(), limit=25, search_params=params, **STRONG)
    assert hit_ids(some)[0] == order[30:55].tolist()

    # radius alone: everything better than it.
    only = client.search(
        name,
        queries[:1].tolist(),
        limit=300,
        search_params={"params": {"radius": radius}},
        **STRONG,
    )
    assert hit_ids(only)[0] == order[:130].tolist()


@pytest.fixture(scope="module")
def integer_grid(client: MilvusClient) -> Iterator[str]:
    """Rows ``[k, 0, 0, 0]`` for k in 0..9: distances and products are exact integers."""
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("l2", DataType.FLOAT_VECTOR, dim=4)
    schema.add_field("ip", DataType.FLOAT_VECTOR, dim=4)
    index = client.prepare_index_params()
    index.add_index("l2", index_type="FLAT", metric_type="L2")
    index.add_index("ip", index_type="FLAT", metric_type="IP")
    create_indexed(client, "grid", schema, index)
    vec = [[float(k), 0.0, 0.0, 0.0] for k in range(10)]
    client.insert("grid", [{"id": k, "l2": vec[k], "ip": vec[k]} for k in range(5)])
    client.flush("grid")
    client.insert("grid", [{"id": k, "l2": vec[k], "ip": vec[k]} for k in range(5, 10)])
    yield "grid"


def test_range_boundaries_follow_milvus(client: MilvusClient, integer_grid: str) -> None:
    # L2 from the origin: distance k², window range_filter <= d < radius.
    l2 = client.search(
        integer_grid,
        [[0.0, 0.0, 0.0, 0.0]],
        anns_field="l2",
        limit=10,
        search_params={"params": {"radius": 49.0, "range_filter": 4.0}},
        **STRONG,
    )
    assert hit_ids(l2)[0] == [2, 3, 4, 5, 6]
    assert hit_scores(l2)[0] == [4.0, 9.0, 16.0, 25.0, 36.0]
    # IP with [1, 0, 0, 0]: score k, window radius < s <= range_filter.
    ip = client.search(
        integer_grid,
        [[1.0, 0.0, 0.0, 0.0]],
        anns_field="ip",
        limit=10,
        search_params={"params": {"radius": 3.0, "range_filter": 7.0}},
        **STRONG,
    )
    assert hit_ids(ip)[0] == [7, 6, 5, 4]
    assert hit_scores(ip)[0] == [7.0, 6.0, 5.0, 4.0]


@pytest.mark.parametrize(
    ("metric", "radius", "range_filter", "message"),
    [
        (
            "L2",
            1.0,
            2.0,
            "range_filter must be less than radius for L2/HAMMING/JACCARD, "
            "range_filter:2.000000, radius:1.000000: invalid parameter",
        ),
        (
            "L2",
            1.0,
            1.0,
            "range_filter must be less than radius for L2/HAMMING/JACCARD, "
            "range_filter:1.000000, radius:1.000000: invalid parameter",
        ),
        (
            "IP",
            0.5,
            0.2,
            "range_filter must be greater than radius for IP/COSINE, "
            "range_filter:0.200000, radius:0.500000: invalid parameter",
        ),
        (
            "COSINE",
            0.5,
            0.5,
            "range_filter must be greater than radius for IP/COSINE, "
            "range_filter:0.500000, radius:0.500000: invalid parameter",
        ),
    ],
)
def test_range_search_invalid_window(
    client: MilvusClient, flat, queries, metric, radius, range_filter, message
) -> None:
    with milvus_error(1100, message=message):
        client.search(
            flat[metric],
            queries[:1].tolist(),
            limit=5,
            search_params={"params": {"radius": radius, "range_filter": range_filter}},
        )


# --- group by ---------------------------------------------------------------------------------


def _reference_groups(
    order: np.ndarray, values: list[Any], limit: int, size: int
) -> list[tuple[Any, list[int]]]:
    groups: dict[Any, list[int]] = {}
    for row in order.tolist():
        value = values[row]
        if value not in groups:
            if len(groups) == limit:
                continue
            groups[value] = []
        if len(groups[value]) < size:
            groups[value].append(row)
    return list(groups.items())


@pytest.mark.parametrize(("field", "limit", "size"), [("grp", 4, 3), ("tag", 10, 2)])
def test_group_by(
    client: MilvusClient, flat, base, queries, field: str, limit: int, size: int
) -> None:
    name = flat["L2"]
    result = client.search(
        name,
        queries[:3].tolist(),
        limit=limit,
        group_by_field=field,
        group_size=size,
        output_fields=[field],
        **STRONG,
    )
    values = [_row(i, base[i])[field] for i in range(N)]
    scores = metric_scores(base, queries[:3], "L2")
    for q, hits in enumerate(result):
        got_values = [h["entity"][field] for h in hits]
        distinct = list(dict.fromkeys(got_values))
        assert len(distinct) <= limit
        assert all(got_values.count(v) <= size for v in distinct)
        # Hits come group by group, best group first, each group's hits best first.
        want = _reference_groups(np.argsort(scores[q], kind="stable"), values, limit, size)
        assert [(v, [h["id"] for h in hits if h["entity"][field] == v]) for v in distinct] == want
        assert [h["id"] for h in hits] == [i for _, ids in want for i in ids]
    # Five distinct tags: fewer groups than the limit.
    if field == "tag":
        assert all(len({h["entity"]["tag"] for h in hits}) == len(TAGS) for hits in result)


def test_group_by_finds_rare_groups(client: MilvusClient) -> None:
    """Groups beyond the nearest few hundred rows still count: Milvus iterates until it has them."""
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("grp", DataType.INT64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=4)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="L2")
    create_indexed(client, "rare_groups", schema, index)
    # 990 rows of group 0 right next to the query, then ten lone groups further out.
    rows = [{"id": i, "grp": 0, "vector": [i * 1e-3, 0.0, 0.0, 0.0]} for i in range(990)]
    rows += [{"id": 990 + g, "grp": g + 1, "vector": [5.0 + g, 0.0, 0.0, 0.0]} for g in range(10)]
    client.insert("rare_groups", rows)
    result = client.search(
        "rare_groups",
        [[0.0, 0.0, 0.0, 0.0]],
        limit=5,
        group_by_field="grp",
        group_size=1,
        output_fields=["grp"],
        **STRONG,
    )
    assert [(h["id"], h["entity"]["grp"]) for h in result[0]] == [
        (0, 0),
        (990, 1),
        (991, 2),
        (992, 3),
        (993, 4),
    ]


def test_group_by_errors(client: MilvusClient, flat, queries) -> None:
    with milvus_error(
        1700, message="groupBy field not found in schema: field not found[field=nosuch]"
    ):
        client.search(flat["L2"], queries[:1].tolist(), limit=3, group_by_field="nosuch")
    with milvus_error(1100, match="Not allowed to do range-search when doing search-group-by"):
        client.search(
            flat["L2"],
            queries[:1].tolist(),
            limit=3,
            group_by_field="grp",
            search_params={"params": {"radius": 10.0}},
        )


# --- search iterator --------------------------------------------------------------------------


def _drain(iterator: Any) -> list[list[tuple[int, float]]]:
    pages = []
    for _ in range(1000):
        page = iterator.next()
        if not page:
            break
        pages.append([(h["id"], float(h["distance"])) for h in page])
    else:  # pragma: no cover - a runaway iterator
        raise AssertionError("search iterator never ended")
    iterator.close()
    return pages


@pytest.mark.parametrize("metric", ["L2", "COSINE"])
def test_search_iterator_covers_exact_ranking_once(
    client: MilvusClient, flat, base, queries, metric: str
) -> None:
    name = flat[metric]
    iterator = client.search_iterator(
        name, queries[:1].tolist(), batch_size=40, filter="grp < 4", **STRONG
    )
    pages = _drain(iterator)
    ids = [i for page in pages for i, _ in page]
    assert len(ids) == len(set(ids)), "pages overlap"
    allowed = np.arange(N) % 12 < 4
    want, want_scores = brute_force(base, queries[:1], metric, int(allowed.sum()), allowed)
    assert ids == want[0].tolist()
    np.testing.assert_allclose(
        [s for page in pages for _, s in page], want_scores[0], rtol=1e-4, atol=1e-3
    )
    assert all(len(page) <= 40 for page in pages)


def test_search_iterator_pages_are_full(client: MilvusClient, flat, queries) -> None:
    iterator = client.search_iterator(
        flat["L2"], queries[:1].tolist(), batch_size=40, filter="grp < 4", **STRONG
    )
    sizes = [len(page) for page in _drain(iterator)]
    assert sum(sizes) == 300
    assert sizes[:-1] == [40] * (len(sizes) - 1), sizes


def test_search_iterator_limit(client: MilvusClient, flat, base, queries) -> None:
    iterator = client.search_iterator(
        flat["IP"], queries[:1].tolist(), batch_size=30, limit=100, **STRONG
    )
    ids = [i for page in _drain(iterator) for i, _ in page]
    want, _ = brute_force(base, queries[:1], "IP", 100)
    assert ids == want[0].tolist()


# --- freshness and upsert ---------------------------------------------------------------------


def test_growing_rows_are_found_immediately(client: MilvusClient) -> None:
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index(
        "vector", index_type="HNSW", metric_type="L2", params={"M": 8, "efConstruction": 32}
    )
    create_indexed(client, "fresh", schema, index, shards=2)
    rng = np.random.default_rng(3)
    for i in range(15):
        vec = rng.standard_normal(DIM).astype(np.float32)
        client.insert("fresh", [{"id": i, "vector": vec.tolist()}])
        hits = client.search("fresh", [vec.tolist()], limit=1, **STRONG)
        assert hit_ids(hits) == [[i]]
        assert hit_scores(hits)[0][0] == pytest.approx(0.0, abs=1e-4)
        if i == 7:
            client.flush("fresh")


def test_upsert_newest_vector_wins(client: MilvusClient) -> None:
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("n", DataType.INT64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="L2")
    create_indexed(client, "ups", schema, index, shards=2)
    rng = np.random.default_rng(4)
    old = rng.standard_normal((200, DIM)).astype(np.float32)
    client.insert("ups", [{"id": i, "n": 0, "vector": old[i].tolist()} for i in range(200)])
    client.flush("ups")

    versions = [old[5], old[5] + 20, old[5] - 20]
    for gen in (1, 2):
        vec = versions[gen]
        client.upsert("ups", [{"id": 5, "n": gen, "vector": vec.tolist()}])
        for stale in versions[:gen]:
            hits = client.search("ups", [stale.tolist()], limit=10, **STRONG)
            assert 5 not in hit_ids(hits)[0], f"generation {gen}: stale vector returned"
        hits = client.search("ups", [vec.tolist()], limit=3, output_fields=["n"], **STRONG)
        assert hits[0][0]["id"] == 5 and hits[0][0]["entity"]["n"] == gen
        assert [h["id"] for h in hits[0]].count(5) == 1
        got = client.get("ups", ids=[5], output_fields=["n", "vector"], **STRONG)
        assert len(got) == 1 and got[0]["n"] == gen
        np.testing.assert_allclose(got[0]["vector"], vec, rtol=1e-6)
        assert count(client, "ups") == 200
        # The replaced row no longer matches filters on its old values.
        assert 5 not in [r["id"] for r in client.query("ups", filter="n < 1", **STRONG)]
        stale_hits = client.search(
            "ups", [versions[0].tolist()], limit=10, filter=f"n != {gen}", **STRONG
        )
        assert 5 not in hit_ids(stale_hits)[0]
        if gen == 1:
            client.flush("ups")


def test_varchar_keys_merge_across_segments(client: MilvusClient, base, queries) -> None:
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=16)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index(
        "vector", index_type="HNSW", metric_type="COSINE", params={"M": 16, "efConstruction": 100}
    )
    create_indexed(client, "feat_str", schema, index, shards=2)
    keys = [f"k{i:04d}" for i in range(N)]
    for start, stop in ((0, 300), (300, 600), (600, N)):
        client.insert(
            "feat_str", [{"id": keys[i], "vector": base[i].tolist()} for i in range(start, stop)]
        )
        if stop < N:
            client.flush("feat_str")
    # Upsert one key with another row's vector: it must appear once, with its new score.
    client.upsert("feat_str", [{"id": keys[1], "vector": base[2].tolist()}])
    moved = base.copy()
    moved[1] = base[2]
    result = client.search(
        "feat_str", queries.tolist(), limit=10, search_params={"params": {"ef": 300}}, **STRONG
    )
    want, _ = brute_force(moved, queries, "COSINE", 10)
    assert hit_ids(result) == [[keys[i] for i in row] for row in want.tolist()]
    near_two = client.search("feat_str", [base[2].tolist()], limit=3, **STRONG)
    assert sorted(hit_ids(near_two)[0][:2]) == [keys[1], keys[2]]
    assert len(set(hit_ids(near_two)[0])) == 3


def test_duplicate_keys_still_fill_the_limit(client: MilvusClient) -> None:
    """A key inserted twice (no upsert) is one hit, and the page still holds ``limit`` keys."""
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=4)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="L2")
    create_indexed(client, "dupes", schema, index)
    rows = [{"id": i, "vector": [float(i), 0.0, 0.0, 0.0]} for i in range(30)]
    client.insert("dupes", rows)
    client.flush("dupes")
    client.insert("dupes", rows[:8])  # the eight nearest keys again, same vectors
    result = client.search("dupes", [[0.0, 0.0, 0.0, 0.0]], limit=10, **STRONG)
    assert hit_ids(result) == [list(range(10))]
    got = client.query("dupes", filter="id < 10", output_fields=["id"], **STRONG)
    assert sorted(r["id"] for r in got) == list(range(10))


# --- errors -----------------------------------------------------------------------------------


def test_search_on_released_collection(client: MilvusClient, flat, queries) -> None:
    name = "feat_released"
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="L2")
    create_indexed(client, name, schema, index)
    client.insert(name, [{"id": 1, "vector": queries[0].tolist()}])
    collection_id = client.describe_collection(name)["collection_id"]
    client.release_collection(name)
    with milvus_error(
        101, message=f"failed to search: collection not loaded[collection={collection_id}]"
    ):
        client.search(name, queries[:1].tolist(), limit=1)
    client.load_collection(name)
    assert hit_ids(client.search(name, queries[:1].tolist(), limit=1, **STRONG)) == [[1]]


def test_search_errors(client: MilvusClient, flat, queries) -> None:
    name = flat["L2"]
    q = queries[:1].tolist()
    with milvus_error(
        1100,
        message="fail to search: metric type not match: invalid [expected=L2][actual=COSINE]: "
        "invalid parameter",
    ):
        client.search(name, q, limit=3, search_params={"metric_type": "COSINE"})
    with milvus_error(
        2000,
        message="vector dimension mismatch, expected vector size(byte) 64, actual 60.: "
        "segcore error",
    ):
        client.search(name, [[0.1] * (DIM - 1)], limit=3)
    with milvus_error(
        65535, message="topk [16385] is invalid, it should be in range [1, 16384], but got 16385"
    ):
        client.search(name, q, limit=16385)
    with milvus_error(65535, match=r"offset\+topk \[16385\] is invalid"):
        client.search(name, q, limit=16000, offset=385)
    with milvus_error(
        1100,
        message="failed to create query plan: failed to get field schema by name: "
        "fieldName(nosuch) not found: invalid parameter",
    ):
        client.search(name, q, limit=3, anns_field="nosuch")
    with milvus_error(
        1100,
        message="failed to create query plan: field (grp) to search is not of vector data "
        "type: invalid parameter",
    ):
        client.search(name, q, limit=3, anns_field="grp")
    with milvus_error(1100, match=r"^failed to create query plan: cannot parse expression: grp >"):
        client.search(name, q, limit=3, filter="grp >")
