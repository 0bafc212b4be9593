"""Index declarations and exact search for the vector kinds other than FLOAT_VECTOR.

Binary, float16, bfloat16, int8 and sparse fields accept the index types and
metrics Milvus allows for them, checked here with Milvus's words; the index
layer (:mod:`sluice.index`) then parses, builds and searches the declared
index per sealed segment.  Segments without a built index (growing ones,
or sealed ones whose build is pending) are searched exactly by
:func:`kind_search`.

Distances follow Milvus: HAMMING counts differing bits, JACCARD is
``1 - |a & b| / |a | b|`` (both smaller-is-better); float16, bfloat16 and
int8 vectors are compared as float32 with L2, IP or COSINE; sparse vectors
score by inner product (larger is better).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import scipy.sparse

from sluice.errors import IndexNotSupported, ParameterInvalid
from sluice.index import IndexSpec, SearchParams, exact_range_search, exact_search
from sluice.index.errors import ParamRejected
from sluice.index.spec import (
    AUTOINDEX,
    BINARY_INDEX_TYPES,
    FLOAT_INDEX_TYPES,
    INT8_INDEX_TYPES,
    SPARSE_INDEX_TYPES,
    check_known_index_type,
    merge_client_params,
    parse_index_spec,
)
from sluice.schema import DataType, FieldSchema

HAMMING: Final = "HAMMING"
JACCARD: Final = "JACCARD"
IP: Final = "IP"
_FLOAT_METRICS: Final = ("L2", "IP", "COSINE")
_FLOAT_INDEXES: Final = (*FLOAT_INDEX_TYPES, AUTOINDEX)


@dataclass(frozen=True)
class KindRules:
    """What Milvus lets an index on one vector kind be."""

    index_types: tuple[str, ...]
    metrics: tuple[str, ...]
    default_metric: str
    #: How Milvus names the kind in "... index does not support metric type" messages.
    word: str


RULES: Final[dict[DataType, KindRules]] = {
    DataType.BINARY_VECTOR: KindRules(
        (*BINARY_INDEX_TYPES, AUTOINDEX), (HAMMING, JACCARD), HAMMING, "binary vector"
    ),
    DataType.FLOAT16_VECTOR: KindRules(_FLOAT_INDEXES, _FLOAT_METRICS, "COSINE", "float vector"),
    DataType.BFLOAT16_VECTOR: KindRules(_FLOAT_INDEXES, _FLOAT_METRICS, "COSINE", "float vector"),
    DataType.INT8_VECTOR: KindRules(
        (*INT8_INDEX_TYPES, AUTOINDEX), _FLOAT_METRICS, "COSINE", "int8 vector"
    ),
    DataType.SPARSE_FLOAT_VECTOR: KindRules(
        (*SPARSE_INDEX_TYPES, AUTOINDEX), (IP,), IP, "sparse vector"
    ),
}

_RATIO_KEYS: Final = ("drop_ratio_build",)


def is_other_kind(fld: FieldSchema) -> bool:
    return fld.dtype in RULES


def parse_kind_index(fld: FieldSchema, params: Mapping[str, Any]) -> IndexSpec:
    """Validate CreateIndex on a non-float vector field, as Milvus's proxy and knowhere do."""
    rules = RULES[fld.dtype]
    merged = merge_client_params(params)
    requested = merged.get("index_type", "").strip().upper() or "AUTOINDEX"
    check_known_index_type(requested)  # an unknown name (GPU_*) first, as Milvus checks
    if requested not in rules.index_types:
        raise IndexNotSupported.wrap(
            f"data type {fld.dtype.milvus_name} can't build with this index {requested}",
            indexType=requested,
        )
    raw_metric = merged.get("metric_type", "").strip()
    metric = raw_metric.upper() or rules.default_metric
    if metric not in rules.metrics:
        raise ParameterInvalid.msg(
            f"{rules.word} index does not support metric type: {raw_metric or metric}"
        )
    for key in _RATIO_KEYS:
        if key in merged:
            _ratio(key, merged[key], "build")
    known = {"index_type", "metric_type", "params", "dim"}
    extra = tuple(sorted((k, v) for k, v in merged.items() if k not in known))
    if requested == "AUTOINDEX" and extra:
        raise ParamRejected("only metric type can be passed when use AutoIndex")
    # Milvus's words were checked above; the index layer parses the build parameters.
    return parse_index_spec(fld, requested, metric, merged)


