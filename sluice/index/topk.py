"""Top-k selection and merging, shared by exact search, the FAISS indexes and the reducer.

Every function here is vectorised over queries: there is no Python loop over
rows or candidates.  Ties are broken the same way everywhere, by the smaller
id (row offset), so the same data always gives the same answer regardless of
how it was split into segments or chunks.

Results are ``(scores, ids)`` pairs of shape ``(nq, k)``: ``float32`` scores in
the metric's own convention (see :mod:`sluice.index.metrics`) and ``int64`` ids,
best first, with missing entries as id ``-1`` and the metric's worst score.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sluice.index.metrics import larger_is_better, sort_keys, worst_score

Result = tuple[np.ndarray, np.ndarray]


def empty_result(nq: int, k: int, metric: str) -> Result:
    """``(nq, k)`` of padding: every id ``-1``, every score the worst possible."""
    scores = np.full((nq, k), worst_score(metric), dtype=np.float32)
    ids = np.full((nq, k), -1, dtype=np.int64)
    return scores, ids


def take_columns(values: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``values[q, cols[q]]`` for every row ``q`` (``np.take_along_axis`` on axis 1).

    A single query (the common search) takes a plain 1-d gather: building the
    broadcast index costs more than the gather itself at top-k sizes.
    """
    if values.shape[0] == 1:
        return values[0].take(cols[0])[None, :]
    return np.take_along_axis(values, cols, axis=1)


def largest_k(scores: np.ndarray, ids: np.ndarray, k: int) -> Result:
    """The ``k`` largest ``scores`` with their ``ids`` (1-d), best first, ties to the lower id.

    One partition finds the ``k``-th score; only the candidates at or above it
    (every tie included) are sorted.  Returns float32 scores and int64 ids.
    """
    if scores.size > k:
        part = np.argpartition(-scores, k - 1)[:k]
        kth = scores[part].min()
        part = np.flatnonzero(scores >= kth)
        scores, ids = scores[part], ids[part]
    order = np.lexsort((ids, -scores))[:k]
    return scores[order].astype(np.float32), ids[order].astype(np.int64)


def smallest_k(keys: np.ndarray, k: int) -> np.ndarray:
    """Column positions of the ``k`` smallest keys per row, ascending, ties to the lower column.

    ``keys`` is ``(nq, m)`` with no NaN; ``+inf`` marks a non-candidate.  Returns
    ``(nq, min(k, m))`` positions.  Costs ``O(nq * m)`` (a partition, not a
    sort) plus an ``O(nq * k log k)`` sort of the winners.
    """
    nq, m = keys.shape
    kk = min(k, m)
    if kk <= 0 or nq == 0:
        return np.empty((nq, max(kk, 0)), dtype=np.int64)
    if nq == 1:
        return _smallest_k_of_one(keys[0], kk)[None, :]
    if kk < m:
        thresh = np.partition(keys, kk - 1, axis=1)[:, kk - 1 : kk]
        below = keys < thresh
        ties = keys == thresh
        need = kk - np.count_nonzero(below, axis=1)
        if np.any(np.count_nonzero(ties, axis=1) > need):
            # Several candidates share the k-th key: keep the leftmost ones.
            ties &= np.cumsum(ties, axis=1) <= need[:, None]
        cols = np.nonzero(below | ties)[1].reshape(nq, kk)
    else:
        cols = np.broadcast_to(np.arange(m, dtype=np.int64), (nq, m)).copy()
    chosen = take_columns(keys, cols)
    order = np.lexsort((cols, chosen), axis=1)
    return take_columns(cols, order)


def _smallest_k_of_one(keys: np.ndarray, kk: int) -> np.ndarray:
    """:func:`smallest_k` for one query: the same answer with a handful of 1-d calls."""
    if kk < keys.size:
        kth = keys[np.argpartition(keys, kk - 1)[:kk]].max()
        cols = np.flatnonzero(keys <= kth)  # every tie at the k-th key, ascending
    else:
        cols = np.arange(keys.size, dtype=np.int64)
    return cols[np.argsort(keys[cols], kind="stable")[:kk]]


