"""Search parameters: parsed once per request, validated with Milvus's rules and words.

The request's ``search_params`` carry ``metric_type`` and a ``params`` object
(a dict, or the JSON text pymilvus sends); flat keys of the same names are
honoured too, with ``params`` winning.  Only the keys the index type reads
are checked, as knowhere ignores the rest:

==============================  ==================================================
Index types                     Keys (knowhere's ranges; defaults)
==============================  ==================================================
HNSW, HNSW_SQ/PQ/PRQ, AUTOINDEX ``ef`` [1, 2^31-1], at least ``k``
                                (``ef(5) should be larger than k(10)``); default
                                ``max(k, 16)``, 512 for range search
HNSW_SQ/PQ/PRQ, IVF_SQ8,        ``refine_k`` float >= 1: candidates re-scored per
IVF_PQ, IVF_RABITQ              result
IVF_*, SCANN, BIN_IVF_FLAT      ``nprobe`` [1, 65536], default 8, clamped to nlist
IVF_RABITQ                      ``rbq_bits_query`` [0, 8] (the docs' spelling
                                ``rbq_query_bits`` is read too), default 0
SCANN                           ``reorder_k`` [1, 2^31-1], at least ``k``
                                (``reorder_k(5) should be larger than k(10)``)
DISKANN                         ``search_list`` (segcore's name) in [k, max(10 k,
                                200)] and below 65535; default ``max(k, 16)``
SPARSE_*                        ``drop_ratio_search`` [0, 1), default 0;
                                ``refine_factor`` >= 1, default 1
==============================  ==================================================

``radius`` / ``range_filter`` turn a search into a range search.  For
distances (L2, HAMMING, JACCARD) the window is ``range_filter <= distance <
radius``, so ``radius`` must exceed ``range_filter``; for similarities (IP,
COSINE, BM25) it is ``radius < similarity <= range_filter`` (``searchTask``'s
check in Milvus's proxy, code 1100).  A metric that differs from the index's
is ``metric type not match: invalid parameter[expected=COSINE][actual=L2]``.

Checks that Milvus runs inside the query node (knowhere's search checks, the
metric match) raise :class:`~sluice.index.errors.ParamRejected` (code 65535);
proxy-side checks raise :class:`~sluice.errors.ParameterInvalid` (code 1100).

BM25 searches may carry corpus statistics (:class:`~sluice.index.bm25.Bm25Stats`)
in :attr:`SearchParams.bm25`; the engine attaches them with
``dataclasses.replace`` after parsing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sluice.errors import ParameterInvalid
from sluice.index.build_params import (
    BIN_IVF_FLAT,
    DISKANN,
    HNSW,
    HNSW_PQ,
    HNSW_PRQ,
    HNSW_SQ,
    IVF_FLAT,
    IVF_PQ,
    IVF_RABITQ,
    IVF_SQ8,
    SCANN,
    SPARSE_INVERTED_INDEX,
    SPARSE_WAND,
)
from sluice.index.coerce import INT32_MAX, ParamText, float_param, float_range_param, int_param
from sluice.index.errors import ParamRejected
from sluice.index.kinds import VectorKind
from sluice.index.metrics import canonical_metric, larger_is_better
from sluice.index.spec import METRIC_TYPE_KEY, PARAMS_KEY, IndexSpec

if TYPE_CHECKING:
    from sluice.index.bm25 import Bm25Stats

#: knowhere's HNSW floor for a defaulted ``ef`` (``kEfMinValue``).
EF_MIN_DEFAULT: Final = 16
#: knowhere's HNSW ``ef`` for range search when none is given (``kDefaultRangeSearchEf``).
RANGE_SEARCH_EF: Final = 512
NPROBE_DEFAULT: Final = 8
NPROBE_RANGE: Final = (1, 65536)
EF_RANGE: Final = (1, INT32_MAX)
REFINE_K_RANGE: Final = (1.0, 3.4028234663852886e38)
RBQ_BITS_RANGE: Final = (0, 8)
#: segcore's DISKANN bounds: ``max(topk * 10, kSearchListMaxValue1)`` and ``kSearchListMaxValue2``.
SEARCH_LIST_FLOOR_MAX: Final = 200
SEARCH_LIST_MAX: Final = 65535

_HNSW_TYPES: Final = frozenset({HNSW, HNSW_SQ, HNSW_PQ, HNSW_PRQ})
_IVF_TYPES: Final = frozenset({IVF_FLAT, IVF_SQ8, IVF_PQ, IVF_RABITQ, SCANN, BIN_IVF_FLAT})
_REFINE_TYPES: Final = frozenset({IVF_SQ8, IVF_PQ, IVF_RABITQ, HNSW_SQ, HNSW_PQ, HNSW_PRQ})
_SPARSE_TYPES: Final = frozenset({SPARSE_INVERTED_INDEX, SPARSE_WAND})


@dataclass(frozen=True)
class SearchParams:
    """Validated knobs for one search against one field.

    ``k`` is the number of results asked of each segment (Milvus's ``topk``:
    ``limit + offset``).  Larger ``ef``/``nprobe``/``search_list`` trade
    latency for recall: an HNSW query visits about ``ef * 2M`` vectors, an IVF
    query scans ``nprobe / nlist`` of the segment.
    """

    metric_type: str
    k: int
    ef: int | None = None
    nprobe: int = NPROBE_DEFAULT
    radius: float | None = None
    range_filter: float | None = None
    refine_k: float | None = None
    reorder_k: int | None = None
    rbq_bits_query: int = 0
    search_list: int | None = None
    drop_ratio_search: float = 0.0
    refine_factor: int = 1
    bm25: Bm25Stats | None = None

    @property
    def is_range(self) -> bool:
        """True when ``radius`` was given: only results inside the window count."""
        return self.radius is not None

    def hnsw_ef(self, k: int) -> int:
        """The HNSW candidate-list size for a top-``k`` (range searches use 512 by default)."""
        chosen = self.ef if self.ef is not None else self.search_list
        if chosen is not None:
            return max(chosen, k)
        if self.is_range:
            return max(RANGE_SEARCH_EF, k)
        return max(k, EF_MIN_DEFAULT)


def parse_search_params(
    spec: IndexSpec | None,
    metric_type: str | None,
    params: Mapping[str, Any],
    k: int,
    *,
    kind: VectorKind = VectorKind.FLOAT,
) -> SearchParams:
    """Validate a search's parameters against the field's index (None when unindexed).

    ``kind`` is the field's vector kind; it decides the metrics an unindexed
    field accepts and its default metric.
    """
    merged = _merge(params)
    requested = metric_type or merged.get(METRIC_TYPE_KEY) or ""
    if not isinstance(requested, str):
        requested = str(requested)
    metric = _resolve_metric(spec, requested.strip(), spec.kind if spec is not None else kind)

    engine = spec.engine_type if spec is not None else None
    radius = _float_param(merged, "radius")
    range_filter = _float_param(merged, "range_filter") if radius is not None else None
    if radius is not None and range_filter is not None:
        _check_window(metric, radius, range_filter)
    try:
        knobs = _index_knobs(engine, merged, k, radius is not None)
    except ParamText as err:
        raise ParamRejected(str(err)) from err
    return SearchParams(metric, k, radius=radius, range_filter=range_filter, **knobs)


def _index_knobs(
    engine: str | None, merged: Mapping[str, Any], k: int, ranged: bool
) -> dict[str, Any]:
    """The knobs ``engine`` reads, range-checked in knowhere's words."""
    knobs: dict[str, Any] = {}
    if engine in _HNSW_TYPES and "ef" in merged:
        ef = int_param("ef", merged["ef"], *EF_RANGE)
        if not ranged and k > ef:
            raise ParamText(f"ef({ef}) should be larger than k({k})")
        knobs["ef"] = ef
    if engine in _IVF_TYPES and "nprobe" in merged:
        knobs["nprobe"] = int_param("nprobe", merged["nprobe"], *NPROBE_RANGE)
    if engine in _REFINE_TYPES and "refine_k" in merged:
        knobs["refine_k"] = float_param("refine_k", merged["refine_k"], *REFINE_K_RANGE)
    if engine == IVF_RABITQ:
        for key in ("rbq_bits_query", "rbq_query_bits"):
            if key in merged:
                knobs["rbq_bits_query"] = int_param(key, merged[key], *RBQ_BITS_RANGE)
    if engine == SCANN and "reorder_k" in merged:
        reorder_k = int_param("reorder_k", merged["reorder_k"], 1, INT32_MAX)
        if not ranged and reorder_k < k:
            raise ParamText(f"reorder_k({reorder_k}) should be larger than k({k})")
        knobs["reorder_k"] = reorder_k
    if engine == DISKANN and "search_list" in merged:
        search_list = int_param("search_list", merged["search_list"], 1, INT32_MAX)
        if not ranged:
            if search_list < k:
                raise ParamText("search_list should be greater than or equal to topk")
            if search_list > max(k * 10, SEARCH_LIST_FLOOR_MAX) or search_list > SEARCH_LIST_MAX:
                raise ParamText(
                    "search_list should be less than max(topk*10, 200) and less than 65535"
                )
        knobs["search_list"] = search_list
    if engine in _SPARSE_TYPES:
        if "drop_ratio_search" in merged:
            knobs["drop_ratio_search"] = float_range_param(
                "drop_ratio_search", merged["drop_ratio_search"], 0.0, 1.0, high_open=True
            )
        if "refine_factor" in merged:
            knobs["refine_factor"] = int_param(
                "refine_factor", merged["refine_factor"], 1, INT32_MAX
            )
    return knobs


