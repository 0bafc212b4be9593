"""BIN_FLAT and BIN_IVF_FLAT over packed binary vectors, with Milvus's four binary metrics.

Distances (see :mod:`sluice.index.metrics`) are computed by FAISS's Hamming
kernels: ``IndexBinaryFlat`` answers BIN_FLAT/HAMMING searches directly
(with a bitmap selector when filtered), and ``faiss.hammings`` gives the
Hamming distance of a query to any block of rows, from which JACCARD follows
exactly with per-row popcounts: ``|a & b| = (|a| + |b| - h) / 2`` and
``|a | b| = (|a| + |b| + h) / 2``.  FAISS's binary indexes compute only
Hamming, so JACCARD never goes through their top-k.  SUBSTRUCTURE and
SUPERSTRUCTURE (BIN_FLAT only) are byte-wise subset tests.

BIN_IVF_FLAT trains FAISS's binary k-means (``IndexBinaryIVF.train``) and
keeps the lists itself: the row ids grouped by list, and the codes in row
order.  A query probes the ``nprobe`` nearest centroids by Hamming distance
and scores the rows of those lists with the requested metric (knowhere's
JACCARD IVF assigns lists by Jaccard distance to the centroids; Sluice uses
Hamming for both, so JACCARD probes can differ slightly).  Lists are kept
here because ``IndexBinaryIVF`` refuses ID selectors, so filtered searches
could not use it.  When the probed lists hold fewer than ``k`` allowed rows
the query scans every list, as the dense IVF indexes do.  Small segments
train ``max(1, n // 39)`` lists.

Memory: the codes (``n * dim / 8`` bytes) once, 4 bytes a row of popcounts
for JACCARD, and for IVF 8 bytes a row of list order plus the centroids.
"""

from __future__ import annotations

from typing import Any, Final

import faiss as _faiss_typed
import numpy as np

from sluice.errors import StorageError
from sluice.index.filtering import allowed_rows
from sluice.index.format import BINARY, pack_arrays, unpack_arrays
from sluice.index.kinds import binary_codes
from sluice.index.metrics import HAMMING, JACCARD, SUBSTRUCTURE, SUPERSTRUCTURE
from sluice.index.params import BinIvfFlatParams
from sluice.index.search_params import SearchParams
from sluice.index.spec import IndexSpec
from sluice.index.threads import (
    scan_blocks,
    thread_settings,
    use_build_threads,
    use_threads_for_queries,
)
from sluice.index.topk import Result, empty_result

faiss: Any = _faiss_typed

#: FAISS warns below 39 training rows per k-means centroid.
MIN_ROWS_PER_LIST: Final = 39
#: Rows scored per ``faiss.hammings`` call: bounds the ``(1, rows)`` distance block.
SCORE_BLOCK_ROWS: Final = 1 << 20
#: A few queries over at least twice this many rows scan in blocks on every core.
PARALLEL_BLOCK_ROWS: Final = 100_000


