"""Indexes over nullable vector fields: only the rows that have a vector are indexed.

The contract with the engine: a segment of a nullable vector field comes
with its validity mask (one bool per row, True where the row has a vector).
The inner index numbers the valid rows ``0 .. m-1``; :class:`RowMappedIndex`
translates both ways, so callers keep using segment row offsets:

* an ``allowed`` mask over the segment's rows is narrowed to the valid rows
  before the inner search, so filters and validity combine;
* result ids are mapped back to segment rows, and padding stays ``-1``;
* :attr:`ntotal` is the segment's row count, so the engine's "does this
  index cover the segment" check is unchanged.

A null row can therefore never be a result.  Memory: 8 bytes per valid row
for the offset table, plus the mask.  Exact (unindexed) search needs no
wrapper: the engine folds the validity mask into ``allowed``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from sluice.index.base import VectorIndex
from sluice.index.exact import as_mask
from sluice.index.format import pack_row_mapped
from sluice.index.search_params import SearchParams
from sluice.index.spec import IndexSpec
from sluice.index.topk import Result


class RowMappedIndex:
    """A :class:`~sluice.index.base.VectorIndex` whose inner index holds only valid rows."""

    __slots__ = ("_inner", "_rows", "_valid")

    def __init__(self, inner: VectorIndex, valid: np.ndarray) -> None:
        self._inner = inner
        self._valid = np.asarray(valid, dtype=bool)
        self._rows = np.flatnonzero(self._valid).astype(np.int64)
        if self._rows.size != inner.ntotal:
            raise ValueError(
                f"validity mask has {self._rows.size} valid rows, the index holds {inner.ntotal}"
            )

    @property
    def inner(self) -> VectorIndex:
        """The index over the valid rows alone."""
        return self._inner

    @property
    def spec(self) -> IndexSpec:
        return self._inner.spec

    @property
    def ntotal(self) -> int:
        return int(self._valid.shape[0])

    @property
    def memory_bytes(self) -> int:
        return int(self._inner.memory_bytes + self._rows.nbytes + self._valid.nbytes)

    def search(
        self, queries: Any, k: int, params: SearchParams, allowed: np.ndarray | None = None
    ) -> Result:
        return self._mapped(self._inner.search(queries, k, params, self._narrow(allowed)))

    def range_search(
        self, queries: Any, k: int, params: SearchParams, allowed: np.ndarray | None = None
    ) -> Result:
        return self._mapped(self._inner.range_search(queries, k, params, self._narrow(allowed)))

    def serialize(self) -> bytes:
        return pack_row_mapped(self._valid, self._inner.serialize())

    def __getattr__(self, name: str) -> Any:
        # Extras of the inner index (``bm25_stats``, ``nlist``...) read through;
        # private names never do, so a half-built object cannot recurse.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._inner, name)

    def _narrow(self, allowed: np.ndarray | None) -> np.ndarray | None:
        if allowed is None:
            return None
        return as_mask(allowed, self.ntotal)[self._rows]

    def _mapped(self, found: Result) -> Result:
        scores, ids = found
        return scores, np.where(ids >= 0, self._rows[np.maximum(ids, 0)], -1)


def valid_rows(vectors: Any, valid: np.ndarray) -> Any:
    """The valid rows of ``vectors``: as given when already compact, else selected."""
    count = int(np.count_nonzero(valid))
    length = vectors.shape[0]
    if length == count:
        return vectors
    if length != valid.shape[0]:
        raise ValueError(
            f"{length} vectors fit neither the {count} valid rows nor all {valid.shape[0]} rows"
        )
    if sp.issparse(vectors):
        return sp.csr_matrix(vectors)[np.flatnonzero(valid)]
    return np.asarray(vectors)[valid]
