"""Exact BM25 top-k that skips the postings of common terms (MaxScore).

A BM25 document value is below ``k1 + 1`` whatever the term frequency, so a
query term ``t`` weighted ``w_t`` adds less than ``w_t * (k1 + 1)`` to any
document's score.  Common terms have small weights (low IDF) and long
postings.  Taking the query's terms from the largest bound down, the
documents holding the first ``j`` terms are scored exactly (every term's
contribution, looked up in its postings); once the ``k``-th best of those
scores exceeds the sum of the bounds of the remaining terms, no other
document can reach the top ``k`` and the remaining postings are never read.
The scores are the ones the full sparse product computes (float32 products,
summed term by term in the index's term order), so results are identical.

When the candidates grow past a quarter of the segment, pruning no longer
pays and :func:`maxscore_top_k` returns ``None``: the caller scores every
posting instead.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from sluice.index.bm25 import posting_values

#: Give up pruning when the candidates exceed this share of the segment.
CANDIDATE_SHARE = 0.25
#: Slack on the bound comparison, above float32 summation error.
_SLACK = 1e-5


def maxscore_top_k(
    postings: sp.csr_matrix,
    lengths: np.ndarray,
    term_rows: np.ndarray,
    weights: np.ndarray,
    k: int,
    bm25: tuple[float, float, float],
    mask: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """The best ``k`` (float32 scores, int64 ids), ties to the lower id; ``None``: not pruned.

    ``term_rows`` are the query terms' rows of ``postings`` in ascending order,
    ``weights`` their float32 query weights; ``bm25`` is ``(k1, b, avgdl)``.
    """
    n = postings.shape[1]
    if len(term_rows) == 0 or k <= 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int64)
    k1 = bm25[0]
    bounds = weights.astype(np.float64) * (k1 + 1.0)
    by_bound = np.argsort(-bounds, kind="stable")
    remaining = np.concatenate((np.cumsum(bounds[by_bound][::-1])[::-1], [0.0]))
    indptr, indices = postings.indptr, postings.indices
    candidates = np.zeros(0, dtype=indices.dtype)
    for j, term in enumerate(by_bound.tolist(), start=1):
        lo, hi = indptr[term_rows[term]], indptr[term_rows[term] + 1]
        if len(candidates) + (hi - lo) > CANDIDATE_SHARE * n:
            return None
        candidates = _union(candidates, indices[lo:hi])
        if mask is not None:
            candidates = candidates[mask[candidates]]
        if len(candidates) > CANDIDATE_SHARE * n:
            return None
        scores = _scores(postings, lengths, term_rows, weights, candidates, bm25)
        keep = scores != 0
        chosen = _best(scores[keep], candidates[keep], k)
        if j == len(by_bound):
            return chosen
        if len(chosen[0]) == k and remaining[j] * (1 + _SLACK) < float(chosen[0][-1]):
            return chosen
    return None


def _union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The sorted union of two sorted id arrays (a stable sort of two runs is a merge)."""
    if len(a) == 0:
        return b
    both = np.concatenate((a, b))
    both.sort(kind="stable")
    fresh = np.ones(len(both), dtype=bool)
    fresh[1:] = both[1:] != both[:-1]
    return both[fresh]


def _scores(
    postings: sp.csr_matrix,
    lengths: np.ndarray,
    term_rows: np.ndarray,
    weights: np.ndarray,
    docs: np.ndarray,
    bm25: tuple[float, float, float],
) -> np.ndarray:
    """Exact float32 scores of ``docs`` (sorted), summed in term-row order like the product."""
    k1, b, avgdl = bm25
    out = np.zeros(len(docs), dtype=np.float32)
    indptr, indices, data = postings.indptr, postings.indices, postings.data
    for row, weight in zip(term_rows.tolist(), weights.tolist(), strict=True):
        lo, hi = indptr[row], indptr[row + 1]
        holders = indices[lo:hi]
        at = np.searchsorted(holders, docs)
        inside = at < len(holders)
        found = np.zeros(len(docs), dtype=bool)
        found[inside] = holders[at[inside]] == docs[inside]
        if not found.any():
            continue
        tf = data[lo:hi][at[found]]
        values = posting_values(tf, lengths[docs[found]], k1, b, avgdl)
        out[found] = out[found] + np.float32(weight) * values
    return out


def _best(scores: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    if scores.size > k:
        part = np.argpartition(-scores, k - 1)[:k]
        kth = scores[part].min()
        part = np.flatnonzero(scores >= kth)
        scores, ids = scores[part], ids[part]
    order = np.lexsort((ids, -scores))[:k]
    return scores[order].astype(np.float32), ids[order].astype(np.int64)
