"""The one distance convention every index, segment and merge step uses.

Scores leave this package in Milvus's convention, whatever the backend:

* ``L2``: squared Euclidean distance; smaller is better.  Milvus (through
  knowhere) returns the squared value and so do we; no square root is taken.
* ``IP``: inner product; larger is better.
* ``COSINE``: cosine similarity in [-1, 1]; larger is better.  Vectors are
  normalised to unit length and compared by inner product.  A zero vector
  stays zero (its norm is treated as 1), so its similarity to anything is 0
  rather than NaN, which is also what knowhere does.
* ``HAMMING`` (binary): the number of differing bits; smaller is better.
* ``JACCARD`` (binary): ``1 - |a & b| / |a | b|`` in [0, 1]; smaller is
  better; two all-zero vectors are at distance 1, as in knowhere.
* ``SUBSTRUCTURE`` / ``SUPERSTRUCTURE`` (binary, BIN_FLAT only): a filter,
  not a distance.  A row matches SUBSTRUCTURE when the query's bits are all
  set in it (``q & x == q``), SUPERSTRUCTURE when its bits are all set in the
  query (``q & x == x``); matches score 0 and come in row order, as
  knowhere's ``binary_knn_mc`` returns them.
* ``BM25`` (sparse): the BM25 score; larger is better (see
  :mod:`sluice.index.bm25`).

Missing results (fewer than ``k`` candidates) carry id ``-1`` and the worst
possible score for the metric: ``+inf`` for L2, ``-inf`` for IP/COSINE, so a
padded entry always sorts last.
"""

from __future__ import annotations

from typing import Final

import numpy as np

L2: Final = "L2"
IP: Final = "IP"
COSINE: Final = "COSINE"

HAMMING: Final = "HAMMING"
JACCARD: Final = "JACCARD"
SUBSTRUCTURE: Final = "SUBSTRUCTURE"
SUPERSTRUCTURE: Final = "SUPERSTRUCTURE"
BM25: Final = "BM25"

#: Metrics a float vector index accepts, in the order Milvus lists them.
FLOAT_METRICS: Final = (L2, IP, COSINE)
#: Milvus's ``BinaryVectorMetrics``.
BINARY_METRICS: Final = (HAMMING, JACCARD, SUBSTRUCTURE, SUPERSTRUCTURE)
#: Milvus's ``SparseMetrics``.
SPARSE_METRICS: Final = (IP, BM25)
#: Binary metrics that only filter (every match scores 0).
STRUCTURE_METRICS: Final = frozenset({SUBSTRUCTURE, SUPERSTRUCTURE})
ALL_METRICS: Final = frozenset(FLOAT_METRICS + BINARY_METRICS + SPARSE_METRICS)

#: Milvus's default metric for float vectors since 2.4 (``FloatVectorDefaultMetricType``).
DEFAULT_METRIC: Final = COSINE

#: Embedding-list similarities (arrays of structs): MAX_SIM over inner products or cosines.
#: ``MAX_SIM_L2`` sums distances, so smaller is better, as for L2.
MAX_SIM_SIMILARITIES: Final = frozenset({"MAX_SIM", "MAX_SIM_IP", "MAX_SIM_COSINE"})

_LARGER_IS_BETTER: Final = frozenset({IP, COSINE, BM25}) | MAX_SIM_SIMILARITIES


def canonical_metric(metric: str, allowed: tuple[str, ...] = FLOAT_METRICS) -> str | None:
    """The upper-case metric name, or None when it is not one of ``allowed``."""
    upper = metric.strip().upper()
    return upper if upper in allowed else None


def larger_is_better(metric: str) -> bool:
    """True for similarity metrics (IP, COSINE), False for distances (L2)."""
    return metric.upper() in _LARGER_IS_BETTER


def worst_score(metric: str) -> float:
    """The score given to padded (missing) entries: it sorts after every real one."""
    return float("-inf") if larger_is_better(metric) else float("inf")


def internal_metric(metric: str) -> str:
    """The metric a float backend computes: COSINE runs as IP over unit vectors."""
    return IP if metric.upper() == COSINE else metric.upper()


def sort_keys(scores: np.ndarray, metric: str) -> np.ndarray:
    """Scores turned into ascending-is-better keys (similarities are negated).

    NaN becomes ``+inf`` so a corrupt score can never outrank a real one.
    """
    keys = -scores if larger_is_better(metric) else scores.copy()
    np.nan_to_num(keys, copy=False, nan=np.inf)
    return keys


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """A float32 copy of ``vectors`` with every non-zero row scaled to unit length.

    Costs one pass over the data and one copy of it (``n * d * 4`` bytes).
    Zero rows are left as zeros instead of becoming NaN.
    """
    x = np.array(vectors, dtype=np.float32, copy=True, order="C")
    if x.size == 0:
        return x
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    x /= norms
    return x
