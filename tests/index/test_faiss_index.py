"""FAISS indexes against brute force: recall, filters, ranges, persistence, small segments."""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from sluice.errors import StorageError
from sluice.index import (
    FaissIndex,
    VectorIndex,
    build,
    exact_search,
    load_index,
    load_mapped_index,
    parse_index_spec,
    parse_search_params,
)
from sluice.index import filtering as filtering_module
from sluice.index.format import pack_row_mapped
from sluice.index.search_params import SearchParams

from .conftest import Case
from .support import PQ_ROWS, TEST_SEARCH_PARAMS, Clustered, recall_at_k, true_scores, vector_field

Cases = Callable[[str, str], Case]

TYPES = ["FLAT", "IVF_FLAT", "IVF_SQ8", "IVF_PQ", "HNSW"]
METRICS = ["L2", "IP", "COSINE"]
GRID = [(t, m) for t in TYPES for m in METRICS] + [("AUTOINDEX", "COSINE")]


def search_params(index: FaissIndex, k: int = 10, **extra: object) -> SearchParams:
    params = {**TEST_SEARCH_PARAMS[index.spec.index_type], **extra}
    if "radius" in extra:
        params.pop("ef", None)  # range searches use knowhere's default ef of 512
    return parse_search_params(index.spec, None, {"params": params}, k)


def test_faiss_index_is_a_vector_index(case: Cases) -> None:
    assert isinstance(case("FLAT", "L2").index, VectorIndex)


@pytest.mark.parametrize(("index_type", "metric"), GRID)
def test_recall_against_brute_force(case: Cases, index_type: str, metric: str) -> None:
    c = case(index_type, metric)
    scores, ids = c.index.search(c.queries, 10, search_params(c.index))
    recall = recall_at_k(ids, c.truth, 10)
    if index_type == "FLAT":
        assert recall == 1.0
    else:
        assert recall >= 0.95, f"{index_type}/{metric} recall@10 {recall:.3f}"
    # Scores follow the Milvus convention: best first, L2 ascending, IP/COSINE descending.
    step = np.diff(scores, axis=1)
    assert (step >= -1e-4).all() if metric == "L2" else (step <= 1e-4).all()
    if metric == "COSINE":
        assert (np.abs(scores) <= 1.0001).all()


@pytest.mark.parametrize(("index_type", "metric"), GRID)
@pytest.mark.parametrize("selectivity", [0.1, 0.01])
def test_filtered_search(case: Cases, index_type: str, metric: str, selectivity: float) -> None:
    c = case(index_type, metric)
    allowed = np.random.default_rng(11).random(c.index.ntotal) < selectivity
    _, ids = c.index.search(c.queries, 10, search_params(c.index), allowed)
    assert (ids >= 0).all(), "enough rows are allowed for a full top-10"
    assert allowed[ids].all()
    truth = c.truth
    truth[:, ~allowed] = -np.inf
    assert recall_at_k(ids, truth, 10) >= 0.98


