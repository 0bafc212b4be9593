"""Rerank functions that rescore hits from their own fields: decay and boost.

Decay (Milvus's formulas): with ``d = max(0, |value - origin| - offset)``,
gauss ``exp(d^2 * ln(decay) / scale^2)``, exp ``exp(ln(decay) / scale * d)``,
linear ``max(decay, 1 - (1 - decay) / scale * d)``.  A hit's score is first
made "larger is better" (distances become ``1 - 2 * atan(s) / pi``), merged
across searches by maximum, then multiplied by the (float32) decay factor;
results are sorted descending, ties by the smaller primary key.

Boost: each boost function whose ``filter`` matches a hit (no filter: every
hit) contributes its ``weight``, times a random score in [0, 1) when
``random_score`` is set.  Contributions of several boost functions combine by
``function_mode`` (``multiply``, the default, or ``sum``) and apply to the
hit's score by ``boost_mode`` (``multiply``, the default, or ``sum``).  The
filter itself is evaluated by the caller (it needs the filter evaluator), so
a boost takes a precomputed match mask.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sluice.rank.fusion import LARGER_IS_BETTER, Hits, Ranked, Window, accumulate, select

_F32 = npt.NDArray[np.float32]
_F64 = npt.NDArray[np.float64]


def to_greater(scores: _F32, metric: str) -> _F32:
    """Milvus's ``toGreaterScore``: distances become similarities in (0, 1]."""
    s = scores.astype(np.float32)
    if metric.upper() in LARGER_IS_BETTER:
        return s
    atan = np.arctan(s.astype(np.float64)).astype(np.float32)
    return np.float32(1.0) - np.float32(2) * atan / np.float32(np.pi)


@dataclass(frozen=True)
class DecayRanker:
    function: str
    origin: float
    scale: float
    offset: float = 0.0
    decay: float = 0.5

    def factors(self, values: _F64) -> _F64:
        """The decay factor of each value; a missing value (NaN, a null) gets 0."""
        d = np.maximum(0.0, np.abs(values.astype(np.float64) - self.origin) - self.offset)
        if self.function == "gauss":
            sigma_square = self.scale**2 / math.log(self.decay)
            out = np.exp(d**2 / sigma_square)
        elif self.function == "exp":
            out = np.exp(math.log(self.decay) / self.scale * d)
        elif self.function == "linear":
            out = np.maximum(self.decay, 1 - (1 - self.decay) / self.scale * d)
        else:
            raise ValueError(f"unknown decay function {self.function}")
        return np.where(np.isnan(d), 0.0, out)

    def rerank(self, searches: Sequence[Hits], values: Sequence[_F64], window: Window) -> Ranked:
        """``values[i]`` is the input field of ``searches[i]``'s hits, aligned with its ids."""
        best_ids, best = _max_merge([(h.ids, to_greater(h.scores, h.metric)) for h in searches])
        first_ids, factor = _first_value(
            [
                (h.ids, self.factors(v).astype(np.float32))
                for h, v in zip(searches, values, strict=True)
            ]
        )
        # Both are over the same sorted unique ids.
        assert np.array_equal(best_ids, first_ids)
        return select(best_ids, factor * best, window)  # type: ignore[arg-type]


@dataclass(frozen=True)
class BoostRanker:
    weight: float
    #: Seeded random score, from the ``random_score`` option (``None``: no randomness).
    random_seed: int | None = None
    #: ``random_score.field``: the field whose value seeds each hit's random score (else its id).
    random_field: str | None = None

    def contributions(
        self, ids: npt.NDArray[np.generic], field_values: npt.NDArray[np.generic] | None
    ) -> _F32:
        if self.random_seed is None:
            return np.full(len(ids), self.weight, dtype=np.float32)
        source = field_values if field_values is not None else ids
        return (np.float32(self.weight) * random_scores(self.random_seed, source)).astype(
            np.float32
        )


def random_scores(seed: int, values: npt.NDArray[np.generic]) -> _F32:
    """A reproducible score in [0, 1) per value: CRC-32 of ``seed:value``, scaled."""
    return np.fromiter(
        (zlib.crc32(f"{seed}:{v}".encode()) / 2**32 for v in values.tolist()),
        dtype=np.float32,
        count=len(values),
    )


@dataclass(frozen=True)
class BoostApplication:
    """One boost function's effect on one search's hits."""

    ranker: BoostRanker
    #: Which hits its filter matched (all True without a filter).
    matched: npt.NDArray[np.bool_]
    field_values: npt.NDArray[np.generic] | None = None


def apply_boosts(
    hits: Hits,
    boosts: Sequence[BoostApplication],
    window: Window,
    boost_mode: str = "multiply",
    function_mode: str = "multiply",
) -> Ranked:
    """Boosted scores of one search's hits, ranked in its metric's direction."""
    scores = hits.scores.astype(np.float32)
    combined = np.full(len(scores), np.nan, dtype=np.float32)
    for boost in boosts:
        value = boost.ranker.contributions(hits.ids, boost.field_values)
        hit = boost.matched
        fresh = hit & np.isnan(combined)
        again = hit & ~np.isnan(combined)
        combined[fresh] = value[fresh]
        if function_mode == "sum":
            combined[again] = combined[again] + value[again]
        else:
            combined[again] = combined[again] * value[again]
    boosted = ~np.isnan(combined)
    out = scores.copy()
    if boost_mode == "sum":
        out[boosted] = scores[boosted] + combined[boosted]
    else:
        out[boosted] = scores[boosted] * combined[boosted]
    order = np.argsort(hits.ids, kind="stable")
    descending = hits.metric.upper() in LARGER_IS_BETTER
    return select(hits.ids[order], out[order], window, descending)


def _max_merge(
    parts: Sequence[tuple[npt.NDArray[np.generic], _F32]],
) -> tuple[npt.NDArray[np.generic], _F32]:
    non_empty = [(i, s) for i, s in parts if len(i)]
    if not non_empty:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    ids = np.concatenate([i for i, _ in non_empty])
    scores = np.concatenate([s for _, s in non_empty]).astype(np.float32)
    unique, inverse = np.unique(ids, return_inverse=True)
    best = np.full(len(unique), -np.inf, dtype=np.float32)
    np.maximum.at(best, inverse, scores)
    return unique, best


def _first_value(
    parts: Sequence[tuple[npt.NDArray[np.generic], _F32]],
) -> tuple[npt.NDArray[np.generic], _F32]:
    non_empty = [(i, s) for i, s in parts if len(i)]
    if not non_empty:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    ids = np.concatenate([i for i, _ in non_empty])
    values = np.concatenate([s for _, s in non_empty])
    unique, first = np.unique(ids, return_index=True)
    return unique, values[first].astype(np.float32)


__all__ = ["BoostApplication", "BoostRanker", "DecayRanker", "accumulate", "apply_boosts"]
