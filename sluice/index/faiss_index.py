"""FAISS-backed indexes for every supported type, with Milvus's search semantics.

========  ==========================================  ==============================
Type      FAISS structure                             Notes
========  ==========================================  ==============================
FLAT      ``IndexFlat``                               exact
HNSW      ``IndexHNSWFlat(M)``, ``efConstruction``    AUTOINDEX builds this too
IVF_FLAT  ``IndexIVFFlat`` over a flat quantizer
IVF_SQ8   ``IndexIVFScalarQuantizer(QT_8bit)``
IVF_PQ    ``IndexIVFPQ(m, nbits)``
========  ==========================================  ==============================

L2 indexes use ``METRIC_L2`` (FAISS returns squared distances, Milvus's
convention).  IP uses ``METRIC_INNER_PRODUCT``; COSINE stores unit vectors in
an inner-product index and normalises each query, so inner products are
cosine similarities.  Rows are added in order, so FAISS ids are row offsets.

Small segments: IVF types train k-means on the segment itself, and FAISS wants
at least 39 rows per list, so ``nlist`` is reduced to ``max(1, n // 39)`` when
the segment is smaller than ``39 * nlist`` rows (Milvus avoids the question by
not indexing segments under 1024 rows).  IVF_PQ needs ``2 ** nbits`` rows to
train its codebooks; a smaller segment, and any empty segment, is stored as a
FLAT index instead: exact, and tiny at that size.  The spec still says what
was asked for.

Every search returns ``k`` results when ``k`` allowed rows exist: a query the
ANN walk leaves short (HNSW on a tiny or heavily filtered segment, IVF whose
probed lists hold too few rows) is re-run exhaustively, as knowhere's HNSW
falls back to brute force.  Filtered search is described in
:mod:`sluice.index.filtering`; threads in :mod:`sluice.index.threads`.

Serialised form: ``b"SLIX"``, a format version byte, then
``faiss.serialize_index`` output.
"""

from __future__ import annotations

from typing import Any, Final

import faiss as _faiss_typed
import numpy as np

from sluice.errors import StorageError
from sluice.index.exact import as_matrix, exact_range_search, exact_search
from sluice.index.filtering import RowFilter, prefer_exact_scan, row_filter
from sluice.index.metrics import COSINE, L2, internal_metric, normalize_rows
from sluice.index.search_params import SearchParams
from sluice.index.spec import (
    FlatParams,
    HnswParams,
    IndexSpec,
    IvfFlatParams,
    IvfPqParams,
    IvfSq8Params,
)
from sluice.index.threads import use_build_threads, use_threads_for_queries
from sluice.index.topk import Result, empty_result, topk_from_ranges

#: FAISS's bundled stubs cover only part of its SWIG API (no ``search_c``,
#: ``SearchParametersHNSW``, HNSW internals), so this module goes through an
#: untyped handle; the public surface below is fully typed.
faiss: Any = _faiss_typed

