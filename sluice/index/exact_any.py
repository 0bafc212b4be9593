"""Exact search over any vector kind: growing segments and unindexed fields.

:func:`search_exact` takes the segment's vectors in the field's kind (see
:mod:`sluice.index.kinds`) and answers exactly what the flat index of that
kind would: dense kinds through :mod:`sluice.index.exact` on float32 copies,
binary through a transient BIN_FLAT, sparse through transient posting lists
(building them is ``O(nnz)``, the same order as one scan).  Range windows
(``params.radius``) and ``allowed`` masks work as for indexes; for a nullable
field, fold its validity mask into ``allowed``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sluice.index.binary_index import build_binary
from sluice.index.build_params import BIN_FLAT, SPARSE_INVERTED_INDEX
from sluice.index.exact import exact_range_search, exact_search
from sluice.index.kinds import VectorKind, dense_float32, kind_of
from sluice.index.params import BinFlatParams, SparseParams
from sluice.index.search_params import SearchParams
from sluice.index.sparse_index import build_sparse
from sluice.index.spec import IndexSpec
from sluice.index.topk import Result
from sluice.schema import DataType


def search_exact(
    data_type: DataType,
    dim: int,
    vectors: Any,
    queries: Any,
    k: int,
    params: SearchParams,
    allowed: np.ndarray | None = None,
    *,
    spec: IndexSpec | None = None,
) -> Result:
    """Exact top-``k`` (or range window) of ``queries`` over ``vectors`` of ``data_type``.

    ``spec`` is the field's index when it has one: a sparse BM25 field takes
    ``bm25_k1``/``bm25_b`` from it (Milvus's defaults otherwise).
    """
    kind = kind_of(data_type)
    metric = params.metric_type
    if kind.is_dense_float:
        x = dense_float32(vectors, kind, dim)
        q = dense_float32(queries, kind, dim)
        if params.radius is not None:
            return exact_range_search(x, q, k, metric, params.radius, params.range_filter, allowed)
        return exact_search(x, q, k, metric, allowed)
    if kind is VectorKind.BINARY:
        flat = IndexSpec(
            BIN_FLAT, metric, dim, BinFlatParams(), data_type=data_type, engine=BIN_FLAT
        )
        return build_binary(flat, vectors).search(queries, k, params, allowed)
    build = (
        spec.build if spec is not None and isinstance(spec.build, SparseParams) else SparseParams()
    )
    sparse = IndexSpec(
        SPARSE_INVERTED_INDEX, metric, 0, build, data_type=data_type, engine=SPARSE_INVERTED_INDEX
    )
    return build_sparse(sparse, vectors).search(queries, k, params, allowed)