def merge_topk(parts: Sequence[Result], k: int, metric: str) -> Result:
    """Merge per-source top-k lists (one per segment) into one global top-k.

    Each part is ``(scores, ids)`` of shape ``(nq, k_i)``; widths may differ.
    Entries with id ``-1`` are ignored, whatever their score.  The result is
    ``(nq, k)``, best first by the metric, ties broken by the smaller id,
    padded with ``-1`` when fewer than ``k`` real candidates exist.  Ids are not
    de-duplicated: callers that can see the same primary key twice (upserts
    across segments) resolve that before or after merging.
    """
    if not parts:
        raise ValueError("merge_topk needs at least one (scores, ids) part")
    nq = parts[0][0].shape[0]
    for scores, ids in parts:
        if scores.shape != ids.shape or scores.ndim != 2 or scores.shape[0] != nq:
            raise ValueError("every part must be (scores, ids) of shape (nq, k_i) with one nq")
    all_scores = np.concatenate([np.asarray(s, dtype=np.float32) for s, _ in parts], axis=1)
    all_ids = np.concatenate([np.asarray(i, dtype=np.int64) for _, i in parts], axis=1)
    if nq == 1 and k > 0:
        return _merge_one(all_scores[0], all_ids[0], k, metric)
    out_scores, out_ids = empty_result(nq, k, metric)
    if all_ids.shape[1] == 0 or k <= 0:
        return out_scores, out_ids
    missing = all_ids < 0
    keys = sort_keys(all_scores, metric)
    keys[missing] = np.inf
    tie_ids = np.where(missing, np.iinfo(np.int64).max, all_ids)
    order = np.lexsort((tie_ids, keys), axis=1)[:, :k]
    width = order.shape[1]
    picked_ids = take_columns(all_ids, order)
    picked_scores = take_columns(all_scores, order)
    gone = take_columns(keys, order) == np.inf
    picked_ids[gone] = -1
    picked_scores[gone] = worst_score(metric)
    out_scores[:, :width] = picked_scores
    out_ids[:, :width] = picked_ids
    return out_scores, out_ids


def _merge_one(scores: np.ndarray, ids: np.ndarray, k: int, metric: str) -> Result:
    """:func:`merge_topk` for one query, on 1-d arrays (the same order, ties and padding)."""
    real = ids >= 0
    keys = sort_keys(scores[real], metric)
    order = np.lexsort((ids[real], keys))[:k]
    order = order[keys[order] != np.inf]  # NaN scores never rank
    out_scores, out_ids = empty_result(1, k, metric)
    out_scores[0, : order.size] = scores[real][order]
    out_ids[0, : order.size] = ids[real][order]
    return out_scores, out_ids


def topk_from_ranges(
    lims: np.ndarray,
    scores: np.ndarray,
    ids: np.ndarray,
    k: int,
    metric: str,
    range_filter: float | None,
) -> Result:
    """Turn FAISS range-search output into padded ``(nq, k)`` top-k lists.

    ``lims``/``scores``/``ids`` are FAISS's flat layout (query ``i`` owns
    ``lims[i]:lims[i+1]``).  ``range_filter`` drops results that are *too*
    close: for L2 distances below it, for IP/COSINE similarities above it.
    """
    lims = np.asarray(lims, dtype=np.int64)  # FAISS hands back uint64
    nq = lims.shape[0] - 1
    out_scores, out_ids = empty_result(nq, k, metric)
    if k <= 0 or scores.size == 0:
        return out_scores, out_ids
    qid = np.repeat(np.arange(nq, dtype=np.int64), np.diff(lims))
    keep = ids >= 0
    if range_filter is not None:
        keep &= scores <= range_filter if larger_is_better(metric) else scores >= range_filter
    qid, scores, ids = qid[keep], scores[keep], ids[keep]
    order = np.lexsort((ids, sort_keys(scores, metric), qid))
    qid, scores, ids = qid[order], scores[order], ids[order]
    starts = np.searchsorted(qid, np.arange(nq, dtype=np.int64))
    rank = np.arange(qid.size, dtype=np.int64) - starts[qid]
    take = rank < k
    out_scores[qid[take], rank[take]] = scores[take]
    out_ids[qid[take], rank[take]] = ids[take]
    return out_scores, out_ids
