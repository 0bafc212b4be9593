"""Exact BM25 top-k from impact-ordered postings: a threshold algorithm.

Each term's postings are also kept in *impact order* (largest BM25 document
value first).  A query reads a prefix of every term's impact-ordered list:
the union of the prefixes are the candidates, scored exactly.  A document in
no prefix scores at most ``U = sum(w_t * v_t)`` over the terms cut short,
where ``v_t`` is the largest value left after term ``t``'s prefix; once the
candidates' ``k``-th best score beats ``U``, the candidates' top ``k`` is the
answer.  Otherwise the prefixes grow (``GROWTH`` times, at most
``ROUNDS`` times, while scoring them stays cheaper than a dense pass) and,
failing that, every document is scored in one dense
pass, only those at or above the candidates' ``k``-th score (a lower bound of
the true one) being sorted.

Exact scoring needs a term's value for any candidate: the longest postings
keep a dense row (one float32 per document, 0 where absent; as many as fit in
as much memory again as the postings take) and are read by a gather; the
other terms are looked up by binary search in their document-ordered
postings.

Scores are the ones the sparse product computes: float32 products summed
term by term in the index's term order (adding a dense row's 0 changes
nothing), so results are bit-identical to scoring every posting.

The impact order is computed once per segment from the values of the first
``avgdl`` searched; values change with ``avgdl`` (the corpus grows), which
can only make the order imperfect, never the answer wrong: the bound reads
a suffix maximum recomputed for each ``avgdl``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import scipy.sparse as sp

from sluice.index.topk import largest_k

#: Dense rows go to the longest postings first, while their 4 bytes per document
#: stay within this many bytes per posting of the whole segment (so at most
#: double the postings' own memory) ...
DENSE_BUDGET_PER_POSTING: Final = 8
#: ... and only to terms in at least this share of the documents.
DENSE_SHARE: Final = 1 / 64
#: Prefix length read first from every term, then multiplied by ``GROWTH``.
FIRST_DEPTH: Final = 256
GROWTH: Final = 4
ROUNDS: Final = 3
#: Prefixes grow only while (candidates x terms) stays below this share of the segment.
GROW_WORK_SHARE: Final = 1 / 16
#: Slack on the bound comparison, above float32 summation error.
_SLACK: Final = 1e-5


@dataclass(frozen=True, slots=True)
class ImpactPostings:
    """One segment's postings prepared for one ``avgdl``."""

    avgdl: float
    #: BM25 document values aligned with the postings (document order).
    values: np.ndarray
    #: Per term, its documents by descending value (the segment's impact order).
    order_docs: np.ndarray
    #: ``suffix_max[i]``: the largest value from position ``i`` to its term's end.
    suffix_max: np.ndarray
    #: Dense value rows of the common terms, by postings row.
    dense: dict[int, np.ndarray]


def impact_order(postings: sp.csr_matrix, values: np.ndarray) -> np.ndarray:
    """The permutation of ``postings.data`` that sorts each row by descending value.

    Ties keep document order.  One stable sort of ``row + (1 - value / top)``:
    float64 keeps every float32 value distinct beside a row number.
    """
    sizes = np.diff(postings.indptr)
    rows = np.repeat(np.arange(sizes.size, dtype=np.float64), sizes)
    top = float(values.max()) if values.size else 1.0
    key = rows + 0.5 * (1.0 - values.astype(np.float64) / (top if top > 0 else 1.0))
    order: np.ndarray = np.argsort(key, kind="stable")
    return order


def prepare(
    postings: sp.csr_matrix, values: np.ndarray, order: np.ndarray, avgdl: float
) -> ImpactPostings:
    """The impact view of ``postings`` whose document values for ``avgdl`` are ``values``."""
    n = int(postings.shape[1])
    indptr = postings.indptr
    sizes = np.diff(indptr)
    ordered = values[order]
    return ImpactPostings(
        avgdl=avgdl,
        values=values,
        order_docs=postings.indices[order],
        suffix_max=_suffix_max(ordered, sizes),
        dense={
            int(row): _dense_row(postings, values, int(row), n) for row in _dense_rows(sizes, n)
        },
    )


