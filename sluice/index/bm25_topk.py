"""Exact BM25 top-k of one query: MaxScore over the postings, or one dense pass.

A BM25 document value is below ``k1 + 1`` whatever the term frequency, so a
query term ``t`` weighted ``w_t`` adds less than ``w_t * (k1 + 1)`` to any
document's score.  Common terms have small weights (low IDF) and long
postings.  MaxScore, in two steps:

1. The most selective terms (largest bounds) whose postings hold at least
   ``k`` documents give the first candidates; their exact scores give a
   threshold ``theta`` (the ``k``-th best).
2. A document found in none of those postings scores at most the sum of the
   bounds of the terms it holds.  The longest run of the smallest bounds
   summing below ``theta`` are *non-essential*: a document holding only such
   terms cannot reach the top ``k``.  The candidates are completed with the
   postings of the other (essential) terms, all scored exactly, and their
   top ``k`` is the answer; the non-essential postings are only probed for
   the candidates, never read whole.

Exact scores are the ones the full sparse product computes: float32 products
summed term by term in the index's term order.  When the candidates would
exceed a quarter of the segment, :func:`maxscore_top_k` returns ``None`` and
:func:`dense_top_k` scores every posting of the query's terms in one pass
into a dense accumulator (the same sums, in the same order).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from sluice.index.bm25 import posting_values

#: Give up pruning when the candidates exceed this share of the segment.
CANDIDATE_SHARE = 0.25
#: Slack on the bound comparison, above float32 summation error.
_SLACK = 1e-5
_EMPTY = (np.zeros(0, np.float32), np.zeros(0, np.int64))


def maxscore_top_k(
    postings: sp.csr_matrix,
    lengths: np.ndarray,
    term_rows: np.ndarray,
    weights: np.ndarray,
    k: int,
    bm25: tuple[float, float, float],
    mask: np.ndarray | None,
    doc_values: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """The best ``k`` (float32 scores, int64 ids), ties to the lower id; ``None``: not pruned.

    ``term_rows`` are the query terms' rows of ``postings`` in ascending order,
    ``weights`` their float32 query weights; ``bm25`` is ``(k1, b, avgdl)``.
    ``doc_values``, when given, are the postings' BM25 document values for
    exactly those parameters, aligned with ``postings.data``.
    """
    n = postings.shape[1]
    if len(term_rows) == 0 or k <= 0:
        return _EMPTY
    values = _Values(postings, lengths, bm25, doc_values)
    limit = CANDIDATE_SHARE * n
    indptr = postings.indptr
    sizes = (indptr[term_rows + 1] - indptr[term_rows]).astype(np.int64)
    bounds = weights.astype(np.float64) * (bm25[0] + 1.0)
    selective = np.argsort(-bounds, kind="stable")
    # Step 1: the most selective terms until their postings could fill the top k.
    reach = int(np.searchsorted(np.cumsum(sizes[selective]), k)) + 1
    first = selective[:reach]
    if sizes[first].sum() > limit:
        return None
    candidates = _postings_union(postings, term_rows[first], mask)
    scores = _scores(postings, term_rows, weights, candidates, values)
    if reach >= len(selective):
        return _best(scores, candidates, k)
    theta = _kth(scores, k)
    # Step 2: the terms a non-candidate would need to beat theta are essential.
    rest = selective[reach:][::-1]  # the smallest bounds first
    reachable = np.cumsum(bounds[rest])
    non_essential = int(np.searchsorted(reachable, theta * (1 - _SLACK), side="left"))
    essential = rest[non_essential:]
    if len(essential) == 0:
        return _best(scores, candidates, k)
    if len(candidates) + sizes[essential].sum() > limit:
        return None
    extra = _postings_union(postings, term_rows[essential], mask)
    extra = extra[~_members(candidates, extra)]
    if len(extra) == 0:
        return _best(scores, candidates, k)
    extra_scores = _scores(postings, term_rows, weights, extra, values)
    return _best(np.concatenate((scores, extra_scores)), np.concatenate((candidates, extra)), k)


def dense_top_k(
    postings: sp.csr_matrix,
    term_rows: np.ndarray,
    weights: np.ndarray,
    k: int,
    doc_values: np.ndarray,
    mask: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every posting of the query's terms scored in one pass (``term_rows`` ascending)."""
    n = postings.shape[1]
    acc = np.zeros(n, dtype=np.float32)
    indptr, indices = postings.indptr, postings.indices
    for row, weight in zip(term_rows.tolist(), weights.tolist(), strict=True):
        lo, hi = indptr[row], indptr[row + 1]
        # Documents are unique within a posting list, so fancy-index addition is exact.
        acc[indices[lo:hi]] += np.float32(weight) * doc_values[lo:hi]
    if mask is not None:
        acc[~mask] = 0
    if k < n:
        # One partition pass finds the k-th best; only documents at or above it are sorted.
        kth = float(acc[np.argpartition(acc, n - k)[n - k :]].min())
        if kth > 0:
            ties = np.flatnonzero(acc >= kth)
            return _best(acc[ties], ties, k)
    hits = np.flatnonzero(acc)
    return _best(acc[hits], hits, k)


