"""STL_SORT, INVERTED and TRIE: sorted keys and their rows.

* **STL_SORT** keeps one ``(key, row)`` pair per non-null row, sorted by key,
  like Milvus's ``ScalarIndexSort``: equality and ranges are two binary
  searches and a slice.  Memory ``n * (8 + key size)`` bytes.
* **INVERTED** keeps each distinct key once with its posting list (rows in
  ascending order); for an ARRAY field the keys are the elements and a row
  matches when any element does.  Memory ``distinct * key size + postings *
  8`` bytes; fastest for ``in`` lists and low-cardinality columns.
* **TRIE** is Milvus's index for VARCHAR (a marisa trie there).  Here it is
  the INVERTED layout over strings: a sorted array of distinct strings
  answers equality, ``in``, ranges and ``prefix%`` with two binary searches
  each, which in Python beats walking any trie built from Python objects.

All three answer ``LIKE`` patterns without wildcards (equality) and
``prefix%`` (a key interval) on strings, and decline other patterns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from sluice.index.scalar.base import ScalarIndex, parse_like
from sluice.index.scalar.columns import KeyColumn
from sluice.index.scalar.domain import (
    EVERYTHING,
    STR,
    Interval,
    Unanswerable,
    comparison_interval,
    member_keys,
    prefix_interval,
)
from sluice.index.scalar.postings import SortedPostings
from sluice.index.scalar.rows import BoolArray, Int64Array, RowHits


def bounds_interval(
    domain: str, lower: Any, lower_inclusive: bool, upper: Any, upper_inclusive: bool
) -> Interval:
    """``lower <(=) key <(=) upper`` as one interval (raises ``Unanswerable``)."""
    interval = EVERYTHING
    if lower is not None:
        interval = interval.intersect(
            comparison_interval(domain, ">=" if lower_inclusive else ">", lower)
        )
    if upper is not None:
        interval = interval.intersect(
            comparison_interval(domain, "<=" if upper_inclusive else "<", upper)
        )
    return interval


class PostingsIndex(ScalarIndex):
    """Shared implementation; subclasses fix the layout and the type name."""

    unique: ClassVar[bool] = True

    def __init__(
        self,
        postings: SortedPostings,
        num_rows: int,
        present: BoolArray,
        nan_rows: Int64Array,
        is_array: bool,
    ) -> None:
        self.postings = postings
        self.num_rows = num_rows
        self.present = present
        self.nan_rows = nan_rows
        self.is_array = is_array

    @classmethod
    def build(cls, column: KeyColumn) -> PostingsIndex:
        postings = SortedPostings.build(column.domain, column.keys, column.rows, cls.unique)
        return cls(postings, column.num_rows, column.present, column.nan_rows, column.is_array)

    @property
    def domain(self) -> str:
        return self.postings.domain

    # --- lookups ---------------------------------------------------------------------

    def _hits(self, rows: Int64Array) -> RowHits:
        return RowHits.of_rows(self.num_rows, rows)

    def _interval(self, interval: Interval) -> RowHits:
        return self._hits(self.postings.interval_rows(interval))

    def compare(self, op: str, const: Any) -> RowHits | None:
        if self.is_array:
            return None
        try:
            if op == "!=":
                equal = self.postings.interval_rows(comparison_interval(self.domain, "==", const))
                mask = self.present.copy()
                mask[equal] = False
                return RowHits.of_mask(self.num_rows, mask)
            return self._interval(comparison_interval(self.domain, op, const))
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
        return self._interval(interval)

    def isin(self, values: Sequence[Any]) -> RowHits | None:
        if self.is_array:
            return None
        try:
            keys = member_keys(self.domain, values)
        except Unanswerable:
            return None
        return self._hits(self.postings.member_rows(keys))

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
            return self._interval(Interval(exact, True, exact, True))
        prefix = parsed.prefix()
        if prefix is not None:
            return self._interval(prefix_interval(prefix))
        return None

    def contains(self, mode: str, values: Sequence[Any]) -> RowHits | None:
        if not self.is_array:
            return None
        try:
            keys = member_keys(self.domain, values)
        except Unanswerable:
            return None
        if mode in ("contains", "any"):
            return self._hits(self.postings.member_rows(keys))
        if len(keys) < len(values):
            # A member that no element can equal: contains_all is false everywhere.
            return RowHits.empty(self.num_rows)
        mask = self.present.copy()
        for key in dict.fromkeys(keys):
            hit = np.zeros(self.num_rows, dtype=np.bool_)
            hit[self.postings.member_rows([key])] = True
            mask &= hit
        return RowHits.of_mask(self.num_rows, mask)

    # --- serialisation ---------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "domain": self.domain,
            "num_rows": self.num_rows,
            "is_array": self.is_array,
            "keys": self.postings.keys,
            "rows": self.postings.rows,
            "present": self.present,
            "nan_rows": self.nan_rows,
        }
        if self.postings.offsets is not None:
            state["offsets"] = self.postings.offsets
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PostingsIndex:
        postings = SortedPostings(
            state["domain"], state["keys"], state["rows"], state.get("offsets")
        )
        return cls(
            postings, state["num_rows"], state["present"], state["nan_rows"], state["is_array"]
        )

    @property
    def nbytes(self) -> int:
        keys = self.postings.keys
        key_bytes = (
            sum(len(k) for k in keys) + 8 * len(keys) if keys.dtype == object else keys.nbytes
        )
        offsets = self.postings.offsets
        return int(
            key_bytes
            + self.postings.rows.nbytes
            + (offsets.nbytes if offsets is not None else 0)
            + self.present.nbytes
        )


class SortIndex(PostingsIndex):
    """STL_SORT."""

    index_type = "STL_SORT"
    unique = False


class InvertedIndex(PostingsIndex):
    """INVERTED."""

    index_type = "INVERTED"
    unique = True


class TrieIndex(PostingsIndex):
    """TRIE (VARCHAR only)."""

    index_type = "TRIE"
    unique = True