MIN_ROWS_PER_LIST: Final = 39
_HEADER: Final = b"SLIX\x01"
_FLAT, _HNSW, _IVF = "flat", "hnsw", "ivf"


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
        "_nlist",
        "_normalize",
        "_ntotal",
        "_raw",
        "_spec",
    )

    def __init__(self, spec: IndexSpec, index: Any) -> None:
        self._spec = spec
        self._index = index
        self._metric = spec.metric_type
        self._internal = internal_metric(spec.metric_type)
        self._normalize = spec.metric_type == COSINE
        self._ntotal = int(index.ntotal)
        self._dim = int(index.d)
        self._nlist = 0
        self._degree = 0
        self._raw = np.empty((0, self._dim), dtype=np.float32)
        if isinstance(index, faiss.IndexHNSW):
            self._kind = _HNSW
            self._degree = int(index.hnsw.nb_neighbors(0))
            self._raw = _flat_view(faiss.downcast_index(index.storage))
        elif isinstance(index, faiss.IndexIVF):
            self._kind = _IVF
            self._nlist = int(index.nlist)
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
                return exact_search(self._raw, q, k, self._internal, rows.mask)
            return self._knn(q, k, None)
        if self._kind == _HNSW:
            ef = params.hnsw_ef(k)
            if rows is not None and prefer_exact_scan(rows, self._degree, ef):
                return exact_search(self._raw, q, k, self._internal, rows.mask)
            ef = ef if rows is None else rows.scale(ef)
            return self._complete(q, k, rows, self._run(q, k, rows, ef, 0))
        nprobe = min(params.nprobe, self._nlist)
        nprobe = nprobe if rows is None else min(self._nlist, rows.scale(nprobe))
        return self._complete(q, k, rows, self._run(q, k, rows, 0, nprobe))

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
                self._raw, q, k, self._internal, params.radius, params.range_filter, mask
            )
        nprobe = min(params.nprobe, self._nlist)
        if rows is not None:
            ef, nprobe = rows.scale(ef), min(self._nlist, rows.scale(nprobe))
        fparams, keep = self._faiss_params(rows, ef, nprobe)
        use_threads_for_queries(nq)
        lims, dist, ids = self._index.range_search(q, params.radius, params=fparams)
        del keep
        return topk_from_ranges(lims, dist, ids, k, self._metric, params.range_filter)

    def serialize(self) -> bytes:
        return _HEADER + faiss.serialize_index(self._index).tobytes()

    def _queries(self, queries: np.ndarray) -> np.ndarray:
        q = as_matrix(queries, self._dim)
        return normalize_rows(q) if self._normalize else q

    def _knn(self, q: np.ndarray, k: int, fparams: Any) -> Result:
        nq = q.shape[0]
        scores = np.empty((nq, k), dtype=np.float32)
        ids = np.empty((nq, k), dtype=np.int64)
        use_threads_for_queries(nq)
        self._index.search_c(
            nq, faiss.swig_ptr(q), k, faiss.swig_ptr(scores), faiss.swig_ptr(ids), fparams
        )
        missing = ids < 0
        if missing.any():
            scores[missing] = np.inf if self._internal == L2 else -np.inf
        return scores, ids

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

        A fresh object per call keeps concurrent searches from sharing state.
        """
        if self._kind == _HNSW:
            fparams = faiss.SearchParametersHNSW()
            fparams.efSearch = ef
        else:
            fparams = faiss.SearchParametersIVF()
            fparams.nprobe = nprobe
        if rows is None:
            return fparams, ()
        selector, bits = rows.selector()
        fparams.sel = selector
        return fparams, (selector, bits)

    def _complete(self, q: np.ndarray, k: int, rows: RowFilter | None, found: Result) -> Result:
        """Re-run exhaustively the queries the ANN walk left short of results."""
        scores, ids = found
        available = min(k, self._ntotal if rows is None else rows.allowed)
        short = np.flatnonzero(ids[:, available - 1] < 0)
        if short.size == 0:
            return found
        if self._kind == _HNSW:
            mask = None if rows is None else rows.mask
            redo = exact_search(self._raw, q[short], k, self._internal, mask)
        else:
            redo = self._run(q[short], k, rows, 0, self._nlist)
        scores[short], ids[short] = redo
        return scores, ids


def build(spec: IndexSpec, vectors: np.ndarray) -> FaissIndex:
    """Train (IVF types) and fill an index over ``vectors`` (``(n, spec.dim)``)."""
    data = np.asarray(vectors, dtype=np.float32)
    x = np.empty((0, spec.dim), dtype=np.float32) if data.size == 0 else as_matrix(data, spec.dim)
    if spec.metric_type == COSINE:
        x = normalize_rows(x)
    use_build_threads()
    index = _new_index(spec, x.shape[0])
    if not index.is_trained:
        index.train(x)
    if x.shape[0]:
        index.add(x)
    return FaissIndex(spec, index)


def load_index(spec: IndexSpec, data: bytes) -> FaissIndex:
    """Rebuild an index from :meth:`FaissIndex.serialize` output."""
    view = memoryview(data)
    if bytes(view[: len(_HEADER)]) != _HEADER:
        raise StorageError("index data does not start with the Sluice index header")
    try:
        index = faiss.deserialize_index(np.frombuffer(view[len(_HEADER) :], dtype=np.uint8))
    except RuntimeError as err:
        raise StorageError(f"index data is corrupt: {err}") from err
    expected_metric = (
        faiss.METRIC_L2 if internal_metric(spec.metric_type) == L2 else (faiss.METRIC_INNER_PRODUCT)
    )
    if int(index.d) != spec.dim or int(index.metric_type) != expected_metric:
        raise StorageError(
            f"index data (dim {index.d}, FAISS metric {index.metric_type}) does not match "
            f"its spec (dim {spec.dim}, {spec.metric_type})"
        )
    return FaissIndex(spec, index)


def effective_nlist(nlist: int, rows: int) -> int:
    """The list count an IVF index trains on ``rows`` rows (see module docstring)."""
    return max(1, min(nlist, rows // MIN_ROWS_PER_LIST))


def _new_index(spec: IndexSpec, rows: int) -> Any:
    d = spec.dim
    metric = (
        faiss.METRIC_L2 if internal_metric(spec.metric_type) == L2 else (faiss.METRIC_INNER_PRODUCT)
    )
    params = spec.build
    if isinstance(params, HnswParams):
        hnsw = faiss.IndexHNSWFlat(d, params.M, metric)
        hnsw.hnsw.efConstruction = params.ef_construction
        return hnsw
    if isinstance(params, FlatParams) or rows == 0:
        return faiss.IndexFlat(d, metric)
    if isinstance(params, IvfPqParams) and rows < (1 << params.nbits):
        return faiss.IndexFlat(d, metric)
    nlist = effective_nlist(params.nlist, rows)
    quantizer = faiss.IndexFlat(d, metric)
    if isinstance(params, IvfFlatParams):
        return faiss.IndexIVFFlat(quantizer, d, nlist, metric)
    if isinstance(params, IvfSq8Params):
        return faiss.IndexIVFScalarQuantizer(
            quantizer, d, nlist, faiss.ScalarQuantizer.QT_8bit, metric
        )
    return faiss.IndexIVFPQ(quantizer, d, nlist, params.m, params.nbits, metric)


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