class _Values:
    """BM25 document values of postings: precomputed, or computed per slice."""

    __slots__ = ("_bm25", "_data", "_lengths", "_postings")

    def __init__(
        self,
        postings: sp.csr_matrix,
        lengths: np.ndarray,
        bm25: tuple[float, float, float],
        doc_values: np.ndarray | None,
    ) -> None:
        self._postings = postings
        self._lengths = lengths
        self._bm25 = bm25
        self._data = doc_values

    def at(self, lo: int, hi: int, picks: np.ndarray) -> np.ndarray:
        if self._data is not None:
            return self._data[lo:hi][picks]
        tf = self._postings.data[lo:hi][picks]
        docs = self._postings.indices[lo:hi][picks]
        return posting_values(tf, self._lengths[docs], *self._bm25)


def _postings_union(
    postings: sp.csr_matrix, rows: np.ndarray, mask: np.ndarray | None
) -> np.ndarray:
    """The sorted distinct documents of some terms' postings (allowed ones only)."""
    indptr, indices = postings.indptr, postings.indices
    parts = [indices[indptr[r] : indptr[r + 1]] for r in rows.tolist()]
    docs = parts[0] if len(parts) == 1 else np.unique(np.concatenate(parts))
    if mask is not None:
        docs = docs[mask[docs]]
    return docs


def _members(sorted_docs: np.ndarray, docs: np.ndarray) -> np.ndarray:
    if len(sorted_docs) == 0:
        return np.zeros(len(docs), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_docs, docs), len(sorted_docs) - 1)
    found: np.ndarray = sorted_docs[at] == docs
    return found


def _scores(
    postings: sp.csr_matrix,
    term_rows: np.ndarray,
    weights: np.ndarray,
    docs: np.ndarray,
    values: _Values,
) -> np.ndarray:
    """Exact float32 scores of ``docs`` (sorted), summed in term-row order like the product."""
    out = np.zeros(len(docs), dtype=np.float32)
    indptr, indices = postings.indptr, postings.indices
    for row, weight in zip(term_rows.tolist(), weights.tolist(), strict=True):
        lo, hi = int(indptr[row]), int(indptr[row + 1])
        holders = indices[lo:hi]
        at = np.searchsorted(holders, docs)
        inside = at < len(holders)
        found = np.zeros(len(docs), dtype=bool)
        found[inside] = holders[at[inside]] == docs[inside]
        if not found.any():
            continue
        out[found] = out[found] + np.float32(weight) * values.at(lo, hi, at[found])
    return out


def _kth(scores: np.ndarray, k: int) -> float:
    """The ``k``-th best score (0 when fewer than ``k`` documents score)."""
    positive = scores[scores > 0]
    if len(positive) < k:
        return 0.0
    return float(np.partition(positive, len(positive) - k)[len(positive) - k])


def _best(scores: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    keep = scores != 0
    scores, ids = scores[keep], ids[keep]
    if scores.size > k:
        part = np.argpartition(-scores, k - 1)[:k]
        kth = scores[part].min()
        part = np.flatnonzero(scores >= kth)
        scores, ids = scores[part], ids[part]
    order = np.lexsort((ids, -scores))[:k]
    return scores[order].astype(np.float32), ids[order].astype(np.int64)
