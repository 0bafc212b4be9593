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

Refining types (HNSW_SQ/PQ/PRQ and IVF_RABITQ with ``refine``, SCANN with
``with_raw_data``) are FAISS ``IndexRefine`` objects: the base index proposes
``refine_k * k`` candidates (SCANN: ``reorder_k``) and the stored refine copy
re-scores them, as knowhere does; ``rbq_bits_query`` sets RaBitQ's query
quantisation (``qb``).  Types whose FAISS structure has no range search
(refined and fast-scan indexes) answer range searches exactly from the
segment's vectors when they are attached.  Quantised HNSW types scan the
attached vectors exactly under selective filters, as FLAT/HNSW scan theirs.

Every search returns ``k`` results when ``k`` allowed rows exist: a query the
ANN walk leaves short (HNSW on a tiny or heavily filtered segment, IVF whose
probed lists hold too few rows) is re-run exhaustively, as knowhere's HNSW
falls back to brute force.  Filtered search is described in
:mod:`sluice.index.filtering`; threads in :mod:`sluice.index.threads`.
"""

from __future__ import annotations

import threading
from typing import Any, Final

import faiss as _faiss_typed
import numpy as np

from sluice.errors import StorageError
from sluice.index.exact import as_matrix, exact_range_search, exact_search, rescore_pairs
from sluice.index.faiss_storage import flat_view, memory_bytes
from sluice.index.filtering import AllowedRows, allowed_rows, prefer_exact_scan
from sluice.index.format import pack_index
from sluice.index.metrics import COSINE, L2, internal_metric, larger_is_better, normalize_rows
from sluice.index.search_params import SearchParams
from sluice.index.spec import IndexSpec
from sluice.index.threads import use_threads_for_queries
from sluice.index.topk import Result, empty_result, merge_topk, topk_from_ranges
from sluice.schema import DataType

#: FAISS's bundled stubs cover only part of its SWIG API (no ``search_c``,
#: ``SearchParametersHNSW``, HNSW internals), so this module goes through an
#: untyped handle; the public surface below is fully typed.
faiss: Any = _faiss_typed

#: Candidates re-scored per result when re-rank vectors are attached.
DEFAULT_REFINE_K: Final = {"IVF_SQ8": 2.0, "IVF_PQ": 4.0}
#: Types whose attached vectors re-rank every search (a Sluice choice, see above).
_RERANKED_TYPES: Final = frozenset(DEFAULT_REFINE_K)
#: Re-rank at most this many floats (``queries * candidates * dim``) at once: 16 MiB.
RERANK_BLOCK_ELEMENTS: Final = 1 << 22
_PARAMS_CACHE_SIZE: Final = 64
#: Candidates a range search takes from an index FAISS cannot range-search.
_RANGE_FALLBACK_K: Final = 1024

#: (refine factor, RaBitQ query bits) of one search.
Tuning = tuple[float, int]
_FLAT, _HNSW, _IVF = "flat", "hnsw", "ivf"


#: Filter masks whose gathered rows a FLAT/HNSW index keeps for exact scans.
_SUBSETS_KEPT = 4


class FaissIndex:
    """A :class:`~sluice.index.base.VectorIndex` over one FAISS index."""

    __slots__ = (
        "_base",
        "_degree",
        "_dim",
        "_exact_rows",
        "_index",
        "_internal",
        "_kind",
        "_mapped",
        "_memory",
        "_metric",
        "_mips",
        "_nlist",
        "_normalize",
        "_norms",
        "_ntotal",
        "_params_cache",
        "_rabitq",
        "_raw",
        "_refine",
        "_refined",
        "_rerank",
        "_shift",
        "_spec",
        "_subsets",
        "_subsets_lock",
    )

    def __init__(
        self,
        spec: IndexSpec,
        index: Any,
        rerank_vectors: np.ndarray | None = None,
        *,
        max_norm_sq: float | None = None,
        mapped: bool = False,
    ) -> None:
        """Wrap a built or loaded FAISS index; use :func:`build` or :func:`load_index`.

        ``max_norm_sq`` marks an IP HNSW index built in L2 space over rows
        augmented to that squared norm; ``mapped`` one FAISS memory-mapped
        from its file (:func:`~sluice.index.building.load_mapped_index`).
        """
        self._spec = spec
        self._mapped = mapped
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
        self._params_cache: dict[tuple[int, Tuning], tuple[Any, tuple[object, ...]]] = {}
        self._norms: np.ndarray | None = None
        #: Gathered rows of recently used filter masks (see :meth:`_exact`).
        self._subsets: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]] = {}
        #: Searches run in many threads: evicting and adding subsets is one step under it.
        self._subsets_lock = threading.Lock()
        self._refined = isinstance(index, faiss.IndexRefine)
        base = faiss.downcast_index(index.base_index) if self._refined else index
        self._base = base
        self._rabitq = isinstance(base, faiss.IndexIVFRaBitQ)
        exact = None if rerank_vectors is None else as_matrix(rerank_vectors, self._dim)
        if exact is not None and exact.shape[0] != self._ntotal:
            raise ValueError(f"rerank_vectors has {exact.shape[0]} rows, index has {self._ntotal}")
        self._exact_rows: np.ndarray | None = None
        if isinstance(base, faiss.IndexHNSW):
            self._kind = _HNSW
            self._degree = int(base.hnsw.nb_neighbors(0))
            storage = faiss.downcast_index(base.storage)
            if isinstance(storage, faiss.IndexFlat) and not self._refined:
                self._raw = flat_view(storage, index)
            else:
                self._exact_rows = exact
        elif isinstance(base, faiss.IndexIVF):
            self._kind = _IVF
            self._nlist = int(base.nlist)
            self._exact_rows = exact
            if spec.engine_type in _RERANKED_TYPES and exact is not None:
                self._rerank = exact
                self._refine = DEFAULT_REFINE_K[spec.engine_type]
        elif isinstance(base, faiss.IndexFlat):
            self._kind = _FLAT
            self._raw = flat_view(base, index)
        else:
            raise StorageError(f"unsupported FAISS index class {type(base).__name__}")
        self._memory = memory_bytes(index)

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
    def mapped(self) -> bool:
        """True when FAISS serves this index from a memory-mapped file."""
        return self._mapped

    def stored_vectors(self) -> np.ndarray | None:
        """The segment's own vectors when the index stores them unchanged, else ``None``.

        FLAT and HNSW keep every row's float32 vector as given (not for
        COSINE, stored normalised, nor IP HNSW, stored augmented), so the
        segment can read its raw vectors from here instead of holding a
        second copy, as Milvus does for indexes with raw data.  The array
        keeps the FAISS index alive (and mapped) while it is referenced.
        """
        if (
            self._kind == _IVF
            or self._refined
            or self._normalize
            or self._mips
            or self._spec.data_type != DataType.FLOAT_VECTOR
            or self._raw.shape != (self._ntotal, self._dim)
        ):
            return None
        return self._raw

    def attach_vectors(self, vectors: np.ndarray) -> None:
        """Point re-ranking and exact scans at ``vectors``, equal to those attached before.

        Used when the segment's vectors move (into a memory map, or back),
        so the index does not keep the old copy alive.
        """
        if self._exact_rows is None and self._rerank is None:
            return
        exact = as_matrix(vectors, self._dim)
        if exact.shape[0] != self._ntotal:
            raise ValueError(f"vectors have {exact.shape[0]} rows, index has {self._ntotal}")
        if self._exact_rows is not None:
            self._exact_rows = exact
        if self._rerank is not None:
            self._rerank = exact

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
        rows = allowed_rows(allowed, self._ntotal)
        if nq == 0 or k <= 0 or self._ntotal == 0 or (rows is not None and rows.allowed == 0):
            return empty_result(nq, max(k, 0), self._metric)
        tuning = self._tuning(params, k)
        if self._kind == _FLAT:
            if rows is not None:
                return self._exact(q, k, rows.mask)
            return self._complete(q, k, rows, self._knn(q, k, None), tuning)
        if self._kind == _HNSW:
            ef = params.hnsw_ef(k)
            if rows is not None and self._can_scan() and prefer_exact_scan(rows, self._degree, ef):
                return self._exact(q, k, rows.mask)
            ef = ef if rows is None else rows.scale(ef)
            return self._complete(q, k, rows, self._run(q, k, rows, ef, 0, tuning), tuning)
        nprobe = min(params.nprobe, self._nlist)
        nprobe = nprobe if rows is None else min(self._nlist, rows.scale(nprobe))
        if self._rerank is None:
            return self._complete(q, k, rows, self._run(q, k, rows, 0, nprobe, tuning), tuning)
        if rows is not None and nprobe == self._nlist:
            return exact_search(self._rerank, q, k, self._metric, rows.mask)
        factor = params.refine_k if params.refine_k is not None else self._refine
        wide = min(self._ntotal, max(k, int(np.ceil(k * factor))))
        found = self._complete(q, wide, rows, self._run(q, wide, rows, 0, nprobe, tuning), tuning)
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
        rows = allowed_rows(allowed, self._ntotal)
        if nq == 0 or k <= 0 or self._ntotal == 0 or (rows is not None and rows.allowed == 0):
            return empty_result(nq, max(k, 0), self._metric)
        ef = params.hnsw_ef(k)
        mask = None if rows is None else rows.mask
        exact = self._kind == _FLAT or (
            self._kind == _HNSW
            and rows is not None
            and self._raw.shape[0] > 0
            and prefer_exact_scan(rows, self._degree, ef)
        )
        if exact:
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
        if not self._ranges_natively() and self._exact_rows is not None:
            return exact_range_search(
                self._exact_rows,
                q[:, : self._dim],
                k,
                self._metric,
                params.radius,
                params.range_filter,
                mask,
            )
        nprobe = min(params.nprobe, self._nlist)
        if rows is not None:
            ef, nprobe = rows.scale(ef), min(self._nlist, rows.scale(nprobe))
        tuning = self._tuning(params, k)
        if not self._ranges_natively():
            # No range search in FAISS for this structure and no vectors to scan:
            # take a wide top-k and keep its part inside the window.
            wide = min(self._ntotal, max(k, _RANGE_FALLBACK_K))
            found = self._run(q, wide, rows, max(ef, wide), nprobe, tuning)
            scores, ids = found
            inside = ids >= 0
            if larger_is_better(self._metric):
                inside &= scores > params.radius
            else:
                inside &= scores < params.radius
            lims = np.concatenate([[0], np.cumsum(inside.sum(axis=1))]).astype(np.int64)
            return topk_from_ranges(
                lims, scores[inside], ids[inside], k, self._metric, params.range_filter
            )
        fparams, keep = self._faiss_params(rows, ef, nprobe, tuning)
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
            padded = np.zeros((q.shape[0], int(self._index.d)), dtype=np.float32)
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
        if self._raw.shape[0] == 0 and self._exact_rows is not None:
            # The attached vectors are the raw ones: drop any MIPS padding of the query.
            return exact_search(self._exact_rows, q[:, : self._dim], k, self._metric, mask)
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
        with self._subsets_lock:
            # Unlocked, two searches could evict the same oldest entry (a KeyError seen
            # under concurrent filtered searches) or iterate while another one adds.
            while len(cache) >= _SUBSETS_KEPT:
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

    def _run(
        self, q: np.ndarray, k: int, rows: AllowedRows | None, ef: int, nprobe: int, tuning: Tuning
    ) -> Result:
        """An ANN search with the given effort, restricted to ``rows`` when filtered."""
        fparams, keep = self._faiss_params(rows, ef, nprobe, tuning)
        found = self._knn(q, k, fparams)
        del keep
        return found

    def _tuning(self, params: SearchParams, k: int) -> Tuning:
        """Refine factor (``refine_k``, or SCANN's ``reorder_k / k``) and RaBitQ query bits."""
        factor = 1.0
        if self._refined:
            if params.reorder_k is not None:
                factor = params.reorder_k / max(k, 1)
            elif params.refine_k is not None and self._rerank is None:
                factor = params.refine_k
        return (max(factor, 1.0), params.rbq_bits_query)

    def _can_scan(self) -> bool:
        """True when a filtered search can scan vectors exactly instead of walking the graph."""
        return self._raw.shape[0] > 0 or self._exact_rows is not None

    def _ranges_natively(self) -> bool:
        """FAISS has no range search for refined, fast-scan or RaBitQ structures."""
        return not (
            self._refined or self._rabitq or isinstance(self._base, faiss.IndexIVFPQFastScan)
        )

    def _faiss_params(
        self, rows: AllowedRows | None, ef: int, nprobe: int, tuning: Tuning
    ) -> tuple[Any, tuple[object, ...]]:
        """SearchParameters for one call, and the objects that must outlive that call.

        Unfiltered parameters are cached per (effort, tuning): FAISS only reads
        them, so concurrent searches can share one.  Filtered calls get a fresh
        object because the selector differs per call.
        """
        effort = ef if self._kind == _HNSW else nprobe
        cache_key = (effort, tuning)
        if rows is None:
            cached = self._params_cache.get(cache_key)
            if cached is not None:
                return cached
        if self._kind == _HNSW:
            base = faiss.SearchParametersHNSW()
            base.efSearch = ef
        elif self._rabitq:
            base = faiss.IVFRaBitQSearchParameters()
            base.nprobe = nprobe
            base.qb = tuning[1]
        else:
            base = faiss.SearchParametersIVF()
            base.nprobe = nprobe
        keep: tuple[object, ...] = (base,)
        if rows is not None:
            selector, bits = rows.selector()
            base.sel = selector
            keep += (selector, bits)
        fparams = base
        if self._refined:
            fparams = faiss.IndexRefineSearchParameters()
            fparams.k_factor = float(tuning[0])
            fparams.base_index_params = base
        if rows is None and len(self._params_cache) < _PARAMS_CACHE_SIZE:
            self._params_cache[cache_key] = (fparams, keep)
        return fparams, keep

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

    def _complete(
        self, q: np.ndarray, k: int, rows: AllowedRows | None, found: Result, tuning: Tuning
    ) -> Result:
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
        if self._kind == _HNSW and self._can_scan():
            mask = None if rows is None else rows.mask
            redo = self._exact(q[short], k, mask)
        elif self._kind == _HNSW:
            redo = self._run(q[short], k, rows, self._ntotal, 0, tuning)
        else:
            redo = self._run(q[short], k, rows, 0, self._nlist, tuning)
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
