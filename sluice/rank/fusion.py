"""Fusion of several searches' hits into one ranking: RRF and weighted.

Formulas, arithmetic and ties are Milvus's (its ``rerank`` package): scores
are float32 and summed in sub-search order; the result is sorted by score,
ties broken by the smaller primary key; ``offset``/``limit`` cut the list
and ``round_decimal`` rounds half up.

* RRF: ``sum_i 1 / (k + rank_i)`` with 1-based ranks, always descending.
* Weighted: ``sum_i w_i * norm_i(score_i)``.  With ``norm_score`` each
  metric's scores go to [0, 1]: COSINE ``(1 + s) / 2``, IP
  ``0.5 + atan(s) / pi``, BM25 ``2 * atan(s) / pi``, distances (L2, ...)
  ``1 - 2 * atan(s) / pi``.  Without it, scores are used as they are unless
  the searches mix "larger is better" and "smaller is better" metrics, in
  which case distances are flipped with ``1 - 2 * atan(s) / pi``.  The result
  is descending when normalised or when any metric is "larger is better",
  ascending when every search measured a distance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: Metrics where a larger score means a closer match.
LARGER_IS_BETTER = frozenset({"COSINE", "IP", "BM25"})

_F32 = npt.NDArray[np.float32]
Ids = npt.NDArray[np.int64] | npt.NDArray[np.str_]


@dataclass(frozen=True)
class Hits:
    """One search's hits for one query: primary keys and scores, best first."""

    ids: Ids
    scores: _F32
    metric: str = "IP"


@dataclass(frozen=True)
class Ranked:
    ids: Ids
    scores: _F32


@dataclass(frozen=True)
class Window:
    """Which part of the ranking to return."""

    limit: int
    offset: int = 0
    round_decimal: int = -1


_PI = np.float32(np.pi)


def _atan32(x: _F32) -> _F32:
    return np.arctan(x.astype(np.float64)).astype(np.float32)


def normalize(scores: _F32, metric: str, norm_score: bool, mixed: bool) -> _F32:
    """Milvus's ``getNormalizeFunc``, in float32."""
    s = scores.astype(np.float32)
    m = metric.upper()
    if not norm_score:
        if not mixed or m in LARGER_IS_BETTER:
            return s
        return np.float32(1.0) - np.float32(2) * _atan32(s) / _PI
    if m == "COSINE":
        return (np.float32(1) + s) * np.float32(0.5)
    if m == "IP":
        return np.float32(0.5) + _atan32(s) / _PI
    if m == "BM25":
        return np.float32(2) * _atan32(s) / _PI
    return np.float32(1.0) - np.float32(2) * _atan32(s) / _PI


def classify_metrics(metrics: Sequence[str]) -> tuple[bool, bool]:
    """(mixed, descending) as Milvus's ``classifyMetricsOrder``."""
    larger = sum(1 for m in metrics if m.upper() in LARGER_IS_BETTER)
    smaller = len(metrics) - larger
    if larger and smaller:
        return True, True
    return False, smaller == 0


def accumulate(parts: Sequence[tuple[Ids, _F32]]) -> tuple[Ids, _F32]:
    """Sum each id's contributions in float32, part by part (ids are unique within a part)."""
    non_empty = [(i, s) for i, s in parts if len(i)]
    if not non_empty:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    all_ids = np.concatenate([i for i, _ in non_empty])
    unique, inverse = np.unique(all_ids, return_inverse=True)
    total = np.zeros(len(unique), dtype=np.float32)
    start = 0
    for ids, scores in non_empty:
        idx = inverse[start : start + len(ids)]
        total[idx] = total[idx] + scores.astype(np.float32)
        start += len(ids)
    return unique, total


def select(ids: Ids, scores: _F32, window: Window, descending: bool = True) -> Ranked:
    """Sort (ties: smaller id first), cut ``offset``/``limit``, round."""
    # ``ids`` are sorted ascending (np.unique), so their index is the tie order.
    tie = np.arange(len(ids))
    key = -scores.astype(np.float64) if descending else scores.astype(np.float64)
    order = np.lexsort((tie, key))[window.offset : window.offset + window.limit]
    out = scores[order]
    if window.round_decimal != -1:
        mult = 10.0**window.round_decimal
        out = (np.floor(out.astype(np.float64) * mult + 0.5) / mult).astype(np.float32)
    return Ranked(ids[order], out)


@dataclass(frozen=True)
class RRFRanker:
    k: float = 60.0

    def fuse(self, searches: Sequence[Hits], window: Window) -> Ranked:
        k = np.float32(self.k)
        parts = [
            (h.ids, np.float32(1) / (k + np.arange(1, len(h.ids) + 1, dtype=np.float32)))
            for h in searches
        ]
        ids, scores = accumulate(parts)
        return select(ids, scores, window)


@dataclass(frozen=True)
class WeightedRanker:
    weights: tuple[float, ...]
    norm_score: bool = False

    def fuse(self, searches: Sequence[Hits], window: Window) -> Ranked:
        from sluice.errors import ParameterInvalid

        if len(searches) != len(self.weights):
            raise ParameterInvalid.expected(
                len(searches),
                len(self.weights),
                "the length of weights param mismatch with ann search requests",
            )
        mixed, descending = classify_metrics([h.metric for h in searches])
        parts = [
            (h.ids, np.float32(w) * normalize(h.scores, h.metric, self.norm_score, mixed))
            for h, w in zip(searches, self.weights, strict=True)
        ]
        ids, scores = accumulate(parts)
        return select(ids, scores, window, self.norm_score or descending)
