"""SPARSE_INVERTED_INDEX and SPARSE_WAND: posting lists per term, scored exactly.

Layout: the segment's rows are a CSR matrix; the index keeps the sorted
distinct term ids (``terms``) and the postings as a CSR matrix of shape
``(len(terms), n)`` (row ``t`` = the documents holding ``terms[t]`` and
their values), plus each document's length (sum of its values) for BM25.
Memory about 12 bytes per non-zero plus 8 per distinct term.

A search slices the postings of the batch's query terms (scipy's row
indexing, in C), turns BM25 term frequencies into knowhere's document values
on just those postings (:mod:`sluice.index.bm25`), and multiplies: one
sparse-sparse product gives every query's scores for every document sharing
a term with it.  The cost is the total length of the query terms' postings,
never the whole matrix; there is no Python loop over postings (one loop over
queries picks each query's top ``k``).  Both index types compute exact
scores, so they return the same results: knowhere's WAND and MaxScore are
exact pruning strategies, and ``inverted_index_algo`` is kept but changes
nothing.

As in knowhere, only documents with a non-zero score are results, ties go
to the lower row, and:

* ``drop_ratio_search`` drops the query's smallest values: with ``r`` of
  ``m`` values, the ``floor(r * m)``-th smallest absolute value is a
  threshold and values below it are ignored.  The shortened query chooses
  ``refine_factor * k`` candidates, which are then scored with the whole
  query (knowhere's approximate-search refinement).
* BM25 queries are term frequencies; they are weighted by IDF from
  :attr:`SearchParams.bm25` (collection statistics) or, failing that, from
  the segment itself.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import scipy.sparse as sp

from sluice.index.bm25 import Bm25Stats, posting_values
from sluice.index.bm25_impact import ImpactPostings, impact_order, impact_top_k, prepare
from sluice.index.filtering import allowed_rows
from sluice.index.format import SPARSE, pack_arrays, unpack_arrays
from sluice.index.kinds import sparse_rows
from sluice.index.metrics import BM25
from sluice.index.params import SparseParams
from sluice.index.search_params import SearchParams
from sluice.index.spec import IndexSpec
from sluice.index.topk import Result, empty_result, largest_k

#: Queries multiplied at once: bounds the ``(nq, n)`` sparse score matrix.
QUERY_BLOCK: Final = 64


class SparseIndex:
    """A :class:`~sluice.index.base.VectorIndex` over one segment's sparse rows."""

    __slots__ = (
        "_doc_values",
        "_impact",
        "_impact_order",
        "_lengths",
        "_memory",
        "_n",
        "_params",
        "_postings",
        "_spec",
        "_stats",
        "_terms",
    )

    def __init__(
        self, spec: IndexSpec, terms: np.ndarray, postings: sp.csr_matrix, lengths: np.ndarray
    ) -> None:
        """Wrap built structures; use :func:`build_sparse` or :func:`sluice.index.load_index`."""
        if not isinstance(spec.build, SparseParams):
            raise ValueError(f"{spec.engine_type} is not a sparse index type")
        self._spec = spec
        self._params: SparseParams = spec.build
        self._terms = terms
        self._postings = postings
        self._lengths = lengths
        self._n = int(postings.shape[1])
        doc_freq = np.diff(postings.indptr).astype(np.int64)
        self._stats = Bm25Stats(self._n, float(lengths.sum(dtype=np.float64)), terms, doc_freq)
        #: BM25 document values of every posting for one ``avgdl`` (the last one searched).
        self._doc_values: tuple[float, sp.csr_matrix] | None = None
        #: The postings' impact order (computed at the first BM25 top-k search) and
        #: the impact view for the last ``avgdl`` searched (:mod:`bm25_impact`).
        self._impact_order: np.ndarray | None = None
        self._impact: ImpactPostings | None = None
        self._memory = int(
            postings.data.nbytes
            + postings.indices.nbytes
            + postings.indptr.nbytes
            + terms.nbytes
            + lengths.nbytes
        )

    @property
    def spec(self) -> IndexSpec:
        return self._spec

    @property
    def ntotal(self) -> int:
        return self._n

    @property
    def memory_bytes(self) -> int:
        return self._memory

    @property
    def bm25_stats(self) -> Bm25Stats:
        """This segment's corpus statistics, for the engine to merge across segments."""
        return self._stats

    def search(
        self, queries: object, k: int, params: SearchParams, allowed: np.ndarray | None = None
    ) -> Result:
        if params.is_range:
            return self.range_search(queries, k, params, allowed)
        return self._run(queries, k, params, allowed, ranged=False)

    def range_search(
        self, queries: object, k: int, params: SearchParams, allowed: np.ndarray | None = None
    ) -> Result:
        if params.radius is None:
            raise ValueError("range_search needs params.radius")
        return self._run(queries, k, params, allowed, ranged=True)

    def serialize(self) -> bytes:
        p = self._postings
        return pack_arrays(SPARSE, [self._terms, p.indptr, p.indices, p.data, self._lengths])

    def _run(
        self,
        queries: object,
        k: int,
        params: SearchParams,
        allowed: np.ndarray | None,
        *,
        ranged: bool,
    ) -> Result:
        q = sparse_rows(queries)
        nq = q.shape[0]
        rows = allowed_rows(allowed, self._n)
        if nq == 0 or k <= 0 or self._n == 0 or (rows is not None and rows.allowed == 0):
            return empty_result(nq, max(k, 0), params.metric_type)
        mask = None if rows is None else rows.mask
        if params.metric_type == BM25 and not ranged and params.drop_ratio_search <= 0:
            return self._bm25_top_k(q, k, params, mask)
        weights = self._weights(q, params)
        scores_out, ids_out = empty_result(nq, k, params.metric_type)
        for start in range(0, nq, QUERY_BLOCK):
            block = weights[start : start + QUERY_BLOCK]
            full = self._scores(block, params)
            if params.drop_ratio_search > 0:
                shortened = self._scores(_drop_smallest(block, params.drop_ratio_search), params)
            else:
                shortened = None
            for row in range(block.shape[0]):
                picked = _pick(full, shortened, row, k, params, mask, ranged)
                scores_out[start + row, : picked[0].size] = picked[0]
                ids_out[start + row, : picked[1].size] = picked[1]
        return scores_out, ids_out

    def _bm25_top_k(
        self, q: sp.csr_matrix, k: int, params: SearchParams, mask: np.ndarray | None
    ) -> Result:
        """Each query by the impact-ordered threshold algorithm (:mod:`bm25_impact`)."""
        stats = params.bm25 if params.bm25 is not None else self._stats
        impact = self._impact_for(self._avgdl(params))
        scores_out, ids_out = empty_result(q.shape[0], k, BM25)
        if self._terms.size == 0:
            return scores_out, ids_out
        last = self._terms.size - 1
        for row in range(q.shape[0]):
            lo, hi = q.indptr[row], q.indptr[row + 1]
            cols = q.indices[lo:hi].astype(np.int64)
            pos = np.minimum(np.searchsorted(self._terms, cols), last)
            hit = self._terms[pos] == cols
            if not hit.any():
                continue
            # Canonical queries have ascending columns, so ``pos[hit]`` ascends too.
            weights = (q.data[lo:hi][hit] * stats.idf(cols[hit])).astype(np.float32)
            answer = impact_top_k(self._postings, impact, pos[hit], weights, k, mask)
            scores_out[row, : answer[0].size] = answer[0]
            ids_out[row, : answer[1].size] = answer[1]
        return scores_out, ids_out

    def _impact_for(self, avgdl: float) -> ImpactPostings:
        """The impact view for ``avgdl``, rebuilt only when the corpus (its ``avgdl``) changed."""
        kept = self._impact
        if kept is not None and kept.avgdl == avgdl:
            return kept
        values = self.document_values(avgdl).data
        if self._impact_order is None:
            self._impact_order = impact_order(self._postings, values)
        impact = prepare(self._postings, values, self._impact_order, avgdl)
        self._impact = impact
        return impact

    def _weights(self, q: sp.csr_matrix, params: SearchParams) -> sp.csr_matrix:
        if params.metric_type != BM25:
            return q
        stats = params.bm25 if params.bm25 is not None else self._stats
        return stats.query_weights(q)

    def _scores(self, queries: sp.csr_matrix, params: SearchParams) -> sp.csr_matrix:
        """``(nq, n)`` sparse scores of every document sharing a term with each query."""
        cols = queries.indices
        pos = np.minimum(np.searchsorted(self._terms, cols), max(self._terms.size - 1, 0))
        present = self._terms.size > 0
        hit = (self._terms[pos] == cols) if present else np.zeros(cols.shape, dtype=bool)
        used, compact = np.unique(pos[hit], return_inverse=True)
        rows_of_value = np.repeat(np.arange(queries.shape[0]), np.diff(queries.indptr))[hit]
        qc = sp.csr_matrix(
            (queries.data[hit], (rows_of_value, compact)), shape=(queries.shape[0], used.size)
        )
        if params.metric_type == BM25:
            sub = self.document_values(self._avgdl(params))[used]
        else:
            sub = self._postings[used]
        return (qc @ sub).tocsr()

    def document_values(self, avgdl: float) -> sp.csr_matrix:
        """The postings with each ``tf`` turned into its BM25 document value, kept per ``avgdl``.

        ``avgdl`` changes only when the corpus does, so consecutive searches
        reuse one transformation of the whole segment instead of redoing it
        for every query's postings.
        """
        kept = self._doc_values
        if kept is not None and kept[0] == avgdl:
            return kept[1]
        p = self._params
        values = self._postings.copy()
        values.data = posting_values(
            values.data, self._lengths[values.indices], p.bm25_k1, p.bm25_b, avgdl
        )
        self._doc_values = (avgdl, values)
        return values

    def _avgdl(self, params: SearchParams) -> float:
        stats = params.bm25 if params.bm25 is not None else self._stats
        return stats.avgdl or self._params.bm25_avgdl