class BinaryIndex:
    """A :class:`~sluice.index.base.VectorIndex` over one segment's binary codes."""

    __slots__ = (
        "_centroids",
        "_codes",
        "_flat",
        "_offsets",
        "_order",
        "_popcounts",
        "_quantizer",
        "_spec",
    )

    def __init__(
        self,
        spec: IndexSpec,
        codes: np.ndarray,
        centroids: np.ndarray | None = None,
        offsets: np.ndarray | None = None,
        order: np.ndarray | None = None,
    ) -> None:
        """Wrap built structures; use :func:`build_binary` or :func:`sluice.index.load_index`."""
        self._spec = spec
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        self._flat = faiss.IndexBinaryFlat(spec.dim)
        self._codes = codes
        if codes.shape[0]:
            self._flat.add(codes)
            # Read the rows back from FAISS's own copy, so they are held once.
            view = faiss.rev_swig_ptr(self._flat.xb.data(), codes.size).reshape(codes.shape)
            view.flags.writeable = False
            self._codes = view
        self._popcounts = np.bitwise_count(self._codes).sum(axis=1, dtype=np.int32)
        self._centroids = centroids
        self._offsets = offsets
        self._order = order
        self._quantizer: Any = None
        if centroids is not None:
            self._quantizer = faiss.IndexBinaryFlat(spec.dim)
            self._quantizer.add(np.ascontiguousarray(centroids, dtype=np.uint8))

    @property
    def spec(self) -> IndexSpec:
        return self._spec

    @property
    def ntotal(self) -> int:
        return int(self._codes.shape[0])

    @property
    def memory_bytes(self) -> int:
        total = self._codes.nbytes + self._popcounts.nbytes
        if self._order is not None and self._centroids is not None:
            total += self._order.nbytes + self._centroids.nbytes
        return int(total)

    @property
    def nlist(self) -> int:
        """Lists trained (0 for BIN_FLAT or a segment too small to train)."""
        return 0 if self._centroids is None else int(self._centroids.shape[0])

    def search(
        self, queries: np.ndarray, k: int, params: SearchParams, allowed: np.ndarray | None = None
    ) -> Result:
        if params.is_range:
            return self.range_search(queries, k, params, allowed)
        return self._run(queries, k, params, allowed, ranged=False)

    def range_search(
        self, queries: np.ndarray, k: int, params: SearchParams, allowed: np.ndarray | None = None
    ) -> Result:
        if params.radius is None:
            raise ValueError("range_search needs params.radius")
        return self._run(queries, k, params, allowed, ranged=True)

    def serialize(self) -> bytes:
        if self._centroids is None or self._offsets is None or self._order is None:
            return pack_arrays(BINARY, [self._codes])
        return pack_arrays(BINARY, [self._codes, self._centroids, self._offsets, self._order])

    def _run(
        self,
        queries: np.ndarray,
        k: int,
        params: SearchParams,
        allowed: np.ndarray | None,
        *,
        ranged: bool,
    ) -> Result:
        q = binary_codes(queries, self._spec.dim)
        nq, n = q.shape[0], self.ntotal
        rows = allowed_rows(allowed, n)
        metric = params.metric_type
        if nq == 0 or k <= 0 or n == 0 or (rows is not None and rows.allowed == 0):
            return empty_result(nq, max(k, 0), metric)
        mask = None if rows is None else rows.mask
        if metric == HAMMING and self._quantizer is None and not ranged:
            return self._faiss_hamming(q, k, rows)
        scores, ids = empty_result(nq, k, metric)
        probes = self._probes(q, params.nprobe) if self._quantizer is not None else None
        for i in range(nq):
            candidates = self._candidates(None if probes is None else probes[i], mask, k)
            dist, cand = self._score(q[i], candidates, metric, k)
            if ranged:
                assert params.radius is not None
                inside = dist < params.radius
                if params.range_filter is not None:
                    inside &= dist >= params.range_filter
                dist, cand = dist[inside], cand[inside]
            best_d, best_i = _smallest(dist, cand, k)
            scores[i, : best_d.size], ids[i, : best_i.size] = best_d, best_i
        return scores, ids

    def _faiss_hamming(self, q: np.ndarray, k: int, rows: Any) -> Result:
        nq = q.shape[0]
        if rows is None and nq < thread_settings().batch_min_queries:
            return self._blocked_hamming(q, k)
        dist = np.empty((nq, k), dtype=np.int32)
        ids = np.empty((nq, k), dtype=np.int64)
        use_threads_for_queries(nq)
        params: Any = None
        keep: tuple[object, ...] = ()
        if rows is not None:
            selector, bits = rows.selector()
            params = faiss.SearchParameters()
            params.sel = selector
            keep = (selector, bits)
        self._flat.search_c(
            nq, faiss.swig_ptr(q), k, faiss.swig_ptr(dist), faiss.swig_ptr(ids), params
        )
        del keep
        scores = dist.astype(np.float32)
        scores[ids < 0] = np.inf
        return scores, ids

    def _blocked_hamming(self, q: np.ndarray, k: int) -> Result:
        """A few unfiltered queries: FAISS's Hamming top-k per block of rows, merged.

        One core cannot saturate memory while popcounting a large segment, so
        the rows are cut into one block per core (:func:`scan_blocks`).  Each
        block's heap keeps the first rows among equal distances, and the merge
        orders by (distance, row), so the answer equals one scan's.
        """
        nq, nbytes = q.shape[0], q.shape[1]
        codes = self._codes

        def block(start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
            dist = np.empty((nq, k), dtype=np.int32)
            ids = np.empty((nq, k), dtype=np.int64)
            heaps = faiss.int_maxheap_array_t()
            heaps.nh, heaps.k = nq, k
            heaps.val, heaps.ids = faiss.swig_ptr(dist), faiss.swig_ptr(ids)
            faiss.hammings_knn_hc(
                heaps,
                faiss.swig_ptr(q),
                faiss.swig_ptr(codes[start:stop]),
                stop - start,
                nbytes,
                1,
            )
            return dist, np.where(ids >= 0, ids + start, -1)

        parts = scan_blocks(block, self.ntotal, PARALLEL_BLOCK_ROWS)
        if len(parts) == 1:
            dist, ids = parts[0]
        else:
            dist = np.concatenate([p[0] for p in parts], axis=1)
            ids = np.concatenate([p[1] for p in parts], axis=1)
            order = np.lexsort((ids, np.where(ids < 0, np.iinfo(np.int32).max, dist)))[:, :k]
            dist = np.take_along_axis(dist, order, axis=1)
            ids = np.take_along_axis(ids, order, axis=1)
        scores = dist.astype(np.float32)
        scores[ids < 0] = np.inf
        return scores, ids

    def _probes(self, q: np.ndarray, nprobe: int) -> np.ndarray:
        nprobe = max(1, min(nprobe, self.nlist))
        _, lists = self._quantizer.search(q, nprobe)
        return np.asarray(lists, dtype=np.int64)

    def _candidates(self, lists: np.ndarray | None, mask: np.ndarray | None, k: int) -> np.ndarray:
        """Row ids to score: the probed lists' rows (all rows for BIN_FLAT), filtered."""
        n = self.ntotal
        if lists is None:
            return np.arange(n, dtype=np.int64) if mask is None else np.flatnonzero(mask)
        assert self._offsets is not None and self._order is not None
        lists = lists[lists >= 0]
        starts, ends = self._offsets[lists], self._offsets[lists + 1]
        lens = ends - starts
        total = int(lens.sum())
        step = np.repeat(starts - (np.cumsum(lens) - lens), lens)
        rows = self._order[np.arange(total, dtype=np.int64) + step]
        if mask is not None:
            rows = rows[mask[rows]]
        available = n if mask is None else int(np.count_nonzero(mask))
        if rows.size < min(k, available):
            return np.arange(n, dtype=np.int64) if mask is None else np.flatnonzero(mask)
        return np.sort(rows)

    def _score(
        self, query: np.ndarray, rows: np.ndarray, metric: str, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Distances of ``query`` to ``rows`` (structure metrics: only matches, scored 0)."""
        if metric in (SUBSTRUCTURE, SUPERSTRUCTURE):
            block = self._codes[rows]
            both = block & query[None, :]
            target = query[None, :] if metric == SUBSTRUCTURE else block
            matched = np.all(both == target, axis=1)
            hits = rows[matched]
            return np.zeros(hits.size, dtype=np.float32), hits
        ham = hamming_to(query, self._codes, rows)
        if metric == JACCARD:
            return jaccard_from_hamming(
                ham, self._popcounts[rows], int(self._popcounts_of(query))
            ), rows
        return ham.astype(np.float32), rows

    @staticmethod
    def _popcounts_of(query: np.ndarray) -> int:
        return int(np.bitwise_count(query).sum())


def hamming_to(query: np.ndarray, codes: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Hamming distances (int32) of one packed ``query`` to ``codes[rows]`` (all rows if None)."""
    block_all = codes if rows is None else None
    count = codes.shape[0] if rows is None else rows.size
    out = np.empty(count, dtype=np.int32)
    nbytes = codes.shape[1]
    q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.uint8)
    for start in range(0, count, SCORE_BLOCK_ROWS):
        stop = min(start + SCORE_BLOCK_ROWS, count)
        if block_all is not None:
            block = block_all[start:stop]
        else:
            assert rows is not None
            block = np.ascontiguousarray(codes[rows[start:stop]])
        part = out[start:stop]
        faiss.hammings(
            faiss.swig_ptr(q), faiss.swig_ptr(block), 1, stop - start, nbytes, faiss.swig_ptr(part)
        )
    return out


def jaccard_from_hamming(ham: np.ndarray, row_bits: np.ndarray, query_bits: int) -> np.ndarray:
    """``1 - |a & b| / |a | b|`` from Hamming distances and popcounts; 1.0 when the union is empty."""
    h = ham.astype(np.float64)
    total = row_bits.astype(np.float64) + float(query_bits)
    union = (total + h) / 2.0
    inter = (total - h) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        dist = np.where(union > 0, 1.0 - inter / np.where(union > 0, union, 1.0), 1.0)
    return dist.astype(np.float32)


def _smallest(dist: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` smallest distances (ties to the lower id), ascending."""
    if dist.size > k:
        kth = np.partition(dist, k - 1)[k - 1]
        keep = dist <= kth
        dist, ids = dist[keep], ids[keep]
    order = np.lexsort((ids, dist))[:k]
    return dist[order].astype(np.float32), ids[order].astype(np.int64)


def build_binary(spec: IndexSpec, vectors: np.ndarray) -> BinaryIndex:
    """BIN_FLAT keeps the codes; BIN_IVF_FLAT also trains binary k-means and groups rows by list."""
    codes = binary_codes(vectors, spec.dim)
    params = spec.build
    n = codes.shape[0]
    if not isinstance(params, BinIvfFlatParams) or n == 0:
        return BinaryIndex(spec, codes)
    nlist = max(1, min(params.nlist, n // MIN_ROWS_PER_LIST))
    use_build_threads()
    quantizer = faiss.IndexBinaryFlat(spec.dim)
    ivf = faiss.IndexBinaryIVF(quantizer, spec.dim, nlist)
    ivf.train(codes)
    centroids = (
        faiss.rev_swig_ptr(quantizer.xb.data(), nlist * codes.shape[1]).reshape(nlist, -1).copy()
    )
    _, assigned = quantizer.search(codes, 1)
    assigned = assigned.ravel().astype(np.int64)
    order = np.argsort(assigned, kind="stable").astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(np.bincount(assigned, minlength=nlist))]).astype(
        np.int64
    )
    return BinaryIndex(spec, codes, centroids, offsets, order)


def load_binary(spec: IndexSpec, payload: memoryview) -> BinaryIndex:
    """A :class:`BinaryIndex` from the payload :meth:`BinaryIndex.serialize` wrote."""
    try:
        arrays = unpack_arrays(payload, 4)
    except StorageError:
        (codes,) = unpack_arrays(payload, 1)
        return BinaryIndex(spec, codes)
    codes, centroids, offsets, order = arrays
    return BinaryIndex(spec, codes, centroids, offsets, order)
