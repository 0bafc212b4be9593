"""NGRAM: substrings of length ``min_gram..max_gram`` -> rows, for ``LIKE`` on text.

A row can match ``LIKE '%abc%'`` only if it contains every gram of every
literal run of the pattern, so the index intersects the posting lists of
those grams to get *candidates*, then verifies the candidates alone with
Arrow's ``match_like`` on the segment's column (Milvus's NGRAM index does
the same two phases).  When the pattern is ``%lit%`` and ``lit`` is itself
one gram (``min_gram <= len(lit) <= max_gram``) the candidates are exact
and nothing is verified.  A pattern whose literal runs are all shorter than
``min_gram`` gives no candidates to narrow to, so the index declines and the
caller scans.

Building walks every string once in Python (one set of grams per row), so
it costs about ``rows * length * (max_gram - min_gram + 1)`` gram
insertions; memory is the distinct grams plus one posting per (gram, row).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from sluice.index.scalar.base import ANY, ScalarIndex, parse_like
from sluice.index.scalar.columns import KeyColumn, combined
from sluice.index.scalar.domain import STR, Interval
from sluice.index.scalar.postings import SortedPostings
from sluice.index.scalar.rows import Int64Array, RowHits

#: Reads the candidate rows' strings (``None`` where a row holds no string).
StringReader = Callable[[Int64Array], pa.Array]


def _grams(text: str, low: int, high: int) -> set[str]:
    found: set[str] = set()
    for size in range(low, min(high, len(text)) + 1):
        found.update(text[i : i + size] for i in range(len(text) - size + 1))
    return found


class NgramIndex(ScalarIndex):
    """NGRAM over strings; see the module docstring."""

    index_type = "NGRAM"

    def __init__(self, postings: SortedPostings, num_rows: int, min_gram: int, max_gram: int):
        self.postings = postings
        self.num_rows = num_rows
        self.min_gram = min_gram
        self.max_gram = max_gram

    @classmethod
    def build(cls, column: KeyColumn, min_gram: int, max_gram: int) -> NgramIndex:
        if column.domain != STR:
            raise TypeError("an NGRAM index needs string values")
        grams: list[str] = []
        owners: list[int] = []
        for text, row in zip(column.keys.tolist(), column.rows.tolist(), strict=True):
            found = _grams(text, min_gram, max_gram)
            grams.extend(found)
            owners.extend([row] * len(found))
        keys: npt.NDArray[Any] = np.asarray(grams, dtype=object)
        postings = SortedPostings.build(STR, keys, np.asarray(owners, dtype=np.int64), True)
        return cls(postings, column.num_rows, min_gram, max_gram)

    def candidates(self, pattern: str) -> tuple[Int64Array, bool] | None:
        """``(rows, exact)``: rows that may match, and whether they all do."""
        parsed = parse_like(pattern)
        if parsed is None:
            return None
        needed: set[str] = set()
        for literal in parsed.literals:
            if len(literal) < self.min_gram:
                continue
            size = min(len(literal), self.max_gram)
            needed.update(literal[i : i + size] for i in range(len(literal) - size + 1))
        if not needed:
            return None
        rows: Int64Array | None = None
        for gram in sorted(needed, key=lambda g: len(self._rows(g))):
            posting = self._rows(gram)
            rows = posting if rows is None else np.intersect1d(rows, posting, assume_unique=True)
            if len(rows) == 0:
                break
        assert rows is not None
        parts = parsed.parts
        exact = (
            len(parts) == 3
            and parts[0] is ANY
            and parts[2] is ANY
            and isinstance(parts[1], str)
            and self.min_gram <= len(parts[1]) <= self.max_gram
        )
        return rows, exact

    def _rows(self, gram: str) -> Int64Array:
        return self.postings.interval_rows(Interval(gram, True, gram, True))

    def like_with(self, pattern: str, read: StringReader | None) -> RowHits | None:
        """``LIKE`` answered from candidates, verified through ``read``."""
        found = self.candidates(pattern)
        if found is None:
            return None
        rows, exact = found
        if exact or len(rows) == 0:
            return RowHits.of_rows(self.num_rows, rows)
        if read is None:
            return None
        matched = pc.fill_null(pc.match_like(read(rows), pattern), False)
        keep = np.asarray(matched.to_numpy(zero_copy_only=False), dtype=np.bool_)
        return RowHits.of_rows(self.num_rows, rows[keep])

    def like(
        self, pattern: str, column: pa.Array | pa.ChunkedArray | None = None
    ) -> RowHits | None:
        if column is None:
            return self.like_with(pattern, None)
        array = combined(column)
        return self.like_with(pattern, lambda rows: array.take(pa.array(rows)))

    def isin(self, values: Sequence[Any]) -> RowHits | None:
        return None

    def state(self) -> dict[str, Any]:
        assert self.postings.offsets is not None
        return {
            "num_rows": self.num_rows,
            "min_gram": self.min_gram,
            "max_gram": self.max_gram,
            "keys": self.postings.keys,
            "rows": self.postings.rows,
            "offsets": self.postings.offsets,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> NgramIndex:
        postings = SortedPostings(STR, state["keys"], state["rows"], state["offsets"])
        return cls(postings, state["num_rows"], state["min_gram"], state["max_gram"])

    @property
    def nbytes(self) -> int:
        assert self.postings.offsets is not None
        keys = sum(len(k) + 8 for k in self.postings.keys)
        return int(keys + self.postings.rows.nbytes + self.postings.offsets.nbytes)