def build_sparse(spec: IndexSpec, rows: object) -> SparseIndex:
    """Posting lists over ``rows`` (a CSR matrix, one document per row); costs O(nnz)."""
    docs = sparse_rows(rows)
    n = docs.shape[0]
    terms, compact = np.unique(docs.indices, return_inverse=True)
    by_term = sp.csr_matrix(
        (docs.data, compact.astype(np.int64), docs.indptr), shape=(n, terms.size)
    ).T.tocsr()
    by_term.sort_indices()
    lengths = np.asarray(docs.sum(axis=1), dtype=np.float32).ravel()
    return SparseIndex(spec, terms.astype(np.int64), by_term, lengths)


def load_sparse(spec: IndexSpec, payload: memoryview) -> SparseIndex:
    """A :class:`SparseIndex` from the payload :meth:`SparseIndex.serialize` wrote."""
    terms, indptr, indices, data, lengths = unpack_arrays(payload, 5)
    postings = sp.csr_matrix((data, indices, indptr), shape=(terms.size, lengths.size))
    return SparseIndex(spec, terms, postings, lengths)


def _drop_smallest(queries: sp.csr_matrix, ratio: float) -> sp.csr_matrix:
    """Each row without the values below its ``floor(ratio * m)``-th smallest absolute value."""
    out = queries.copy()
    keep = np.ones(out.data.size, dtype=bool)
    for row in range(out.shape[0]):
        lo, hi = out.indptr[row], out.indptr[row + 1]
        m = hi - lo
        if m == 0:
            continue
        magnitudes = np.abs(out.data[lo:hi])
        threshold = np.partition(magnitudes, int(ratio * m))[int(ratio * m)]
        keep[lo:hi] = magnitudes >= threshold
    out.data = np.where(keep, out.data, 0).astype(np.float32)
    out.eliminate_zeros()
    return out


def _pick(
    full: sp.csr_matrix,
    shortened: sp.csr_matrix | None,
    row: int,
    k: int,
    params: SearchParams,
    mask: np.ndarray | None,
    ranged: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """One query's best ``k`` (scores, ids), ties to the lower id."""
    lo, hi = full.indptr[row], full.indptr[row + 1]
    ids, scores = full.indices[lo:hi], full.data[lo:hi]
    keep = scores != 0
    if mask is not None:
        keep &= mask[ids]
    if ranged:
        assert params.radius is not None
        keep &= scores > params.radius
        if params.range_filter is not None:
            keep &= scores <= params.range_filter
    if shortened is not None:
        slo, shi = shortened.indptr[row], shortened.indptr[row + 1]
        sids, sscores = shortened.indices[slo:shi], shortened.data[slo:shi]
        sok = sscores != 0
        if mask is not None:
            sok &= mask[sids]
        sids, sscores = sids[sok], sscores[sok]
        width = max(k, k * params.refine_factor)
        chosen = largest_k(sscores, sids, width)[1]
        keep &= np.isin(ids, chosen)
    return largest_k(scores[keep], ids[keep], k)
