"""SPARSE_INVERTED_INDEX / SPARSE_WAND with IP and BM25 against dense numpy references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from sluice.index import (
    Bm25Stats,
    SparseIndex,
    build,
    load_index,
    parse_index_spec,
    parse_search_params,
)
from sluice.index.search_params import SearchParams
from sluice.schema import DataType

from .support import typed_field

FIELD = typed_field(DataType.SPARSE_FLOAT_VECTOR, None)
N, COLS = 3_000, 4_000


def zipf_rows(rows: int, nnz: int, seed: int, counts: bool = False) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, COLS + 1)
    cols = rng.choice(COLS, size=(rows, nnz), p=weights / weights.sum())
    cols = cols * 977 % 2**32  # spread ids over the 32-bit range
    values = np.ceil(rng.random((rows, nnz)) * 4) if counts else rng.random((rows, nnz))
    indptr = np.arange(0, rows * nnz + 1, nnz)
    out = sp.csr_matrix(
        (values.ravel().astype(np.float32), cols.ravel(), indptr), shape=(rows, 2**32 - 1)
    )
    out.sum_duplicates()
    return out


@pytest.fixture(scope="module")
def corpus() -> tuple[sp.csr_matrix, sp.csr_matrix]:
    return zipf_rows(N, 40, 1), zipf_rows(10, 12, 2)


def compact(*parts: sp.csr_matrix) -> list[sp.csr_matrix]:
    """The matrices with their columns renumbered densely (scipy cannot transpose 2**32 columns)."""
    used, inverse = np.unique(np.concatenate([p.indices for p in parts]), return_inverse=True)
    out, start = [], 0
    for p in parts:
        cols = inverse[start : start + p.indices.size]
        start += p.indices.size
        out.append(sp.csr_matrix((p.data, cols, p.indptr), shape=(p.shape[0], used.size)))
    return out


def dense_ip(docs: sp.csr_matrix, queries: sp.csr_matrix) -> np.ndarray:
    d, q = compact(docs, queries)
    return (q @ d.T).toarray().astype(np.float64)


def index_for(index_type: str, metric: str, docs: sp.csr_matrix, **params: object) -> SparseIndex:
    spec = parse_index_spec(FIELD, index_type, metric, params)
    built = build(spec, docs)
    assert isinstance(built, SparseIndex)
    return built


def best(truth: np.ndarray, k: int) -> np.ndarray:
    ranked = -np.sort(-truth, axis=1)[:, :k]
    return np.where(ranked > 0, ranked, -np.inf)


@pytest.mark.parametrize("index_type", ["SPARSE_INVERTED_INDEX", "SPARSE_WAND"])
def test_ip_is_exact(corpus: tuple[sp.csr_matrix, sp.csr_matrix], index_type: str) -> None:
    docs, queries = corpus
    index = index_for(index_type, "IP", docs)
    scores, ids = index.search(queries, 10, parse_search_params(index.spec, None, {}, 10))
    truth = dense_ip(docs, queries)
    assert np.allclose(scores, best(truth, 10), rtol=1e-5)
    found = ids >= 0
    assert np.allclose(
        np.take_along_axis(truth, np.maximum(ids, 0), axis=1)[found], scores[found], rtol=1e-5
    )


def test_only_documents_sharing_a_term_are_results() -> None:
    docs = sp.csr_matrix(np.array([[1, 0, 0], [0, 2, 0], [0, 0, 3]], dtype=np.float32))
    index = index_for("SPARSE_INVERTED_INDEX", "IP", docs)
    q = sp.csr_matrix(np.array([[0, 1, 0]], dtype=np.float32))
    scores, ids = index.search(q, 3, parse_search_params(index.spec, None, {}, 3))
    assert ids.tolist() == [[1, -1, -1]] and scores[0, 0] == 2.0


def test_drop_ratio_search_recall(corpus: tuple[sp.csr_matrix, sp.csr_matrix]) -> None:
    docs, queries = corpus
    index = index_for("SPARSE_INVERTED_INDEX", "IP", docs)
    truth = dense_ip(docs, queries)
    params = parse_search_params(
        index.spec, None, {"drop_ratio_search": 0.2, "refine_factor": 3}, 10
    )
    scores, ids = index.search(queries, 10, params)
    kth = best(truth, 10)[:, 9:10]
    hits = np.take_along_axis(truth, np.maximum(ids, 0), axis=1) >= kth - 1e-5
    assert (hits & (ids >= 0)).mean() >= 0.9
    found = ids >= 0
    assert np.allclose(
        np.take_along_axis(truth, np.maximum(ids, 0), axis=1)[found], scores[found], rtol=1e-5
    )


def test_filter_and_range(corpus: tuple[sp.csr_matrix, sp.csr_matrix]) -> None:
    docs, queries = corpus
    index = index_for("SPARSE_INVERTED_INDEX", "IP", docs)
    allowed = np.zeros(N, dtype=bool)
    allowed[1::3] = True
    scores, ids = index.search(queries, 10, parse_search_params(index.spec, None, {}, 10), allowed)
    assert allowed[ids[ids >= 0]].all()
    truth = dense_ip(docs, queries)
    truth[:, ~allowed] = 0
    assert np.allclose(scores, best(truth, 10), rtol=1e-5)
    window = parse_search_params(index.spec, None, {"radius": 0.5, "range_filter": 1.5}, 50)
    scores, ids = index.search(queries, 50, window)
    found = ids >= 0
    assert found.any() and ((scores[found] > 0.5) & (scores[found] <= 1.5)).all()


def bm25_reference(docs: sp.csr_matrix, queries: sp.csr_matrix, stats: Bm25Stats) -> np.ndarray:
    k1, b = 1.2, 0.75
    tf = docs.tocsr()
    dl = np.asarray(tf.sum(axis=1)).ravel()
    rows = np.repeat(np.arange(tf.shape[0]), np.diff(tf.indptr))
    value = tf.data * (k1 + 1) / (tf.data + k1 * (1 - b + b * dl[rows] / max(stats.avgdl, 1.0)))
    doc_values = sp.csr_matrix((value, tf.indices, tf.indptr), shape=tf.shape)
    d, q = compact(doc_values, stats.query_weights(queries))
    return (q @ d.T).toarray().astype(np.float64)


def test_bm25_with_segment_and_corpus_statistics(
    corpus: tuple[sp.csr_matrix, sp.csr_matrix],
) -> None:
    docs = zipf_rows(N, 30, 5, counts=True)
    queries = zipf_rows(6, 5, 6, counts=True)
    index = index_for("SPARSE_INVERTED_INDEX", "BM25", docs)
    own = index.bm25_stats
    assert own.doc_count == N and own.avgdl == pytest.approx(float(docs.sum()) / N)
    params = parse_search_params(index.spec, None, {}, 10)
    scores, _ = index.search(queries, 10, params)
    assert np.allclose(scores, best(bm25_reference(docs, queries, own), 10), rtol=1e-4)
    other = zipf_rows(500, 50, 7, counts=True)
    merged = Bm25Stats.merge([own, Bm25Stats.of_documents(other)])
    assert merged.doc_count == N + 500
    wider = SearchParams(**{**params.__dict__, "bm25": merged})
    scores, _ = index.search(queries, 10, wider)
    assert np.allclose(scores, best(bm25_reference(docs, queries, merged), 10), rtol=1e-4)


def test_idf_follows_milvus() -> None:
    stats = Bm25Stats(10, 50.0, np.array([3, 7]), np.array([2, 10]))
    idf = stats.idf(np.array([3, 7, 9]))
    assert idf == pytest.approx(
        np.log1p((10 - np.array([2, 10, 0]) + 0.5) / (np.array([2, 10, 0]) + 0.5))
    )


@pytest.mark.parametrize("metric", ["IP", "BM25"])
def test_round_trip(corpus: tuple[sp.csr_matrix, sp.csr_matrix], metric: str) -> None:
    docs, queries = corpus
    index = index_for("SPARSE_WAND", metric, docs, bm25_k1=1.5)
    loaded = load_index(index.spec, index.serialize())
    params = parse_search_params(index.spec, None, {}, 10)
    first, again = index.search(queries, 10, params), loaded.search(queries, 10, params)
    assert np.array_equal(first[1], again[1]) and np.allclose(first[0], again[0])