def _ratio(key: str, value: Any, stage: str) -> float:
    try:
        ratio = float(value)
    except (TypeError, ValueError):
        raise ParamRejected(f"invalid float value, key: '{key}', value: '{value}'") from None
    if not 0.0 <= ratio < 1.0:
        raise ParamRejected(
            f"Out of range in json: param '{key}' ({value}) should be in range [0.000000, 1.000000)"
        )
    return ratio


def _score_ratio(value: Any) -> float:
    """knowhere's ``dim_max_score_ratio`` (sparse search pruning), in [0.5, 1.3]."""
    try:
        ratio = float(value)
    except (TypeError, ValueError):
        raise ParamRejected(
            f"invalid float value, key: 'dim_max_score_ratio', value: '{value}'"
        ) from None
    if not 0.5 <= ratio <= 1.3:
        raise ParamRejected(
            f"Out of range in json: param 'dim_max_score_ratio' ({value}) should be in range "
            "[0.500000, 1.300000]"
        )
    return ratio


def kind_search_params(
    fld: FieldSchema,
    spec: IndexSpec | None,
    metric_type: str | None,
    params: Mapping[str, Any],
    k: int,
) -> SearchParams:
    """Search parameters for a non-float vector field: the metric must match the index's."""
    rules = RULES[fld.dtype]
    merged: dict[str, Any] = {str(key): v for key, v in params.items() if key != "params"}
    inner = params.get("params")
    if isinstance(inner, Mapping):
        merged.update({str(key): v for key, v in inner.items()})
    requested = (metric_type or str(merged.get("metric_type") or "")).strip().upper()
    if spec is not None:
        if requested and requested != spec.metric_type:
            raise ParamRejected.expected(spec.metric_type, requested, "metric type not match")
        metric = spec.metric_type
    else:
        metric = requested or rules.default_metric
        if metric not in rules.metrics:
            raise ParameterInvalid.msg(
                f"metric type {metric} not found or not supported, supported: "
                f"[{' '.join(rules.metrics)}]"
            )
    if "drop_ratio_search" in merged:
        _ratio("drop_ratio_search", merged["drop_ratio_search"], "search")
    if "dim_max_score_ratio" in merged:
        _score_ratio(merged["dim_max_score_ratio"])
    radius = merged.get("radius")
    range_filter = merged.get("range_filter")
    return SearchParams(
        metric,
        k,
        radius=None if radius is None else float(radius),
        range_filter=None if range_filter is None or radius is None else float(range_filter),
    )


# --- exact search ------------------------------------------------------------------------


def _window(
    scores: np.ndarray, metric: str, radius: float | None, range_filter: float | None
) -> np.ndarray:
    """Which scores fall inside a range search's window (knowhere's convention)."""
    if radius is None:
        return np.ones(scores.shape, dtype=np.bool_)
    if metric in (HAMMING, JACCARD, "L2"):
        inside = scores < radius
        if range_filter is not None:
            inside &= scores >= range_filter
        return inside
    inside = scores > radius
    if range_filter is not None:
        inside &= scores <= range_filter
    return inside