@pytest.mark.parametrize("metric", METRICS)
def test_filtered_hnsw_walk_scales_ef(
    case: Cases, metric: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Force the graph walk (no exact fallback) to check the ef / selectivity scaling.
    monkeypatch.setattr(filtering_module, "EXACT_COST_RATIO", 0.0)
    c = case("HNSW", metric)
    allowed = np.random.default_rng(12).random(c.index.ntotal) < 0.1
    _, ids = c.index.search(c.queries, 10, search_params(c.index), allowed)
    assert (ids >= 0).all()
    assert allowed[ids].all()
    truth = c.truth
    truth[:, ~allowed] = -np.inf
    assert recall_at_k(ids, truth, 10) >= 0.98


@pytest.mark.parametrize(("index_type", "metric"), GRID)
def test_serialize_round_trip(case: Cases, index_type: str, metric: str) -> None:
    c = case(index_type, metric)
    index = c.index
    again = load_index(index.spec, index.serialize(), rerank_vectors=c.data)
    assert again.ntotal == index.ntotal
    assert again.memory_bytes == index.memory_bytes
    params = search_params(index)
    allowed = np.random.default_rng(13).random(index.ntotal) < 0.3
    for mask in (None, allowed):
        first = index.search(c.queries, 10, params, mask)
        second = again.search(c.queries, 10, params, mask)
        assert np.array_equal(first[1], second[1])
        assert np.array_equal(first[0], second[0])


@pytest.mark.parametrize(("index_type", "metric"), GRID)
def test_a_mapped_index_file_answers_as_the_index_in_memory(
    case: Cases, index_type: str, metric: str, tmp_path: Path
) -> None:
    c = case(index_type, metric)
    path = tmp_path / "index.slix"
    path.write_bytes(c.index.serialize())
    mapped = load_mapped_index(c.index.spec, str(path), rerank_vectors=c.data)
    assert isinstance(mapped, FaissIndex) and mapped.mapped and not c.index.mapped
    path.unlink()  # a mapping outlives the file's name
    params = search_params(c.index)
    first = c.index.search(c.queries, 10, params)
    second = mapped.search(c.queries, 10, params)
    assert np.array_equal(first[1], second[1]) and np.array_equal(first[0], second[0])


def test_files_that_cannot_be_mapped_are_left_to_load_index(case: Cases, tmp_path: Path) -> None:
    index = case("HNSW", "L2").index
    old_format = tmp_path / "v2.slix"
    old_format.write_bytes(b"SLIX" + bytes([2, 0, 0]) + bytes(8) + b"payload")
    assert load_mapped_index(index.spec, str(old_format)) is None
    # A nullable field's row-mapped file ends with its inner index's format-3 trailer.
    row_mapped = tmp_path / "rows.slix"
    valid = np.ones(index.ntotal, dtype=bool)
    row_mapped.write_bytes(pack_row_mapped(valid, index.serialize()))
    assert load_mapped_index(index.spec, str(row_mapped)) is None
    assert load_mapped_index(index.spec, str(row_mapped), mmap=False) is None
    truncated = tmp_path / "cut.slix"
    whole = index.serialize()
    truncated.write_bytes(whole[: len(whole) // 2] + whole[-15:])
    with pytest.raises(StorageError, match="corrupt"):
        load_mapped_index(index.spec, str(truncated))


@pytest.mark.parametrize(
    ("index_type", "metric", "shared"),
    [("HNSW", "L2", True), ("FLAT", "IP", True), ("FLAT", "L2", True),
     ("HNSW", "COSINE", False), ("HNSW", "IP", False), ("IVF_FLAT", "L2", False)],
)  # fmt: skip
def test_stored_vectors_are_the_rows_as_given_and_keep_the_index_alive(
    case: Cases, index_type: str, metric: str, shared: bool
) -> None:
    c = case(index_type, metric)
    again = load_index(c.index.spec, c.index.serialize(), rerank_vectors=c.data)
    assert isinstance(again, FaissIndex)
    stored = again.stored_vectors()
    if not shared:
        assert stored is None
        return
    assert stored is not None and not stored.flags.writeable
    del again
    gc.collect()
    _churn = [np.ones((len(c.data), c.data.shape[1]), np.float32) for _ in range(4)]
    assert np.array_equal(stored, c.data)


def test_load_rejects_foreign_or_mismatched_data(case: Cases) -> None:
    index = case("HNSW", "L2").index
    with pytest.raises(StorageError, match="header"):
        load_index(index.spec, b"not an index")
    with pytest.raises(StorageError, match="corrupt"):
        load_index(index.spec, index.serialize()[:100])
    other = parse_index_spec(vector_field(), "HNSW", "IP", {"M": "16"})
    with pytest.raises(StorageError, match="does not match"):
        load_index(other, index.serialize())


def test_inner_product_hnsw_is_built_in_l2_space(case: Cases) -> None:
    c = case("HNSW", "IP")
    assert c.index.max_norm_sq == pytest.approx(
        float((c.data.astype(np.float64) ** 2).sum(1).max())
    )
    assert case("HNSW", "L2").index.max_norm_sq is None
    # Deep lists stay accurate: the IP graph alone topped out near 0.88 at k=100.
    params = parse_search_params(c.index.spec, None, {"params": {"ef": 512}}, 100)
    scores, ids = c.index.search(c.queries, 100, params)
    assert recall_at_k(ids, c.truth, 100) >= 0.98
    exact = np.take_along_axis(c.truth, ids, 1)
    assert np.allclose(scores, exact, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("index_type", ["IVF_SQ8", "IVF_PQ"])
def test_rerank_returns_exact_scores(clustered: Clustered, index_type: str) -> None:
    data = clustered.data[:PQ_ROWS]
    spec = parse_index_spec(
        vector_field(), index_type, "L2", {"nlist": "64", "m": "16", "nbits": "6"}
    )
    plain = build(spec, data)
    ranked = load_index(spec, plain.serialize(), rerank_vectors=data)
    assert not plain.reranks and ranked.reranks
    params = parse_search_params(spec, None, {"params": {"nprobe": 16}}, 10)
    approx_scores, approx_ids = plain.search(clustered.queries, 10, params)
    scores, ids = ranked.search(clustered.queries, 10, params)
    truth = true_scores(data, clustered.queries, "L2")
    assert np.allclose(scores, -np.take_along_axis(truth, ids, 1), rtol=1e-4, atol=1e-2)
    assert recall_at_k(ids, truth, 10) >= recall_at_k(approx_ids, truth, 10)
    assert not np.allclose(approx_scores, scores)


@pytest.mark.parametrize(
    ("index_type", "metric", "radius", "range_filter"),
    [
        ("FLAT", "L2", 120.0, 95.0),
        ("HNSW", "L2", 120.0, None),
        ("IVF_FLAT", "L2", 120.0, 95.0),
        ("HNSW", "IP", 560.0, 610.0),
        ("IVF_SQ8", "IP", 560.0, None),
        ("HNSW", "COSINE", 0.9, 0.93),
        ("IVF_PQ", "COSINE", 0.9, None),
    ],
)
def test_range_search(
    case: Cases, index_type: str, metric: str, radius: float, range_filter: float | None
) -> None:
    c = case(index_type, metric)
    index = c.index
    window = (
        {"radius": radius}
        if range_filter is None
        else {"radius": radius, "range_filter": range_filter}
    )
    params = search_params(index, k=20, **window)
    assert params.is_range
    scores, ids = index.search(c.queries, 20, params)
    truth = c.truth
    value = -truth if metric == "L2" else truth
    low = range_filter if range_filter is not None else -np.inf
    high = range_filter if range_filter is not None else np.inf
    inside = (
        (value < radius) & (value >= low) if metric == "L2" else (value > radius) & (value <= high)
    )
    found = ids >= 0
    assert np.take_along_axis(inside, np.where(found, ids, 0), 1)[found].all()
    # Compare with the exact window's best 20.
    masked = np.where(inside, truth, -np.inf)
    expected = np.minimum(inside.sum(1), 20)
    # Windows sit among each query's ~100 nearest rows (see the data's score quantiles).
    assert expected.sum() > 500, "the window must hold enough rows to be meaningful"
    hits = (
        np.take_along_axis(masked, np.where(found, ids, 0), 1)
        >= -np.sort(-masked, 1)[:, 19:20] - 1e-3
    ) & found
    assert hits.sum() >= 0.9 * expected.sum()
    assert np.isfinite(scores[found]).all()


def test_range_search_with_filter(case: Cases) -> None:
    c = case("HNSW", "L2")
    index = c.index
    allowed = np.random.default_rng(14).random(index.ntotal) < 0.05
    params = search_params(index, k=10, radius=150.0)
    _, ids = index.range_search(c.queries, 10, params, allowed)
    assert allowed[ids[ids >= 0]].all()
    assert (ids >= 0).sum() > 0


@pytest.mark.parametrize("index_type", ["FLAT", "IVF_FLAT", "IVF_SQ8", "IVF_PQ", "HNSW"])
@pytest.mark.parametrize("rows", [0, 1, 7, 300])
def test_small_segments(index_type: str, rows: int) -> None:
    data = np.random.default_rng(rows).normal(size=(rows, 16)).astype(np.float32)
    field = vector_field(16)
    spec = parse_index_spec(field, index_type, "L2", {"nlist": "128", "m": "4"})
    index = build(spec, data, rerank_vectors=data)
    assert index.ntotal == rows
    queries = np.random.default_rng(99).normal(size=(3, 16)).astype(np.float32)
    params = parse_search_params(spec, None, {}, 10)
    scores, ids = index.search(queries, 10, params)
    assert ids.shape == (3, 10)
    found = min(rows, 10)
    assert (ids[:, :found] >= 0).all() and (ids[:, found:] == -1).all()
    assert np.isinf(scores[:, found:]).all()
    if rows:
        _, expected = exact_search(data, queries, found, "L2")
        assert np.array_equal(ids[:, :found], expected)
    if index_type == "IVF_PQ":
        assert index.nlist == 0, "too few rows to train 2^8 PQ centroids: stored as FLAT"
    elif index_type.startswith("IVF") and rows:
        assert 1 <= index.nlist <= max(1, rows // 39)
    again = load_index(spec, index.serialize(), rerank_vectors=data)
    assert np.array_equal(again.search(queries, 10, params)[1], ids)


def test_cosine_zero_vectors_do_not_produce_nan() -> None:
    data = np.random.default_rng(4).normal(size=(50, 8)).astype(np.float32)
    data[3] = 0.0
    spec = parse_index_spec(vector_field(8), "HNSW", "COSINE", {"M": "8"})
    index = build(spec, data)
    params = parse_search_params(spec, None, {}, 50)
    scores, ids = index.search(np.zeros((1, 8), np.float32), 50, params)
    assert not np.isnan(scores).any()
    assert np.allclose(scores[ids >= 0], 0.0)
    scores, ids = index.search(data[:2], 50, params)
    assert not np.isnan(scores).any()
    assert scores[0, ids[0].tolist().index(3)] == pytest.approx(0.0)


def test_empty_inputs_and_empty_masks(case: Cases, clustered: Clustered) -> None:
    index = case("HNSW", "IP").index
    params = search_params(index)
    scores, ids = index.search(clustered.queries[:0], 10, params)
    assert scores.shape == (0, 10) and ids.shape == (0, 10)
    scores, ids = index.search(clustered.queries[:2], 10, params, np.zeros(index.ntotal, bool))
    assert (ids == -1).all() and (scores == -np.inf).all()
    everything = np.ones(index.ntotal, bool)
    assert np.array_equal(
        index.search(clustered.queries, 10, params, everything)[1],
        index.search(clustered.queries, 10, params)[1],
    )
    with pytest.raises(ValueError):
        index.search(clustered.queries, 10, params, np.ones(5, bool))


def test_memory_bytes_match_estimates(case: Cases) -> None:
    for index_type in ("FLAT", "IVF_FLAT", "IVF_SQ8", "IVF_PQ", "HNSW"):
        c = case(index_type, "L2")
        rows, dim = c.data.shape
        estimate = c.index.spec.build.estimated_bytes(rows, dim)
        assert 0.7 * estimate <= c.index.memory_bytes <= 1.3 * estimate, index_type
    assert case("IVF_SQ8", "L2").index.memory_bytes < case("FLAT", "L2").index.memory_bytes


def test_concurrent_searches_agree(case: Cases, clustered: Clustered) -> None:
    index = case("HNSW", "L2").index
    params = search_params(index)
    expected = index.search(clustered.queries, 10, params)[1]
    allowed = np.random.default_rng(15).random(index.ntotal) < 0.5
    expected_filtered = index.search(clustered.queries, 10, params, allowed)[1]
    failures: list[str] = []

    def worker() -> None:
        for row in range(len(clustered.queries)):
            one = clustered.queries[row : row + 1]
            if not np.array_equal(index.search(one, 10, params)[1][0], expected[row]):
                failures.append(f"row {row}")
            got = index.search(one, 10, params, allowed)[1][0]
            if not np.array_equal(got, expected_filtered[row]):
                failures.append(f"filtered row {row}")

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_concurrent_scans_with_fresh_filters_never_fail() -> None:
    """Each search brings a new mask (deletes change between snapshots): the subset cache
    is evicted and filled from many threads at once; no search may fail or go wrong.

    A tiny index keeps each search mostly Python, and a one-microsecond switch interval
    interleaves the threads between bytecodes, so an unguarded eviction race shows up.
    """
    rng = np.random.default_rng(16)
    rows = rng.random((64, 4), dtype=np.float32)
    index = build(parse_index_spec(vector_field(4), "FLAT", "L2", {}), rows)
    params = parse_search_params(index.spec, None, {}, 3)
    masks = [rng.random(64) < 0.5 for _ in range(8)]
    query = rows[:1]
    expected = [index.search(query, 3, params, m.copy())[1][0] for m in masks]
    failures: list[str] = []

    def worker(seed: int) -> None:
        for i in range(3000):
            which = (seed + i) % len(masks)
            try:
                got = index.search(query, 3, params, masks[which].copy())[1][0]
            except Exception as exc:  # the defect surfaced as a KeyError here
                failures.append(repr(exc))
                return
            if not np.array_equal(got, expected[which]):
                failures.append(f"mask {which}")

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads between almost every bytecode
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switch)
    assert failures == []
