"""Primary-key lookups within a segment: get by ID without scanning the segment.

``get``, ``id in [...]`` and ``id == x`` name a few keys; finding their rows
by comparing every key of every segment costs O(rows) per read.  Instead each
segment keeps a :class:`KeyIndex`: its keys sorted once (``argsort``), so a
lookup is two ``searchsorted`` calls, O(k log n).

A segment's rows below any published length never change (segments only
append), so a key index built over the first ``covered`` rows stays valid for
every later, longer view of the same segment.  A growing segment therefore
shares one :class:`SegmentKeys` across its views: a lookup answers the covered
prefix from the sorted keys and scans only the rows appended since
(``np.isin`` over the tail), and re-sorts when that tail outgrows
``max(REBUILD_TAIL_ROWS, covered / 4)``, so re-sorting costs O(log n) amortised
per appended row.  A sealed segment is sorted once, on its first lookup.

Readers fill the shared slot without a lock: two may sort at once and the
longer index wins; either answer is right because both cover only published
rows.

Cost: 16 bytes per row (the sort order and the sorted keys; object pointers
for VARCHAR keys), built with one ``argsort`` on a segment's first lookup.
"""

from __future__ import annotations

from typing import Final

import numpy as np

#: Rows a growing segment may gain past its key index before the index is rebuilt.
REBUILD_TAIL_ROWS: Final = 8192


class KeyIndex:
    """The primary keys of a segment's first :attr:`rows` rows, sorted, with their rows."""

    def __init__(self, pk: np.ndarray) -> None:
        self.rows = len(pk)
        self._order = np.argsort(pk, kind="stable")
        self._sorted = pk[self._order]
        #: No key repeats (the usual case): a key's rows are one position, no upper bound needed.
        self._unique = self.rows < 2 or not bool((self._sorted[1:] == self._sorted[:-1]).any())

    def find(self, keys: np.ndarray) -> np.ndarray:
        """Rows (ascending) holding any of ``keys``; a key stored twice yields both rows."""
        if self.rows == 0 or len(keys) == 0:
            return np.empty(0, dtype=np.int64)
        if len(keys) == 1 and self._unique:  # a get: one binary search, no arrays to build
            key = keys[0]
            at = int(np.searchsorted(self._sorted, key))
            if at < self.rows and self._sorted[at] == key:
                return self._order[at : at + 1].astype(np.int64, copy=False)
            return np.empty(0, dtype=np.int64)
        if len(keys) > 1:
            keys = np.unique(keys)
        lower = np.searchsorted(self._sorted, keys, side="left")
        if self._unique:
            inside = lower < self.rows
            lower, keys = lower[inside], keys[inside]
            found = lower[self._sorted[lower] == keys]
            return np.sort(self._order[found]).astype(np.int64, copy=False)
        upper = np.searchsorted(self._sorted, keys, side="right")
        counts = upper - lower
        total = int(counts.sum())
        if total == 0:
            return np.empty(0, dtype=np.int64)
        if len(keys) == 1:
            positions = np.arange(int(lower[0]), int(upper[0]))
        else:
            # Concatenate the ranges [lower_i, upper_i) without a Python loop.
            starts = np.repeat(lower - np.cumsum(counts) + counts, counts)
            positions = starts + np.arange(total)
        return np.sort(self._order[positions]).astype(np.int64, copy=False)


class SegmentKeys:
    """One segment's key index, shared by all of its views (see the module docstring)."""

    def __init__(self) -> None:
        self._index: KeyIndex | None = None
        #: The segment takes no more rows: sort everything on the next lookup.
        self.sealed = False

    def rows_with(self, pk: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Rows of the view whose keys are ``pk`` (its first ``len(pk)`` rows) holding ``keys``."""
        num_rows = len(pk)
        index = self._index
        if index is None or _stale(index, num_rows, self.sealed):
            index = KeyIndex(pk)
            current = self._index
            if current is None or current.rows < index.rows:
                self._index = index
        rows = index.find(keys)
        if index.rows > num_rows:
            # An older, shorter view: rows past its length are not its rows.
            return rows[rows < num_rows]
        if index.rows < num_rows:
            tail = np.flatnonzero(np.isin(pk[index.rows :], keys)) + index.rows
            rows = np.concatenate([rows, tail.astype(np.int64, copy=False)])
        return rows


def _stale(index: KeyIndex, num_rows: int, sealed: bool) -> bool:
    """Whether to sort again rather than scan the rows past ``index``."""
    missing = num_rows - index.rows
    if missing <= 0:
        return False
    return sealed or missing > max(REBUILD_TAIL_ROWS, index.rows // 4)
