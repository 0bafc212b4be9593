"""MaxScore BM25 top-k: the same answers as scoring every posting, with and without filters."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from sluice.index import SearchParams, build
from sluice.index.bm25_topk import maxscore_top_k
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


@pytest.mark.parametrize("filtered", [False, True])
def test_pruned_answers_equal_full_scoring(filtered: bool) -> None:
    docs = _corpus(1)
    index = _index(docs)
    queries = _queries(2, 120)
    mask = np.random.default_rng(3).random(N) < 0.6 if filtered else None
    pruned = index.search(queries, 10, SearchParams(metric_type="BM25", k=10), mask)
    full = index.search(
        queries, 10, SearchParams(metric_type="BM25", k=10, drop_ratio_search=1e-9), mask
    )
    # drop_ratio_search > 0 takes the unpruned path; with so tiny a ratio it drops nothing.
    np.testing.assert_array_equal(pruned[1], full[1])
    np.testing.assert_array_equal(pruned[0], full[0])


def test_gives_up_when_candidates_cover_the_segment() -> None:
    postings = sp.csr_matrix(np.ones((1, 100), dtype=np.float32))
    lengths = np.ones(100, dtype=np.float32)
    answer = maxscore_top_k(
        postings, lengths, np.array([0]), np.array([1.0], np.float32), 5, (1.2, 0.75, 1.0), None
    )
    assert answer is None
