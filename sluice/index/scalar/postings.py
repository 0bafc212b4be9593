"""Sorted keys with their rows: the structure behind STL_SORT, INVERTED and TRIE.

``keys`` is sorted; ``rows`` lists row offsets grouped by key.  In the
*unique* form (INVERTED, TRIE) each key appears once and ``offsets[i] :
offsets[i + 1]`` is its slice of ``rows``; in the *per-row* form (STL_SORT)
``keys[i]`` belongs to ``rows[i]``.  Either way an interval of keys maps to
one contiguous slice of ``rows`` through two binary searches, so a lookup
costs ``O(log n + hits)`` and returns a view, not a copy.

String keys are a NumPy object array of ``str``: its ``searchsorted`` runs
in ~2 µs over a million keys (NumPy's variable-width ``StringDType`` takes
milliseconds for the same call), and Python compares strings by code point,
which is the UTF-8 byte order Arrow's comparisons use.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from sluice.index.scalar.domain import STR, Interval
from sluice.index.scalar.rows import Int64Array


def _key_array(domain: str, keys: Any) -> npt.NDArray[Any]:
    if domain == STR:
        return np.asarray(keys, dtype=object)
    return np.asarray(keys)


def _sorted_distinct(values: npt.NDArray[Any], dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    if dtype != np.dtype(object):
        values = values.astype(dtype, copy=False)
    values = np.sort(values)
    if len(values) > 1:
        keep = np.empty(len(values), dtype=np.bool_)
        keep[0] = True
        keep[1:] = values[1:] != values[:-1]
        values = values[keep]
    return values


class SortedPostings:
    """Immutable sorted keys -> rows map; see the module docstring."""

    __slots__ = ("_directory", "domain", "keys", "offsets", "rows")

    def __init__(
        self,
        domain: str,
        keys: npt.NDArray[Any],
        rows: Int64Array,
        offsets: Int64Array | None,
    ) -> None:
        self.domain = domain
        self.keys = keys
        self.rows = rows
        self.offsets = offsets
        self._directory: tuple[npt.NDArray[Any], Int64Array] | None = None

    @classmethod
    def build(
        cls, domain: str, keys: npt.NDArray[Any], rows: Int64Array, unique: bool
    ) -> SortedPostings:
        """Sort ``(key, row)`` pairs; with ``unique`` also collapse repeated pairs."""
        keys = _key_array(domain, keys)
        rows = np.asarray(rows, dtype=np.int64)
        if len(keys) == 0:
            empty_offsets = np.zeros(1, dtype=np.int64) if unique else None
            return cls(domain, keys, rows, empty_offsets)
        # Rows arrive ascending, so a stable sort keeps each key's rows ascending.
        order = np.argsort(keys, kind="stable")
        keys, rows = keys[order], rows[order]
        if not unique:
            return cls(domain, keys, np.ascontiguousarray(rows), None)
        new_key = np.empty(len(keys), dtype=np.bool_)
        new_key[0] = True
        new_key[1:] = keys[1:] != keys[:-1]
        # An array row holding one value twice is one posting, not two.
        keep = new_key.copy()
        keep[1:] |= rows[1:] != rows[:-1]
        keys, rows, new_key = keys[keep], rows[keep], new_key[keep]
        starts = np.flatnonzero(new_key)
        offsets = np.append(starts, len(rows)).astype(np.int64)
        return cls(domain, keys[starts], np.ascontiguousarray(rows), offsets)

    @property
    def unique(self) -> bool:
        return self.offsets is not None

    @property
    def cardinality(self) -> int:
        return len(self.keys) if self.unique else len(np.unique(self.keys))

    def _span(self, first: int, last: int) -> tuple[int, int]:
        """Rows of key positions ``first:last``."""
        if self.offsets is None:
            return first, last
        return int(self.offsets[first]), int(self.offsets[last])

    def key_span(self, interval: Interval) -> tuple[int, int]:
        """Key positions ``first:last`` inside ``interval``."""
        if interval.empty or len(self.keys) == 0:
            return 0, 0
        first = 0
        if interval.lo is not None:
            lo_side: Literal["left", "right"] = "left" if interval.lo_inclusive else "right"
            first = int(np.searchsorted(self.keys, interval.lo, side=lo_side))
        last = len(self.keys)
        if interval.hi is not None:
            hi_side: Literal["left", "right"] = "right" if interval.hi_inclusive else "left"
            last = int(np.searchsorted(self.keys, interval.hi, side=hi_side))
        return first, max(first, last)

    def interval_rows(self, interval: Interval) -> Int64Array:
        """Rows whose key lies in ``interval`` (a view into ``rows``)."""
        start, stop = self._span(*self.key_span(interval))
        return self.rows[start:stop]

    def member_rows(self, members: Any) -> Int64Array:
        """Rows whose key equals one of ``members``."""
        if len(members) == 0 or len(self.keys) == 0:
            return np.empty(0, dtype=np.int64)
        keys, offsets = self.directory()
        needles = _sorted_distinct(_key_array(self.domain, members), keys.dtype)
        first = np.searchsorted(keys, needles, side="left")
        inside = first < len(keys)
        first, needles = first[inside], needles[inside]
        first = first[keys[first] == needles]
        return gather(self.rows, offsets[first], offsets[first + 1])

    def directory(self) -> tuple[npt.NDArray[Any], Int64Array]:
        """Distinct keys and their row offsets (for the per-row form, derived once).

        A long ``in`` list is one binary search per member; over distinct keys
        the searched array is smaller and each member's rows are one slice, so
        the per-row form builds this directory on first use (``~16`` bytes per
        distinct key) instead of searching a million repeated keys.
        """
        if self.offsets is not None:
            return self.keys, self.offsets
        if self._directory is None:
            change = np.empty(len(self.keys), dtype=np.bool_)
            change[0] = True
            change[1:] = self.keys[1:] != self.keys[:-1]
            starts = np.flatnonzero(change)
            self._directory = (
                self.keys[starts],
                np.append(starts, len(self.keys)).astype(np.int64),
            )
        return self._directory

    def key_rows(self, position: int) -> Int64Array:
        start, stop = self._span(position, position + 1)
        return self.rows[start:stop]


def gather(rows: Int64Array, starts: Int64Array, stops: Int64Array) -> Int64Array:
    """Concatenate ``rows[starts[i]:stops[i]]`` for every ``i`` without a Python loop."""
    lengths = (stops - starts).astype(np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    if len(lengths) == 1:
        return rows[int(starts[0]) : int(stops[0])]
    nonzero = lengths > 0
    starts, lengths = starts[nonzero].astype(np.int64), lengths[nonzero]
    # Position within the output minus position of its run start, plus the run's source start.
    run_begin = np.cumsum(lengths) - lengths
    index = np.arange(total, dtype=np.int64) + np.repeat(starts - run_begin, lengths)
    return rows[index]