def _top(
    scores: np.ndarray, k: int, larger: bool, keep: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` per row of ``scores`` (ties to the lower row), padded with -1."""
    nq, n = scores.shape
    keys = -scores if larger else scores.astype(np.float64, copy=True)
    keys = np.where(keep, keys, np.inf)
    width = min(k, n)
    out_ids = np.full((nq, k), -1, dtype=np.int64)
    out_scores = np.full((nq, k), -np.inf if larger else np.inf, dtype=np.float32)
    if width == 0:
        return out_scores, out_ids
    cols = np.argpartition(keys, width - 1, axis=1)[:, :width] if width < n else None
    if cols is None:
        cols = np.broadcast_to(np.arange(n), (nq, n))
    picked = np.take_along_axis(keys, cols, axis=1)
    order = np.lexsort((cols, picked), axis=1)
    cols = np.take_along_axis(cols, order, axis=1)
    picked = np.take_along_axis(picked, order, axis=1)
    found = np.isfinite(picked)
    out_ids[:, :width] = np.where(found, cols, -1)
    values = -picked if larger else picked
    out_scores[:, :width] = np.where(found, values, out_scores[:, :width])
    return out_scores, out_ids


def _binary_scores(data: np.ndarray, queries: np.ndarray, metric: str) -> np.ndarray:
    """HAMMING or JACCARD between packed-bit rows, blocked to bound memory."""
    nq, n = len(queries), len(data)
    out = np.empty((nq, n), dtype=np.float32)
    ones_data = np.bitwise_count(data).sum(axis=1, dtype=np.int64)
    step = max(1, (1 << 24) // max(1, nq * data.shape[1]))
    for start in range(0, n, step):
        block = data[start : start + step]
        xor = np.bitwise_count(np.bitwise_xor(queries[:, None, :], block[None, :, :]))
        differ = xor.sum(axis=2, dtype=np.int64)
        if metric == HAMMING:
            out[:, start : start + step] = differ
            continue
        ones_q = np.bitwise_count(queries).sum(axis=1, dtype=np.int64)
        union_plus_inter = ones_q[:, None] + ones_data[None, start : start + step]
        inter = (union_plus_inter - differ) // 2
        union = union_plus_inter - inter
        with np.errstate(invalid="ignore", divide="ignore"):
            jac = np.where(union > 0, 1.0 - inter / np.maximum(union, 1), 0.0)
        out[:, start : start + step] = jac
    return out


def kind_search(
    dtype: DataType,
    data: np.ndarray | scipy.sparse.csr_matrix,
    queries: np.ndarray | scipy.sparse.csr_matrix,
    params: SearchParams,
    k: int,
    allowed: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` of one segment for a non-float vector kind (``-1`` padded)."""
    metric = params.metric_type
    if dtype in (DataType.FLOAT16_VECTOR, DataType.BFLOAT16_VECTOR, DataType.INT8_VECTOR):
        assert isinstance(data, np.ndarray) and isinstance(queries, np.ndarray)
        vectors = data.astype(np.float32)
        floats = queries.astype(np.float32)
        if params.is_range:
            assert params.radius is not None
            return exact_range_search(
                vectors, floats, k, metric, params.radius, params.range_filter, allowed
            )
        return exact_search(vectors, floats, k, metric, allowed)
    if dtype == DataType.BINARY_VECTOR:
        assert isinstance(data, np.ndarray) and isinstance(queries, np.ndarray)
        rows = np.arange(len(data)) if allowed is None else np.flatnonzero(allowed)
        scores = _binary_scores(data[rows], queries, metric)
        larger = False
    else:
        assert scipy.sparse.issparse(data) and scipy.sparse.issparse(queries)
        rows = np.arange(data.shape[0]) if allowed is None else np.flatnonzero(allowed)
        width = max(data.shape[1], queries.shape[1])
        left = scipy.sparse.csr_matrix(queries, shape=(queries.shape[0], width), dtype=np.float32)
        right = scipy.sparse.csr_matrix(data[rows], dtype=np.float32)
        right.resize((len(rows), width))
        scores = np.asarray((left @ right.T).toarray(), dtype=np.float32)
        larger = True
    keep = _window(scores, metric, params.radius, params.range_filter)
    if dtype == DataType.SPARSE_FLOAT_VECTOR and params.radius is None:
        # Milvus returns only documents sharing a term with the query.
        keep &= scores != 0
    top_scores, cols = _top(scores, k, larger, keep)
    ids = np.where(cols >= 0, rows[np.maximum(cols, 0)], -1)
    return top_scores, ids
