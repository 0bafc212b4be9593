"""The interface every vector index of a sealed segment offers.

An index is immutable once built: it is trained and filled from one
segment's vectors, serialised next to the segment, and only searched after
that.  Row ids are offsets into the segment (0 .. ntotal-1, null rows of a
nullable field included, see :mod:`sluice.index.rows`); mapping them to
primary keys is the caller's job.  Queries come in the field's vector kind
(:mod:`sluice.index.kinds`): dense matrices, packed binary codes, or a CSR
matrix for sparse fields.  Implementations must be safe to search from
several threads at once and should not hold the GIL while computing.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from sluice.index.search_params import SearchParams
from sluice.index.spec import IndexSpec


@runtime_checkable
class VectorIndex(Protocol):
    """A searchable, serialisable index over one segment's vectors."""

    @property
    def spec(self) -> IndexSpec:
        """The definition this index was built from."""
        ...

    @property
    def ntotal(self) -> int:
        """Number of vectors indexed (the segment's row count)."""
        ...

    @property
    def memory_bytes(self) -> int:
        """Resident size of the index structures, in bytes."""
        ...

    def search(
        self,
        queries: np.ndarray,
        k: int,
        params: SearchParams,
        allowed: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` per query: ``(scores (nq, k) float32, row ids (nq, k) int64)``.

        ``allowed`` is a boolean mask over rows; only allowed rows are returned.
        When ``params.is_range`` the call is a :meth:`range_search`.  Missing
        entries are id ``-1`` with the metric's worst score.
        """
        ...

    def range_search(
        self,
        queries: np.ndarray,
        k: int,
        params: SearchParams,
        allowed: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The best ``k`` rows inside ``params``' radius window, same layout as :meth:`search`."""
        ...

    def serialize(self) -> bytes:
        """Bytes that :func:`sluice.index.load_index` turns back into an equal index."""
        ...