def impact_top_k(
    postings: sp.csr_matrix,
    impact: ImpactPostings,
    term_rows: np.ndarray,
    weights: np.ndarray,
    k: int,
    mask: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The best ``k`` (float32 scores, int64 ids), ties to the lower id.

    ``term_rows`` are the query terms' rows of ``postings`` in ascending
    order, ``weights`` their float32 query weights.
    """
    if len(term_rows) == 0 or k <= 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int64)
    starts = postings.indptr[term_rows].astype(np.int64)
    sizes = postings.indptr[term_rows + 1].astype(np.int64) - starts
    bounds = weights.astype(np.float64)
    depth = np.minimum(sizes, max(FIRST_DEPTH, 4 * k))
    kth = 0.0
    for _ in range(ROUNDS):
        parts = [
            impact.order_docs[lo : lo + d]
            for lo, d in zip(starts.tolist(), depth.tolist(), strict=True)
        ]
        candidates = _union(parts)
        if mask is not None:
            candidates = candidates[mask[candidates]]
        scores = _scores(postings, impact, term_rows, weights, candidates)
        cut = depth < sizes
        if not cut.any():
            return _best(scores, candidates, k)
        kth = _kth(scores, k)
        unseen = float((bounds[cut] * impact.suffix_max[starts[cut] + depth[cut]]).sum())
        if kth > unseen * (1 + _SLACK):
            return _best(scores, candidates, k)
        depth = np.minimum(sizes, depth * GROWTH)
        if int(depth.sum()) * len(term_rows) > GROW_WORK_SHARE * postings.shape[1]:
            break  # scoring the next candidates would cost about what a dense pass does
    return _dense_pass(postings, impact, term_rows, weights, k, mask, kth)


def _dense_pass(
    postings: sp.csr_matrix,
    impact: ImpactPostings,
    term_rows: np.ndarray,
    weights: np.ndarray,
    k: int,
    mask: np.ndarray | None,
    floor: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Every document scored; only those scoring at least ``floor`` are ranked."""
    n = int(postings.shape[1])
    acc = np.zeros(n, dtype=np.float32)
    indptr, indices = postings.indptr, postings.indices
    for row, weight in zip(term_rows.tolist(), weights.tolist(), strict=True):
        dense = impact.dense.get(row)
        if dense is not None:
            acc += np.float32(weight) * dense
        else:
            lo, hi = indptr[row], indptr[row + 1]
            # Documents are unique within a posting list, so fancy-index addition is exact.
            acc[indices[lo:hi]] += np.float32(weight) * impact.values[lo:hi]
    if mask is not None:
        acc[~mask] = 0
    if floor > 0:
        picked = np.flatnonzero(acc >= floor)
        return _best(acc[picked], picked, k)
    if k < n:
        top = float(acc[np.argpartition(acc, n - k)[n - k :]].min())
        if top > 0:
            picked = np.flatnonzero(acc >= top)
            return _best(acc[picked], picked, k)
    picked = np.flatnonzero(acc)
    return _best(acc[picked], picked, k)


def _scores(
    postings: sp.csr_matrix,
    impact: ImpactPostings,
    term_rows: np.ndarray,
    weights: np.ndarray,
    docs: np.ndarray,
) -> np.ndarray:
    """Exact float32 scores of ``docs`` (sorted), summed in term-row order like the product."""
    out = np.zeros(len(docs), dtype=np.float32)
    indptr, indices = postings.indptr, postings.indices
    for row, weight in zip(term_rows.tolist(), weights.tolist(), strict=True):
        dense = impact.dense.get(row)
        if dense is not None:
            out += np.float32(weight) * dense[docs]
            continue
        lo, hi = int(indptr[row]), int(indptr[row + 1])
        holders = indices[lo:hi]
        at = np.searchsorted(holders, docs)
        np.minimum(at, hi - lo - 1, out=at)
        values = impact.values[lo:hi][at]
        values[holders[at] != docs] = 0
        out += np.float32(weight) * values
    return out


def _union(parts: list[np.ndarray]) -> np.ndarray:
    """The sorted distinct documents of several prefixes."""
    docs = np.sort(np.concatenate(parts)) if len(parts) > 1 else np.sort(parts[0])
    if docs.size > 1:
        docs = docs[np.concatenate(([True], docs[1:] != docs[:-1]))]
    return docs


def _kth(scores: np.ndarray, k: int) -> float:
    """The ``k``-th best positive score (0 when fewer than ``k`` documents score)."""
    positive = scores[scores > 0]
    if len(positive) < k:
        return 0.0
    return float(np.partition(positive, len(positive) - k)[len(positive) - k])


def _best(scores: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The best ``k`` documents that score at all (a zero score is no match)."""
    keep = scores != 0
    return largest_k(scores[keep], ids[keep], k)


def _suffix_max(ordered: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Per row, the running maximum from each position to the row's end.

    One reversed ``maximum.accumulate``: each row is lifted above every later
    row by an offset, so a maximum never leaks from one row into another;
    float64 holds value plus offset exactly.  Callers read positions inside
    a row only (a term cut short has values left).
    """
    if ordered.size == 0:
        return np.zeros(0, np.float32)
    step = float(ordered.max()) + 1.0
    rows = np.repeat(np.arange(sizes.size, dtype=np.float64), sizes)
    offsets = (sizes.size - 1 - rows) * step
    # Reversed views are copied: numpy's arithmetic on negative strides is slow.
    lifted = np.ascontiguousarray((ordered.astype(np.float64) + offsets)[::-1])
    running = np.ascontiguousarray(np.maximum.accumulate(lifted)[::-1])
    result: np.ndarray = running - offsets
    return result.astype(np.float32)


def _dense_rows(sizes: np.ndarray, n: int) -> np.ndarray:
    """The postings rows given a dense row: the longest ones, within the memory budget."""
    longest = np.argsort(-sizes, kind="stable")
    longest = longest[sizes[longest] >= max(1.0, DENSE_SHARE * n)]
    affordable = int(DENSE_BUDGET_PER_POSTING * int(sizes.sum()) // max(4 * n, 1))
    return longest[:affordable]


def _dense_row(postings: sp.csr_matrix, values: np.ndarray, row: int, n: int) -> np.ndarray:
    lo, hi = postings.indptr[row], postings.indptr[row + 1]
    dense = np.zeros(n, dtype=np.float32)
    dense[postings.indices[lo:hi]] = values[lo:hi]
    return dense
