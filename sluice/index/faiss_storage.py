"""What a FAISS index holds: its stored vectors as numpy views, and its size in memory."""

from __future__ import annotations

from typing import Any

import faiss as _faiss_typed
import numpy as np

from sluice.index.metrics import COSINE, L2
from sluice.index.spec import IndexSpec
from sluice.schema import DataType

#: FAISS's bundled stubs lack ``rev_swig_ptr`` and HNSW internals.
faiss: Any = _faiss_typed


class _Pinned:
    """An array interface over FAISS-owned memory that keeps its owner alive.

    ``rev_swig_ptr`` views do not reference the index they point into; a
    view handed out beyond the index's wrapper (the segment reads its
    vectors from HNSW/FLAT storage) must keep the index, and its mapping,
    from being freed.  numpy holds this object as the array's ``base``.
    """

    def __init__(self, view: np.ndarray, owner: Any) -> None:
        self.__array_interface__ = view.__array_interface__
        self._owner = owner


def flat_view(flat: Any, owner: Any) -> np.ndarray:
    """The vectors a flat index stores, as a read-only view (no copy) that pins ``owner``."""
    n, d = int(flat.ntotal), int(flat.d)
    if n == 0:
        return np.empty((0, d), dtype=np.float32)
    view = np.asarray(_Pinned(faiss.rev_swig_ptr(flat.get_xb(), n * d).reshape(n, d), owner))
    view.flags.writeable = False
    return view


def memory_bytes(index: Any) -> int:
    if isinstance(index, faiss.IndexRefine):
        refine = faiss.downcast_index(index.refine_index)
        base = faiss.downcast_index(index.base_index)
        return memory_bytes(base) + int(refine.ntotal * refine.code_size)
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


def reads_index_storage(array: np.ndarray) -> bool:
    """True when ``array`` (or what it views) is a :func:`flat_view` of an index's storage."""
    base: Any = array
    while isinstance(base, np.ndarray):
        base = base.base
    return isinstance(base, _Pinned)


def stores_raw_vectors(spec: IndexSpec) -> bool:
    """Whether an index built from ``spec`` keeps every row's vector as given.

    What :meth:`FaissIndex.stored_vectors` will find, known before loading
    (start-up skips reading vectors such an index brings).  FLAT and HNSW
    store float32 rows in an ``IndexFlat``, except COSINE (normalised) and
    IP HNSW (augmented); DISKANN is HNSW in FAISS but stores the same rows.
    """
    if spec.data_type != DataType.FLOAT_VECTOR or spec.metric_type == COSINE:
        return False
    if spec.engine_type == "FLAT":
        return True
    return spec.engine_type in ("HNSW", "DISKANN") and spec.metric_type == L2
