"""Helpers for the index tests: clustered data, float64 ground truth, tie-aware recall."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sluice.schema import DataType, FieldSchema

ROWS, DIM, CLUSTERS, QUERIES = 20_000, 64, 100, 100
#: IVF_PQ tests index the first 5k rows: PQ training dominates the suite's time.
PQ_ROWS = 5_000


@dataclass(frozen=True)
class Clustered:
    """20k x 64 float32 rows around 100 Gaussian centres, and 100 queries drawn the same way."""

    data: np.ndarray
    queries: np.ndarray


def make_clustered(rows: int, dim: int, clusters: int, queries: int, seed: int) -> Clustered:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)) * 3
    data = centres[rng.integers(0, clusters, rows)] + rng.normal(size=(rows, dim))
    probes = centres[rng.integers(0, clusters, queries)] + rng.normal(size=(queries, dim))
    return Clustered(data.astype(np.float32), probes.astype(np.float32))


def true_scores(data: np.ndarray, queries: np.ndarray, metric: str) -> np.ndarray:
    """``(nq, n)`` float64 scores, larger is better for every metric (L2 negated)."""
    x = data.astype(np.float64)
    q = queries.astype(np.float64)
    if metric == "L2":
        return -((q * q).sum(1)[:, None] + (x * x).sum(1)[None, :] - 2 * q @ x.T)
    if metric == "COSINE":
        xn = np.linalg.norm(x, axis=1, keepdims=True)
        qn = np.linalg.norm(q, axis=1, keepdims=True)
        x = x / np.where(xn == 0, 1, xn)
        q = q / np.where(qn == 0, 1, qn)
    return q @ x.T


def recall_at_k(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Recall@k that counts a returned row as a hit when it scores at least the true k-th.

    ``truth`` are float64 scores (larger is better) restricted to eligible rows
    (others ``-inf``).  Counting by score rather than by id keeps float32
    rounding at the k-th boundary from turning an exact search into 0.99.
    """
    kth = -np.sort(-truth, axis=1)[:, k - 1 : k]
    tolerance = 1e-5 * np.maximum(1.0, np.abs(kth))
    safe = np.where(found >= 0, found, 0)
    scores = np.take_along_axis(truth, safe, axis=1)
    hits = (found >= 0) & (scores >= kth - tolerance)
    return float(hits.sum()) / (truth.shape[0] * k)


def vector_field(dim: int = DIM) -> FieldSchema:
    return FieldSchema("embedding", DataType.FLOAT_VECTOR, field_id=101, dim=dim)


#: Build parameters per type for the recall tests.  IVF_PQ at m = dim / 2 with
#: 6-bit codes trains quickly; re-ranking (refine_k) restores recall.
TEST_BUILD_PARAMS: dict[str, dict[str, object]] = {
    "FLAT": {},
    "IVF_FLAT": {"nlist": 128},
    "IVF_SQ8": {"nlist": 128},
    "IVF_PQ": {"nlist": 128, "m": 32, "nbits": 6},
    "HNSW": {"M": 16, "efConstruction": 100},
    "AUTOINDEX": {},
}

#: Search parameters per type for the recall tests.
TEST_SEARCH_PARAMS: dict[str, dict[str, object]] = {
    "FLAT": {},
    "IVF_FLAT": {"nprobe": 16},
    "IVF_SQ8": {"nprobe": 16},
    "IVF_PQ": {"nprobe": 16, "refine_k": 8},
    "HNSW": {"ef": 64},
    "AUTOINDEX": {"ef": 64},
}


def typed_field(dtype: DataType, dim: int | None = DIM, name: str = "embedding") -> FieldSchema:
    """A vector field of any data type (sparse fields have no dimension)."""
    return FieldSchema(name, dtype, field_id=101, dim=dim)
