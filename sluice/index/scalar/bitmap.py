"""BITMAP: one roaring bitmap of rows per distinct value.

Milvus builds BITMAP for low-cardinality BOOL, integer, VARCHAR and ARRAY
fields (of those element types).  Each distinct key owns a
``pyroaring.BitMap`` of the rows holding it; ``in`` and ranges union the
bitmaps of the keys they cover, ``contains_all`` intersects them.  Memory is
about ``rows * cardinality / 8`` bytes in the worst case and far less for
clustered rows; a lookup touching ``k`` distinct keys costs ``k`` bitmap
unions, so past a few hundred distinct values INVERTED is the better
structure (Milvus's AUTOINDEX switches at :data:`DEFAULT_CARDINALITY_LIMIT`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from pyroaring import BitMap

from sluice.index.scalar.base import ScalarIndex, parse_like
from sluice.index.scalar.columns import KeyColumn
from sluice.index.scalar.domain import (
    STR,
    Interval,
    Unanswerable,
    comparison_interval,
    member_keys,
    prefix_interval,
)
from sluice.index.scalar.postings import SortedPostings
from sluice.index.scalar.rows import BoolArray, Int64Array, RowHits
from sluice.index.scalar.sorted_index import bounds_interval

#: Distinct values below which Milvus's HYBRID index (what scalar AUTOINDEX builds
#: for integers and strings) chooses a bitmap (``scalarAutoIndex.params.bitmapCardinalityLimit``).
DEFAULT_CARDINALITY_LIMIT: Final = 100


class BitmapIndex(ScalarIndex):
    """BITMAP; see the module docstring."""

    index_type = "BITMAP"

    def __init__(
        self,
        domain: str,
        keys: npt.NDArray[Any],
        bitmaps: list[BitMap],
        num_rows: int,
        present: BoolArray,
        is_array: bool,
    ) -> None:
        self.domain = domain
        self.keys = keys
        self.bitmaps = bitmaps
        self.num_rows = num_rows
        self.present = present
        self.is_array = is_array
        self._lookup = SortedPostings(domain, keys, np.empty(0, dtype=np.int64), None)

    @classmethod
    def build(cls, column: KeyColumn) -> BitmapIndex:
        postings = SortedPostings.build(column.domain, column.keys, column.rows, unique=True)
        assert postings.offsets is not None
        rows32 = postings.rows.astype(np.uint32)
        bitmaps = [
            BitMap(rows32[start:stop])
            for start, stop in zip(postings.offsets[:-1], postings.offsets[1:], strict=True)
        ]
        return cls(
            column.domain, postings.keys, bitmaps, column.num_rows, column.present, column.is_array
        )

    def _union(self, interval: Interval) -> RowHits:
        first, last = self._lookup.key_span(interval)
        if last - first == 1:
            return RowHits.of_bitmap(self.num_rows, self.bitmaps[first])
        return RowHits.of_bitmap(self.num_rows, BitMap.union(BitMap(), *self.bitmaps[first:last]))

    def _members(self, keys: list[Any]) -> BitMap:
        found = [self._position(key) for key in keys]
        return BitMap.union(BitMap(), *(self.bitmaps[p] for p in found if p is not None))

    def _position(self, key: Any) -> int | None:
        position = int(np.searchsorted(self.keys, key))
        if position < len(self.keys) and self.keys[position] == key:
            return position
        return None

    def compare(self, op: str, const: Any) -> RowHits | None:
        if self.is_array:
            return None
        try:
            if op == "!=":
                equal = self._union(comparison_interval(self.domain, "==", const)).to_bitmap()
                mask = self.present.copy()
                if equal:
                    mask[np.asarray(equal.to_array(), dtype=np.int64)] = False
                return RowHits.of_mask(self.num_rows, mask)
            return self._union(comparison_interval(self.domain, op, const))
        except Unanswerable:
            return None

    def range(
        self, lower: Any, lower_inclusive: bool, upper: Any, upper_inclusive: bool
    ) -> RowHits | None:
        if self.is_array:
            return None
        try:
            interval = bounds_interval(self.domain, lower, lower_inclusive, upper, upper_inclusive)
        except Unanswerable:
            return None
        return self._union(interval)

    def isin(self, values: Sequence[Any]) -> RowHits | None:
        if self.is_array:
            return None
        try:
            keys = member_keys(self.domain, values)
        except Unanswerable:
            return None
        return RowHits.of_bitmap(self.num_rows, self._members(keys))

    def like(
        self, pattern: str, column: pa.Array | pa.ChunkedArray | None = None
    ) -> RowHits | None:
        if self.is_array or self.domain != STR:
            return None
        parsed = parse_like(pattern)
        if parsed is None:
            return None
        exact = parsed.exact()
        if exact is not None:
            return self._union(Interval(exact, True, exact, True))
        prefix = parsed.prefix()
        return None if prefix is None else self._union(prefix_interval(prefix))

    def contains(self, mode: str, values: Sequence[Any]) -> RowHits | None:
        if not self.is_array:
            return None
        try:
            keys = member_keys(self.domain, values)
        except Unanswerable:
            return None
        if mode in ("contains", "any"):
            return RowHits.of_bitmap(self.num_rows, self._members(keys))
        if len(keys) < len(values):
            return RowHits.empty(self.num_rows)
        result = BitMap(np.flatnonzero(self.present).astype(np.uint32))
        for key in dict.fromkeys(keys):
            position = self._position(key)
            if position is None:
                return RowHits.empty(self.num_rows)
            result &= self.bitmaps[position]
        return RowHits.of_bitmap(self.num_rows, result)

    # --- serialisation ---------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        blobs = [bitmap.serialize() for bitmap in self.bitmaps]
        return {
            "domain": self.domain,
            "num_rows": self.num_rows,
            "is_array": self.is_array,
            "keys": self.keys,
            "bitmaps": blobs,
            "present": self.present,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BitmapIndex:
        bitmaps = [BitMap.deserialize(blob) for blob in state["bitmaps"]]
        return cls(
            state["domain"],
            state["keys"],
            bitmaps,
            state["num_rows"],
            state["present"],
            state["is_array"],
        )

    @property
    def nbytes(self) -> int:
        stats = sum(len(b.serialize()) for b in self.bitmaps)
        return int(stats + self.present.nbytes + 8 * len(self.keys))


def cardinality(column: KeyColumn, limit: int) -> int:
    """Distinct keys, counted up to ``limit`` (Milvus stops counting there too)."""
    keys: Int64Array | npt.NDArray[Any] = column.keys
    if len(keys) == 0:
        return 0
    return min(len(np.unique(keys)), limit)
