"""Nullable vector fields (validity masks) and exact search for every vector kind."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
import scipy.sparse as sp

from sluice.index import (
    RowMappedIndex,
    VectorKind,
    build,
    kind_of,
    load_index,
    parse_index_spec,
    parse_search_params,
    search_exact,
)
from sluice.index.kinds import binary_codes, dense_float32, sparse_rows
from sluice.schema import DataType

from .support import make_clustered, recall_at_k, true_scores, typed_field

N, D = 2_000, 16


@pytest.mark.parametrize(
    ("dtype", "index_type", "metric"),
    [
        (DataType.FLOAT_VECTOR, "HNSW", "L2"),
        (DataType.FLOAT16_VECTOR, "IVF_FLAT", "IP"),
        (DataType.BINARY_VECTOR, "BIN_IVF_FLAT", "HAMMING"),
        (DataType.SPARSE_FLOAT_VECTOR, "SPARSE_INVERTED_INDEX", "IP"),
    ],
)
def test_null_rows_are_never_results(dtype: DataType, index_type: str, metric: str) -> None:
    rng = np.random.default_rng(9)
    valid = rng.random(N) < 0.6
    if dtype == DataType.BINARY_VECTOR:
        rows: object = rng.integers(0, 256, size=(N, D // 8), dtype=np.uint8)
        queries: object = rng.integers(0, 256, size=(5, D // 8), dtype=np.uint8)
    elif dtype == DataType.SPARSE_FLOAT_VECTOR:
        rows = sp.random(N, 50, density=0.2, format="csr", random_state=1, dtype=np.float32)
        queries = sp.random(5, 50, density=0.3, format="csr", random_state=2, dtype=np.float32)
    else:
        data = make_clustered(N, D, 10, 5, seed=1)
        kind = np.float16 if dtype == DataType.FLOAT16_VECTOR else np.float32
        rows, queries = data.data.astype(kind), data.queries.astype(kind)
    field = typed_field(dtype, None if dtype == DataType.SPARSE_FLOAT_VECTOR else D)
    spec = parse_index_spec(field, index_type, metric, {"nlist": 8} if "IVF" in index_type else {})
    index = build(spec, rows, rerank_vectors=rows, valid=valid)
    assert isinstance(index, RowMappedIndex) and index.ntotal == N
    allowed = np.ones(N, dtype=bool)
    allowed[:100] = False
    params = parse_search_params(spec, None, {"nprobe": 8}, 20)
    for mask in (None, allowed):
        _, ids = index.search(queries, 20, params, mask)
        found = ids[ids >= 0]
        assert found.size and valid[found].all()
        if mask is not None:
            assert mask[found].all()
    loaded = load_index(spec, index.serialize(), rerank_vectors=rows)
    assert np.array_equal(
        loaded.search(queries, 20, params)[1], index.search(queries, 20, params)[1]
    )


def test_compact_vectors_are_accepted_too() -> None:
    data = make_clustered(N, D, 10, 5, seed=2)
    valid = np.zeros(N, dtype=bool)
    valid[::2] = True
    spec = parse_index_spec(typed_field(DataType.FLOAT_VECTOR, D), "FLAT", "L2", {})
    index = build(spec, data.data[valid], valid=valid)
    _, ids = index.search(data.queries, 5, parse_search_params(spec, None, {}, 5))
    truth = true_scores(data.data, data.queries, "L2")
    truth[:, ~valid] = -np.inf
    assert recall_at_k(ids, truth, 5) == 1.0


def test_exact_search_for_every_kind() -> None:
    data = make_clustered(N, D, 10, 5, seed=3)
    for dtype, cast in [
        (DataType.FLOAT_VECTOR, np.float32),
        (DataType.FLOAT16_VECTOR, np.float16),
        (DataType.BFLOAT16_VECTOR, ml_dtypes.bfloat16),
        (DataType.INT8_VECTOR, np.int8),
    ]:
        rows = (data.data * 5).astype(cast)
        queries = (data.queries * 5).astype(cast)
        params = parse_search_params(None, "COSINE", {}, 10, kind=kind_of(dtype))
        _, ids = search_exact(dtype, D, rows, queries, 10, params)
        truth = true_scores(rows.astype(np.float32), queries.astype(np.float32), "COSINE")
        assert recall_at_k(ids, truth, 10) == 1.0
    codes = np.packbits(data.data > 0, axis=1)
    params = parse_search_params(None, "JACCARD", {}, 3, kind=VectorKind.BINARY)
    scores, ids = search_exact(DataType.BINARY_VECTOR, D, codes, codes[:2], 3, params)
    assert ids[:, 0].tolist() == [0, 1] and (scores[:, 0] == 0).all()
    docs = sp.random(N, 30, density=0.3, format="csr", random_state=4, dtype=np.float32)
    params = parse_search_params(
        None, "IP", {"radius": 0.1, "range_filter": 100}, 5, kind=VectorKind.SPARSE
    )
    scores, _ = search_exact(DataType.SPARSE_FLOAT_VECTOR, 0, docs, docs[:3], 5, params)
    assert (scores[:, 0] > 0.1).all()


def test_kind_conversions() -> None:
    half = np.ones((2, 4), dtype=ml_dtypes.bfloat16)
    assert dense_float32(half, VectorKind.BFLOAT16, 4).dtype == np.float32
    with pytest.raises(ValueError, match="expected a"):
        dense_float32(np.ones((2, 3), np.float32), VectorKind.FLOAT, 4)
    assert binary_codes(np.zeros(4, np.uint8), 16).shape == (2, 2)
    dup = sp.csr_matrix(
        (np.array([1.0, 2.0, 0.0], np.float32), np.array([5, 5, 7]), np.array([0, 3])),
        shape=(1, 10),
    )
    canonical = sparse_rows(dup)
    assert canonical.indices.tolist() == [5] and canonical.data.tolist() == [3.0]
    with pytest.raises(ValueError, match="finite"):
        sparse_rows(sp.csr_matrix(np.array([[np.inf]], np.float32)))
