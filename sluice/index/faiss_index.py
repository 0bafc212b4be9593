"""Search over one segment's FAISS index, with Milvus's semantics.

L2 indexes use ``METRIC_L2`` (FAISS returns squared distances, Milvus's
convention).  IP uses ``METRIC_INNER_PRODUCT``; COSINE stores unit vectors in
an inner-product index and normalises each query, so inner products are
cosine similarities.  Rows are added in order, so FAISS ids are row offsets.
HNSW over IP is built in L2 space instead (see :mod:`sluice.index.building`):
this class turns those distances back into inner products.  How indexes are
built, trained and serialised is in :mod:`sluice.index.building`.

Re-ranking: IVF_SQ8 and IVF_PQ keep only quantised codes, so their
distances are approximate and PQ's recall@10 is often 0.5-0.9.  When the
caller passes the segment's vectors as ``rerank_vectors`` (no copy is made;
a memory-mapped column works, at one page read per candidate), a search asks
the index for ``refine_k * k`` candidates (default 2 for IVF_SQ8, 4 for
IVF_PQ), re-scores them exactly and returns the best ``k`` with exact scores,
FAISS's "IVF,PQ,Refine" scheme; filtered searches that would scan every list
anyway scan the allowed rows' vectors exactly instead.  Without them the
index answers from its codes alone, as knowhere does.  Re-rank vectors are
not part of the serialised index.

Every search returns ``k`` results when ``k`` allowed rows exist: a query the
ANN walk leaves short (HNSW on a tiny or heavily filtered segment, IVF whose
probed lists hold too few rows) is re-run exhaustively, as knowhere's HNSW
falls back to brute force.  Filtered search is described in
:mod:`sluice.index.filtering`; threads in :mod:`sluice.index.threads`.
"""

from __future__ import annotations

from typing import Any, Final

import faiss as _faiss_typed
import numpy as np

from sluice.errors import StorageError
from sluice.index.exact import as_matrix, exact_range_search, exact_search, rescore_pairs
from sluice.index.filtering import RowFilter, prefer_exact_scan, row_filter
from sluice.index.format import pack_index
from sluice.index.metrics import COSINE, L2, internal_metric, normalize_rows
from sluice.index.search_params import SearchParams
from sluice.index.spec import IndexSpec
from sluice.index.threads import use_threads_for_queries
from sluice.index.topk import Result, empty_result, merge_topk, topk_from_ranges

#: FAISS's bundled stubs cover only part of its SWIG API (no ``search_c``,
#: ``SearchParametersHNSW``, HNSW internals), so this module goes through an
#: untyped handle; the public surface below is fully typed.
faiss: Any = _faiss_typed

#: Candidates re-scored per result when re-rank vectors are attached.
DEFAULT_REFINE_K: Final = {"IVF_SQ8": 2.0, "IVF_PQ": 4.0}
#: Re-rank at most this many floats (``queries * candidates * dim``) at once: 16 MiB.
RERANK_BLOCK_ELEMENTS: Final = 1 << 22
_PARAMS_CACHE_SIZE: Final = 64
_FLAT, _HNSW, _IVF = "flat", "hnsw", "ivf"


#: Filter masks whose gathered rows a FLAT/HNSW index keeps for exact scans.
_SUBSETS_KEPT = 4


