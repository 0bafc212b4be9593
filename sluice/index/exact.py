"""Exact (brute-force) search over raw vectors: growing segments and selective filters.

The scan is vectorised with BLAS: queries are multiplied against blocks of
rows (``queries @ block.T``), each block's top-k is selected with a partition,
and the running top-k is merged block by block.  Blocks hold at most
:data:`BLOCK_ELEMENTS` query-row scores (16 MiB of float32), so memory stays
bounded whatever ``n`` and ``nq`` are.  Cost is ``O(nq * n * dim)`` flops and
one read of the vectors per call (two for COSINE unless ``norms`` is passed).

With an ``allowed`` mask only allowed rows are gathered (``np.take``, a copy
of just those rows, one block at a time) and scored, so a selective filter
costs in proportion to the rows it lets through.

L2 distances use ``|q|^2 + |x|^2 - 2 q.x`` clamped at zero, as FAISS's BLAS
path does, so identical vectors can score a few ULPs above 0.  Scores and
padding follow :mod:`sluice.index.metrics`; ties go to the lower row offset.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from sluice.index.metrics import COSINE, IP, L2, canonical_metric, normalize_rows
from sluice.index.topk import Result, empty_result, smallest_k, take_columns

#: Scores computed per block (``nq * rows``): 4M float32, 16 MiB.
BLOCK_ELEMENTS: Final = 1 << 22
_MIN_BLOCK_ROWS: Final = 256


def exact_search(
    vectors: np.ndarray,
    queries: np.ndarray,
    k: int,
    metric: str,
    allowed: np.ndarray | None = None,
    *,
    norms: np.ndarray | None = None,
) -> Result:
    """Top-``k`` rows of ``vectors`` (``(n, d)``) for each query (``(nq, d)``).

    Returns ``(scores (nq, k) float32, idx (nq, k) int64)``, best first, padded
    with ``-1``.  ``allowed`` is a boolean mask over rows; ``norms`` are the
    rows' L2 norms (``(n,)``), passed by callers that cache them to save L2 and
    COSINE a pass over the rows.
    """
    return _scan(vectors, queries, k, metric, allowed, norms, None, None)


def exact_range_search(
    vectors: np.ndarray,
    queries: np.ndarray,
    k: int,
    metric: str,
    radius: float,
    range_filter: float | None = None,
    allowed: np.ndarray | None = None,
    *,
    norms: np.ndarray | None = None,
) -> Result:
    """The best ``k`` rows per query inside the range window, padded with ``-1``.

    For L2 the window is ``range_filter <= distance < radius``; for IP and
    COSINE ``radius < similarity <= range_filter`` (knowhere's convention).
    """
    name = _metric(metric)
    if name == L2:
        low = -np.inf if range_filter is None else range_filter
        high = radius
    else:
        low = -np.inf if range_filter is None else -range_filter
        high = -radius
    return _scan(vectors, queries, k, name, allowed, norms, float(low), float(high))


def rescore_pairs(
    vectors: np.ndarray, queries: np.ndarray, qid: np.ndarray, ids: np.ndarray, metric: str
) -> np.ndarray:
    """Exact scores of (query ``qid[i]``, row ``ids[i]``) pairs, in the metric's convention.

    Used to re-rank candidates an approximate index proposed.  Reads one row
    of ``vectors`` per pair (random access: cheap in RAM, one page per pair
    when memory-mapped) and holds ``len(ids) * dim`` floats at once.
    """
    name = _metric(metric)
    q = normalize_rows(queries) if name == COSINE else queries
    rows = np.take(vectors, ids, axis=0)
    picked = np.take(q, qid, axis=0)
    dots = np.einsum("ij,ij->i", rows, picked)
    if name == L2:
        dist = np.einsum("ij,ij->i", rows, rows) + np.einsum("ij,ij->i", picked, picked)
        dist -= 2.0 * dots
        return np.maximum(dist, 0.0).astype(np.float32, copy=False)
    if name == COSINE:
        norms = np.sqrt(np.einsum("ij,ij->i", rows, rows))
        dots /= np.where(norms == 0, np.float32(1.0), norms)
    return dots.astype(np.float32, copy=False)


def as_matrix(data: np.ndarray, dim: int | None = None) -> np.ndarray:
    """``data`` as a C-contiguous float32 ``(rows, dim)`` matrix, copying only if needed."""
    matrix = np.ascontiguousarray(data, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    if matrix.ndim != 2 or (dim is not None and matrix.shape[1] != dim):
        raise ValueError(f"expected a (rows, {dim or 'dim'}) matrix, got shape {matrix.shape}")
    return matrix


def as_mask(allowed: np.ndarray, rows: int) -> np.ndarray:
    """``allowed`` as a boolean vector of length ``rows``."""
    mask = np.asarray(allowed, dtype=bool)
    if mask.shape != (rows,):
        raise ValueError(f"allowed mask has shape {mask.shape}, expected ({rows},)")
    return mask


def _metric(metric: str) -> str:
    name = canonical_metric(metric)
    if name is None:
        raise ValueError(f"unknown metric {metric!r}")
    return name


def _scan(
    vectors: np.ndarray,
    queries: np.ndarray,
    k: int,
    metric: str,
    allowed: np.ndarray | None,
    norms: np.ndarray | None,
    low: float | None,
    high: float | None,
) -> Result:
    name = _metric(metric)
    x = as_matrix(vectors)
    q = as_matrix(queries, x.shape[1])
    n, nq = x.shape[0], q.shape[0]
    rows = None if allowed is None else np.flatnonzero(as_mask(allowed, n))
    total = n if rows is None else rows.size
    if nq == 0 or k <= 0 or total == 0:
        return empty_result(nq, max(k, 0), name)
    if name == COSINE:
        q = normalize_rows(q)
    q_sq = np.einsum("ij,ij->i", q, q)[:, None] if name == L2 else None

    best: tuple[np.ndarray, np.ndarray] | None = None
    step = max(_MIN_BLOCK_ROWS, BLOCK_ELEMENTS // nq)
    for start in range(0, total, step):
        stop = min(start + step, total)
        if rows is None:
            ids = np.arange(start, stop, dtype=np.int64)
            block = x[start:stop]
        else:
            ids = rows[start:stop]
            block = np.take(x, ids, axis=0)
        keys = _block_keys(name, q, q_sq, block, None if norms is None else norms[ids])
        if high is not None:
            keys[(keys < low) | (keys >= high)] = np.inf
        cols = smallest_k(keys, k)
        found = take_columns(keys, cols), ids[cols]
        if best is None:
            # Already in (key, row) order: a block's ids ascend with its columns.
            best = found
        else:
            best = _keep_best(
                np.concatenate([best[0], found[0]], axis=1),
                np.concatenate([best[1], found[1]], axis=1),
                k,
            )
    assert best is not None
    return _to_result(best[0], best[1], k, name)


def _block_keys(
    metric: str, q: np.ndarray, q_sq: np.ndarray | None, block: np.ndarray, norms: np.ndarray | None
) -> np.ndarray:
    """Ascending-is-better keys for one block: L2 distances, or negated similarities."""
    dots = q @ block.T
    if metric == L2:
        assert q_sq is not None
        row_sq = np.einsum("ij,ij->i", block, block) if norms is None else norms * norms
        keys = q_sq + row_sq.astype(np.float32, copy=False)[None, :]
        keys -= 2.0 * dots
        np.maximum(keys, 0.0, out=keys)
        return keys
    np.negative(dots, out=dots)
    if metric == IP:
        return dots
    if norms is None:
        norms = np.sqrt(np.einsum("ij,ij->i", block, block))
    safe = np.where(norms == 0, np.float32(1.0), norms).astype(np.float32, copy=False)
    dots /= safe[None, :]
    return dots


def _keep_best(keys: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((ids, keys), axis=1)[:, :k]
    return take_columns(keys, order), take_columns(ids, order)


def _to_result(keys: np.ndarray, ids: np.ndarray, k: int, metric: str) -> Result:
    nq, width = keys.shape
    found = keys != np.inf
    values = keys if metric == L2 else -keys
    if width == k and found.all():  # every slot filled: nothing to pad
        return values.astype(np.float32, copy=False), ids
    scores, out_ids = empty_result(nq, k, metric)
    scores[:, :width] = np.where(found, values, scores[:, :width])
    out_ids[:, :width] = np.where(found, ids, -1)
    return scores, out_ids
