"""Impact-ordered BM25 top-k: the same answers as scoring every posting, on every path."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from sluice.index import Bm25Stats, SearchParams, bm25_impact, build
from sluice.index.spec import parse_index_spec
from sluice.schema import DataType, FieldSchema

N, VOCAB = 3000, 400


def _corpus(seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    rows, cols = [], []
    for doc in range(N):
        words = np.minimum(rng.zipf(1.3, size=int(rng.integers(3, 20))), VOCAB) - 1
        rows.extend([doc] * len(words))
        cols.extend(words.tolist())
    ones = np.ones(len(rows), dtype=np.float32)
    matrix = sp.csr_matrix((ones, (rows, cols)), shape=(N, VOCAB))
    matrix.sum_duplicates()
    return matrix


def _index(docs: sp.csr_matrix):  # type: ignore[no-untyped-def]
    spec = parse_index_spec(
        FieldSchema("s", DataType.SPARSE_FLOAT_VECTOR), "SPARSE_INVERTED_INDEX", "BM25", {}
    )
    return build(spec, docs)


def _queries(seed: int, count: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    rows, cols = [], []
    for q in range(count):
        words = np.unique(np.minimum(rng.zipf(1.2, size=int(rng.integers(1, 5))), VOCAB) - 1)
        rows.extend([q] * len(words))
        cols.extend(words.tolist())
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(count, VOCAB))


def _assert_same_as_full(index, queries, mask, stats=None) -> None:  # type: ignore[no-untyped-def]
    pruned = index.search(queries, 10, SearchParams(metric_type="BM25", k=10, bm25=stats), mask)
    # drop_ratio_search > 0 takes the unpruned product path; so tiny a ratio drops nothing.
    params = SearchParams(metric_type="BM25", k=10, drop_ratio_search=1e-9, bm25=stats)
    full = index.search(queries, 10, params, mask)
    np.testing.assert_array_equal(pruned[1], full[1])
    np.testing.assert_array_equal(pruned[0], full[0])


@pytest.mark.parametrize("filtered", [False, True])
@pytest.mark.parametrize("dense_rows", [True, False], ids=["dense-rows", "postings-only"])
@pytest.mark.parametrize(
    ("first_depth", "rounds"),
    [(128, 3), (1, 1), (2, 8), (1, 0)],
    ids=["default", "dense-pass-after-one-round", "many-small-rounds", "dense-pass-only"],
)
def test_answers_equal_full_scoring_on_every_path(
    filtered: bool,
    dense_rows: bool,
    first_depth: int,
    rounds: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bm25_impact, "FIRST_DEPTH", first_depth)
    monkeypatch.setattr(bm25_impact, "ROUNDS", rounds)
    if not dense_rows:
        monkeypatch.setattr(bm25_impact, "DENSE_BUDGET_PER_POSTING", 0)
    index = _index(_corpus(1))
    index.search(_queries(9, 1), 10, SearchParams(metric_type="BM25", k=10))
    assert bool(index._impact.dense) is dense_rows
    mask = np.random.default_rng(3).random(N) < 0.6 if filtered else None
    _assert_same_as_full(index, _queries(2, 120), mask)


def test_a_stale_impact_order_still_gives_exact_answers() -> None:
    """The order comes from the first avgdl searched; another avgdl reorders values."""
    docs = _corpus(4)
    index = _index(docs)
    queries = _queries(5, 80)
    _assert_same_as_full(index, queries, None)
    own = index.bm25_stats
    for avgdl in (1.0, 40.0):
        stats = Bm25Stats(own.doc_count, avgdl * own.doc_count, own.terms, own.doc_freq)
        _assert_same_as_full(index, queries, None, stats)


def test_suffix_max_stays_inside_each_term() -> None:
    rng = np.random.default_rng(6)
    sizes = np.array([3, 1, 5, 2])
    values = rng.random(sizes.sum()).astype(np.float32)
    got = bm25_impact._suffix_max(values, sizes)
    expected, start = [], 0
    for size in sizes:
        part = values[start : start + size]
        expected.extend(np.maximum.accumulate(part[::-1])[::-1])
        start += size
    np.testing.assert_array_equal(got, np.array(expected, np.float32))
