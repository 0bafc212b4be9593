"""Search parameters: parsed once per request, validated with Milvus's rules and words.

The request's ``search_params`` carry ``metric_type`` and a ``params`` object
(a dict, or the JSON text pymilvus sends) holding ``ef``, ``nprobe``,
``radius`` and ``range_filter``; flat keys of the same names are honoured too,
with ``params`` winning.  Only the keys the index type reads are checked, as
knowhere ignores the rest:

* ``ef`` (HNSW and AUTOINDEX): in ``[1, 2147483647]`` and at least ``k``,
  else ``ef(5) should be larger than k(10)``.  When absent, knowhere's default
  ``max(k, 16)``; for range search, 512.
* ``nprobe`` (IVF types): in ``[1, 65536]``, default 8.  A value above the
  segment's ``nlist`` is clamped at search time, as FAISS does under knowhere.
* ``refine_k`` (IVF_SQ8, IVF_PQ with re-rank vectors attached): how many
  times ``k`` candidates to re-score exactly, a float of at least 1 (knowhere's
  name and range for its refining indexes).  Defaults are per index type, see
  :mod:`sluice.index.faiss_index`.
* ``radius`` / ``range_filter`` turn a search into a range search.  For L2 the
  window is ``range_filter <= distance < radius`` so ``radius`` must exceed
  ``range_filter``; for IP/COSINE it is ``radius < similarity <= range_filter``
  so ``range_filter`` must exceed ``radius`` (``searchTask``'s check in
  Milvus's proxy, code 1100).
* A metric that differs from the index's is ``metric type not match:
  invalid parameter[expected=COSINE][actual=L2]``.

Checks that Milvus runs inside the query node (``ef``, ``nprobe``, the metric
match) raise :class:`~sluice.index.errors.ParamRejected` (code 65535);
proxy-side checks raise :class:`~sluice.errors.ParameterInvalid` (code 1100).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sluice.errors import ParameterInvalid
from sluice.index.coerce import INT32_MAX, ParamText, float_param, int_param
from sluice.index.errors import ParamRejected
from sluice.index.metrics import DEFAULT_METRIC, FLOAT_METRICS, canonical_metric, larger_is_better
from sluice.index.spec import (
    HNSW,
    IVF_FLAT,
    IVF_PQ,
    IVF_SQ8,
    METRIC_TYPE_KEY,
    PARAMS_KEY,
    IndexSpec,
)

#: knowhere's HNSW floor for a defaulted ``ef`` (``kEfMinValue``).
EF_MIN_DEFAULT: Final = 16
#: knowhere's HNSW ``ef`` for range search when none is given (``kDefaultRangeSearchEf``).
RANGE_SEARCH_EF: Final = 512
NPROBE_DEFAULT: Final = 8
NPROBE_RANGE: Final = (1, 65536)
EF_RANGE: Final = (1, INT32_MAX)
REFINE_K_RANGE: Final = (1.0, 3.4028234663852886e38)

_IVF_TYPES: Final = frozenset({IVF_FLAT, IVF_SQ8, IVF_PQ})
_QUANTISED_TYPES: Final = frozenset({IVF_SQ8, IVF_PQ})


@dataclass(frozen=True)
class SearchParams:
    """Validated knobs for one search against one field.

    ``k`` is the number of results asked of each segment (Milvus's ``topk``:
    ``limit + offset``).  Larger ``ef``/``nprobe`` trade latency for recall:
    an HNSW query visits about ``ef * 2M`` vectors, an IVF query scans
    ``nprobe / nlist`` of the segment.
    """

    metric_type: str
    k: int
    ef: int | None = None
    nprobe: int = NPROBE_DEFAULT
    radius: float | None = None
    range_filter: float | None = None
    refine_k: float | None = None

    @property
    def is_range(self) -> bool:
        """True when ``radius`` was given: only results inside the window count."""
        return self.radius is not None

    def hnsw_ef(self, k: int) -> int:
        """The HNSW candidate-list size for a top-``k`` (range searches use 512 by default)."""
        if self.ef is not None:
            return max(self.ef, k)
        if self.is_range:
            return max(RANGE_SEARCH_EF, k)
        return max(k, EF_MIN_DEFAULT)


def parse_search_params(
    spec: IndexSpec | None, metric_type: str | None, params: Mapping[str, Any], k: int
) -> SearchParams:
    """Validate a search's parameters against the field's index (None when unindexed)."""
    merged = _merge(params)
    requested = metric_type or merged.get(METRIC_TYPE_KEY) or ""
    if not isinstance(requested, str):
        requested = str(requested)
    metric = _resolve_metric(spec, requested.strip())

    engine = spec.engine_type if spec is not None else None
    radius = _float_param(merged, "radius")
    range_filter = _float_param(merged, "range_filter") if radius is not None else None
    if radius is not None and range_filter is not None:
        _check_window(metric, radius, range_filter)

    ef: int | None = None
    nprobe = NPROBE_DEFAULT
    try:
        if engine == HNSW and "ef" in merged:
            ef = int_param("ef", merged["ef"], *EF_RANGE)
            if radius is None and k > ef:
                raise ParamText(f"ef({ef}) should be larger than k({k})")
        if engine in _IVF_TYPES and "nprobe" in merged:
            nprobe = int_param("nprobe", merged["nprobe"], *NPROBE_RANGE)
        refine_k = None
        if engine in _QUANTISED_TYPES and "refine_k" in merged:
            refine_k = float_param("refine_k", merged["refine_k"], *REFINE_K_RANGE)
    except ParamText as err:
        raise ParamRejected(str(err)) from err
    return SearchParams(metric, k, ef, nprobe, radius, range_filter, refine_k)


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


def _resolve_metric(spec: IndexSpec | None, requested: str) -> str:
    if spec is not None:
        if requested and canonical_metric(requested) != spec.metric_type:
            raise ParamRejected.expected(spec.metric_type, requested, "metric type not match")
        return spec.metric_type
    if not requested:
        return DEFAULT_METRIC
    metric = canonical_metric(requested)
    if metric is None:
        supported = " ".join(FLOAT_METRICS)
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