class FaissIndex:
    """A :class:`~sluice.index.base.VectorIndex` over one FAISS index."""

    __slots__ = (
        "_degree",
        "_dim",
        "_index",
        "_internal",
        "_kind",
        "_memory",
        "_metric",
        "_mips",
        "_nlist",
        "_normalize",
        "_norms",
        "_ntotal",
        "_params_cache",
        "_raw",
        "_refine",
        "_rerank",
        "_shift",
        "_spec",
        "_subsets",
    )

    def __init__(
        self,
        spec: IndexSpec,
        index: Any,
        rerank_vectors: np.ndarray | None = None,
        *,
        max_norm_sq: float | None = None,
    ) -> None:
        """Wrap a built or loaded FAISS index; use :func:`build` or :func:`load_index`.

        ``max_norm_sq`` marks an IP HNSW index built in L2 space over rows
        augmented to that squared norm.
        """
        self._spec = spec
        self._index = index
        self._metric = spec.metric_type
        self._internal = internal_metric(spec.metric_type)
        self._normalize = spec.metric_type == COSINE
        self._mips = max_norm_sq is not None
        self._shift = float(max_norm_sq or 0.0)
        self._ntotal = int(index.ntotal)
        self._dim = spec.dim
        self._nlist = 0
        self._degree = 0
        self._raw = np.empty((0, self._dim), dtype=np.float32)
        self._rerank: np.ndarray | None = None
        self._refine = 1.0
        self._params_cache: dict[int, Any] = {}
        self._norms: np.ndarray | None = None
        #: Gathered rows of recently used filter masks (see :meth:`_exact`).
        self._subsets: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]] = {}
        if isinstance(index, faiss.IndexHNSW):
            self._kind = _HNSW
            self._degree = int(index.hnsw.nb_neighbors(0))
            self._raw = _flat_view(faiss.downcast_index(index.storage))
        elif isinstance(index, faiss.IndexIVF):
            self._kind = _IVF
            self._nlist = int(index.nlist)
            quantised = isinstance(index, faiss.IndexIVFPQ | faiss.IndexIVFScalarQuantizer)
            if quantised and rerank_vectors is not None:
                self._rerank = as_matrix(rerank_vectors, self._dim)
                if self._rerank.shape[0] != self._ntotal:
                    raise ValueError(
                        f"rerank_vectors has {self._rerank.shape[0]} rows, index has {self._ntotal}"
                    )
                self._refine = DEFAULT_REFINE_K.get(spec.engine_type, 2.0)
        elif isinstance(index, faiss.IndexFlat):
            self._kind = _FLAT
            self._raw = _flat_view(index)
        else:
            raise StorageError(f"unsupported FAISS index class {type(index).__name__}")
        self._memory = _memory_bytes(index)

    @property
    def spec(self) -> IndexSpec:
        return self._spec

    @property
    def ntotal(self) -> int:
        return self._ntotal

    @property
    def memory_bytes(self) -> int:
        return self._memory

    @property
    def reranks(self) -> bool:
        """True when candidates are re-scored exactly against attached vectors."""
        return self._rerank is not None

    @property
    def nlist(self) -> int:
        """Lists actually trained (0 unless IVF); may be below the spec's nlist."""
        return self._nlist

    def search(
        self,
        queries: np.ndarray,
        k: int,
        params: SearchParams,
        allowed: np.ndarray | None = None,
    ) -> Result:
        if params.is_range:
            return self.range_search(queries, k, params, allowed)
        q = self._queries(queries)
        nq = q.shape[0]
        rows = row_filter(allowed, self._ntotal)
        if nq == 0 or k <= 0 or self._ntotal == 0 or (rows is not None and rows.allowed == 0):
            return empty_result(nq, max(k, 0), self._metric)
        if self._kind == _FLAT:
            if rows is not None:
                return self._exact(q, k, rows.mask)
            return self._complete(q, k, rows, self._knn(q, k, None))
        if self._kind == _HNSW:
            ef = params.hnsw_ef(k)
            if rows is not None and prefer_exact_scan(rows, self._degree, ef):
                return self._exact(q, k, rows.mask)
            ef = ef if rows is None else rows.scale(ef)
            return self._complete(q, k, rows, self._run(q, k, rows, ef, 0))
        nprobe = min(params.nprobe, self._nlist)
        nprobe = nprobe if rows is None else min(self._nlist, rows.scale(nprobe))
        if self._rerank is None:
            return self._complete(q, k, rows, self._run(q, k, rows, 0, nprobe))
        if rows is not None and nprobe == self._nlist:
            return exact_search(self._rerank, q, k, self._metric, rows.mask)
        factor = params.refine_k if params.refine_k is not None else self._refine
        wide = min(self._ntotal, max(k, int(np.ceil(k * factor))))
        found = self._complete(q, wide, rows, self._run(q, wide, rows, 0, nprobe))
        return self._rescore(q, k, found)

    def range_search(
        self,
        queries: np.ndarray,
        k: int,
        params: SearchParams,
        allowed: np.ndarray | None = None,
    ) -> Result:
        if params.radius is None:
            raise ValueError("range_search needs params.radius")
        q = self._queries(queries)
        nq = q.shape[0]
        rows = row_filter(allowed, self._ntotal)
        if nq == 0 or k <= 0 or self._ntotal == 0 or (rows is not None and rows.allowed == 0):
            return empty_result(nq, max(k, 0), self._metric)
        ef = params.hnsw_ef(k)
        exact = self._kind == _FLAT or (
            self._kind == _HNSW and rows is not None and prefer_exact_scan(rows, self._degree, ef)
        )
        if exact:
            mask = None if rows is None else rows.mask
            return exact_range_search(
                self._raw,
                q,
                k,
                self._internal,
                params.radius,
                params.range_filter,
                mask,
                norms=self._row_norms(),
            )
        nprobe = min(params.nprobe, self._nlist)
        if rows is not None:
            ef, nprobe = rows.scale(ef), min(self._nlist, rows.scale(nprobe))
        fparams, keep = self._faiss_params(rows, ef, nprobe)
        use_threads_for_queries(nq)
        radius = params.radius
        if self._mips:
            # IP > r  <=>  d < |q|^2 + max|x|^2 - 2r, a per-query bound: search with the
            # loosest one, then keep each query's own window.
            q_sq = np.einsum("ij,ij->i", q, q)
            radius = float(np.max(q_sq) + self._shift - 2.0 * params.radius)
        lims, dist, ids = self._index.range_search(q, radius, params=fparams)
        del keep
        lims = lims.astype(np.int64)
        if self._mips:
            qid = np.repeat(np.arange(nq, dtype=np.int64), np.diff(lims))
            dist = self._inner_products(q, dist, qid)
            lims, dist, ids = _keep_ranges(lims, dist, ids, dist > params.radius)
        if self._rerank is not None:
            lims, dist, ids = self._rescore_ranges(q, lims, ids, params.radius)
        return topk_from_ranges(lims, dist, ids, k, self._metric, params.range_filter)

    @property
    def max_norm_sq(self) -> float | None:
        """The augmentation norm of an IP HNSW index built in L2 space, else None."""
        return self._shift if self._mips else None

    def serialize(self) -> bytes:
        return pack_index(self._index, self.max_norm_sq)

    def _queries(self, queries: np.ndarray) -> np.ndarray:
        """Queries as the FAISS index sees them: unit length for COSINE, one 0 more for MIPS."""
        q = as_matrix(queries, self._dim)
        if self._normalize:
            return normalize_rows(q)
        if self._mips:
            padded = np.zeros((q.shape[0], self._dim + 1), dtype=np.float32)
            padded[:, : self._dim] = q
            return padded
        return q

    def _exact(self, q: np.ndarray, k: int, mask: np.ndarray | None) -> Result:
        """Exact top-k over the vectors a FLAT or HNSW index stores.

        A filtered scan first gathers the allowed rows.  Callers that search
        repeatedly with the same filter pass the very same mask object, so the
        gathered rows (and their norms) are kept for the last few masks and the
        scan becomes one matrix product over a contiguous block.
        """
        if mask is None:
            return exact_search(self._raw, q, k, self._internal, None, norms=self._row_norms())
        rows, block, norms = self._subset(mask)
        scores, local = exact_search(block, q, k, self._internal, None, norms=norms)
        return scores, np.where(local >= 0, rows[np.maximum(local, 0)], -1)

    def _subset(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        cache = self._subsets
        entry = cache.get(id(mask))
        if entry is not None and entry[0] is mask:
            return entry[1], entry[2], entry[3]
        rows = np.flatnonzero(mask)
        block = np.take(self._raw, rows, axis=0)
        all_norms = self._row_norms()
        norms = None if all_norms is None else all_norms[rows]
        if len(cache) >= _SUBSETS_KEPT:
            cache.pop(next(iter(cache)))
        cache[id(mask)] = (mask, rows, block, norms)
        return rows, block, norms

    def _row_norms(self) -> np.ndarray | None:
        """Norms of the stored rows for L2 scans (``n * 4`` bytes), computed on first use.

        COSINE rows are stored unit-length and IP needs no norms.  Two threads
        racing here only compute the same array twice.
        """
        if self._internal == L2 and self._norms is None:
            self._norms = np.sqrt(np.einsum("ij,ij->i", self._raw, self._raw))
        return self._norms

    def _knn(self, q: np.ndarray, k: int, fparams: Any) -> Result:
        nq = q.shape[0]
        scores = np.empty((nq, k), dtype=np.float32)
        ids = np.empty((nq, k), dtype=np.int64)
        use_threads_for_queries(nq)
        self._index.search_c(
            nq, faiss.swig_ptr(q), k, faiss.swig_ptr(scores), faiss.swig_ptr(ids), fparams
        )
        if self._mips:
            scores = self._inner_products(q, scores)
        return scores, ids

    def _inner_products(
        self, q: np.ndarray, dist: np.ndarray, qid: np.ndarray | None = None
    ) -> np.ndarray:
        """Augmented L2 distances back to inner products: ``(|q|^2 + max|x|^2 - d) / 2``.

        Exact up to float32 rounding of ``d`` (about 1e-7 of ``|q|^2 + max|x|^2``).
        """
        q_sq = np.einsum("ij,ij->i", q, q).astype(np.float64)
        q_sq = q_sq[:, None] if qid is None else q_sq[qid]
        return ((q_sq + self._shift - dist) * 0.5).astype(np.float32)

    def _run(self, q: np.ndarray, k: int, rows: RowFilter | None, ef: int, nprobe: int) -> Result:
        """An ANN search with the given effort, restricted to ``rows`` when filtered."""
        fparams, keep = self._faiss_params(rows, ef, nprobe)
        found = self._knn(q, k, fparams)
        del keep
        return found

    def _faiss_params(
        self, rows: RowFilter | None, ef: int, nprobe: int
    ) -> tuple[Any, tuple[object, ...]]:
        """SearchParameters for one call, and the objects that must outlive that call.

        Unfiltered parameters are cached per effort value: FAISS only reads
        them, so concurrent searches can share one.  Filtered calls get a fresh
        object because the selector differs per call.
        """
        if rows is None:
            effort = ef if self._kind == _HNSW else nprobe
            cached = self._params_cache.get(effort)
            if cached is not None:
                return cached, ()
        if self._kind == _HNSW:
            fparams = faiss.SearchParametersHNSW()
            fparams.efSearch = ef
        else:
            fparams = faiss.SearchParametersIVF()
            fparams.nprobe = nprobe
        if rows is None:
            if len(self._params_cache) < _PARAMS_CACHE_SIZE:
                self._params_cache[effort] = fparams
            return fparams, ()
        selector, bits = rows.selector()
        fparams.sel = selector
        return fparams, (selector, bits)

    def _rescore(self, q: np.ndarray, k: int, found: Result) -> Result:
        """Exact scores for the candidates in ``found``, then the best ``k`` of them."""
        assert self._rerank is not None
        _, ids = found
        width = max(1, ids.shape[1])
        step = max(1, RERANK_BLOCK_ELEMENTS // (width * self._dim))
        scores, out_ids = empty_result(q.shape[0], k, self._metric)
        for start in range(0, q.shape[0], step):
            block = ids[start : start + step]
            valid = block >= 0
            qid = np.nonzero(valid)[0]
            exact = np.full(block.shape, np.nan, dtype=np.float32)
            exact[valid] = rescore_pairs(
                self._rerank, q[start : start + step], qid, block[valid], self._metric
            )
            picked = merge_topk([(exact, block)], k, self._metric)
            scores[start : start + step], out_ids[start : start + step] = picked
        return scores, out_ids

    def _rescore_ranges(
        self, q: np.ndarray, lims: np.ndarray, ids: np.ndarray, radius: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Range results re-scored exactly and re-checked against ``radius``."""
        assert self._rerank is not None
        nq = q.shape[0]
        qid = np.repeat(np.arange(nq, dtype=np.int64), np.diff(lims))
        exact = rescore_pairs(self._rerank, q, qid, ids, self._metric)
        keep = exact > radius if self._internal != L2 else exact < radius
        return _keep_ranges(lims, exact, ids, keep)

    def _complete(self, q: np.ndarray, k: int, rows: RowFilter | None, found: Result) -> Result:
        """Pad FAISS's short rows our way and re-run exhaustively those the walk left short.

        FAISS puts missing entries at the end of a row as id -1 with +-FLT_MAX;
        checking one column is enough to know whether anything is missing.
        """
        scores, ids = found
        available = min(k, self._ntotal if rows is None else rows.allowed)
        last = ids[:, available - 1]
        if available == k and _all_non_negative(last):
            return found
        scores[ids < 0] = np.inf if self._internal == L2 else -np.inf
        short = np.flatnonzero(last < 0)
        if short.size == 0 or self._kind == _FLAT:
            return found
        if self._kind == _HNSW:
            mask = None if rows is None else rows.mask
            redo = self._exact(q[short], k, mask)
        else:
            redo = self._run(q[short], k, rows, 0, self._nlist)
        scores[short], ids[short] = redo
        return scores, ids


def _keep_ranges(
    lims: np.ndarray, scores: np.ndarray, ids: np.ndarray, keep: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Range results (FAISS's flat layout) with only the ``keep`` entries left."""
    nq = lims.shape[0] - 1
    qid = np.repeat(np.arange(nq, dtype=np.int64), np.diff(lims))
    counts = np.bincount(qid[keep], minlength=nq)
    new_lims = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return new_lims, scores[keep], ids[keep]


def _all_non_negative(column: np.ndarray) -> bool:
    """``(column >= 0).all()``, minus NumPy's per-call overhead for the usual tiny column."""
    if column.size <= 32:
        return min(column.tolist(), default=0) >= 0
    return bool((column >= 0).all())


def _flat_view(flat: Any) -> np.ndarray:
    """The vectors a flat index stores, as a read-only view (no copy)."""
    n, d = int(flat.ntotal), int(flat.d)
    if n == 0:
        return np.empty((0, d), dtype=np.float32)
    view = faiss.rev_swig_ptr(flat.get_xb(), n * d).reshape(n, d)
    view.flags.writeable = False
    return view


def _memory_bytes(index: Any) -> int:
    if isinstance(index, faiss.IndexHNSW):
        graph = index.hnsw
        storage = faiss.downcast_index(index.storage)
        return int(
            storage.ntotal * storage.code_size
            + graph.neighbors.size() * 4
            + graph.levels.size() * 4
            + graph.offsets.size() * 8
        )
    if isinstance(index, faiss.IndexIVF):
        quantizer = faiss.downcast_index(index.quantizer)
        total = index.ntotal * (index.code_size + 8) + quantizer.ntotal * quantizer.code_size
        if isinstance(index, faiss.IndexIVFPQ):
            total += index.pq.M * index.pq.ksub * index.pq.dsub * 4
        if isinstance(index, faiss.IndexIVFScalarQuantizer):
            total += index.sq.trained.size() * 4
        return int(total)
    return int(index.ntotal * index.code_size)