def _merge(params: Mapping[str, Any]) -> dict[str, Any]:
    merged = {str(key): value for key, value in params.items() if key != PARAMS_KEY}
    inner = params.get(PARAMS_KEY)
    if isinstance(inner, str | bytes) and inner.strip():
        try:
            inner = json.loads(inner)
        except ValueError as err:
            raise ParameterInvalid.msg(f"search params must be a JSON object: {err}") from err
    if isinstance(inner, Mapping):
        merged.update({str(key): value for key, value in inner.items()})
    elif inner not in (None, "", b""):
        raise ParameterInvalid.msg(f"search params must be a JSON object, got {inner!r}")
    return merged


def _resolve_metric(spec: IndexSpec | None, requested: str, kind: VectorKind) -> str:
    if spec is not None:
        if requested and canonical_metric(requested, kind.metrics) != spec.metric_type:
            raise ParamRejected.expected(spec.metric_type, requested, "metric type not match")
        return spec.metric_type
    if not requested:
        return kind.default_metric
    metric = canonical_metric(requested, kind.metrics)
    if metric is None:
        supported = " ".join(kind.metrics)
        raise ParameterInvalid.msg(
            f"metric type {requested} not found or not supported, supported: [{supported}]"
        )
    return metric


def _float_param(merged: Mapping[str, Any], key: str) -> float | None:
    if key not in merged:
        return None
    value = merged[key]
    if value is None:
        raise ParameterInvalid.msg(f"pass invalid type for {key}")
    if isinstance(value, bool):
        raise ParameterInvalid.msg(f"must pass numpy type for {key}")
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise ParameterInvalid.msg(f"must pass numpy type for {key}") from err
    if math.isnan(number):
        raise ParameterInvalid.msg(f"must pass numpy type for {key}")
    return number


def _check_window(metric: str, radius: float, range_filter: float) -> None:
    if larger_is_better(metric):
        if radius >= range_filter:
            raise ParameterInvalid.msg(
                "range_filter must be greater than radius for IP/COSINE, "
                f"range_filter:{range_filter:f}, radius:{radius:f}"
            )
    elif radius <= range_filter:
        raise ParameterInvalid.msg(
            "range_filter must be less than radius for L2/HAMMING/JACCARD, "
            f"range_filter:{range_filter:f}, radius:{radius:f}"
        )
