"""JSON path indexes: an inner index per cast domain, answering with JSON's typing.

The filter evaluator compares JSON values by type: a number matches only a
numeric constant, a string only a string, a boolean only a boolean; ``!=`` is
true for a missing key or a value of another type.  A JSON path index holds
only the values of its cast type, so the contract is:

* a predicate whose constants all have a type the index holds is answered
  exactly: values of other types (not cast, not indexed) could never satisfy
  it;
* ``!=`` is answered as the complement of ``==`` over the rows holding a
  document, because every non-matching value satisfies it whatever its type
  (a missing key too); a null document matches nothing;
* anything else (a string constant against a DOUBLE index, mixed-type ``in``
  lists, paths below the indexed one) is declined, and the caller scans.

Two cases decline although the types fit, to stay exact: integer constants
beyond 2**53 or an index holding such integers (float64 keys cannot order
them exactly), and indexes built with ``json_cast_function``
(``STRING_TO_DOUBLE`` makes ``"7"`` a number for the index while the filter
language still treats it as a string).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from sluice.index.scalar.base import ScalarIndex
from sluice.index.scalar.domain import BOOL, EXACT_FLOAT_INT, FLOAT64, STR
from sluice.index.scalar.jsoncast import PathStep, strings_at
from sluice.index.scalar.ngram import NgramIndex
from sluice.index.scalar.rows import BoolArray, RowHits


def _kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int | float):
        return FLOAT64
    if isinstance(value, str):
        return STR
    return None


class JsonPathIndex(ScalarIndex):
    """Inner indexes keyed by domain, over the values at one path of a JSON field."""

    def __init__(
        self,
        inner: dict[str, ScalarIndex],
        nested_path: tuple[PathStep, ...],
        cast_type: str,
        num_rows: int,
        present: BoolArray,
        array_rows: BoolArray,
        has_inexact_ints: bool,
        cast_function: str | None = None,
    ) -> None:
        self.inner = inner
        self.nested_path = nested_path
        self.cast_type = cast_type
        self.num_rows = num_rows
        self.present = present
        self.array_rows = array_rows
        self.has_inexact_ints = has_inexact_ints
        self.cast_function = cast_function

    @property
    def index_type(self) -> str:  # type: ignore[override]
        return next(iter(self.inner.values())).index_type

    def _inner_for(self, values: Sequence[Any]) -> dict[str, list[Any]] | None:
        """Constants grouped by domain, or ``None`` when one falls outside the index."""
        if self.cast_function is not None:
            return None
        groups: dict[str, list[Any]] = {}
        for value in values:
            kind = _kind(value)
            if kind is None or kind not in self.inner:
                return None
            if kind == FLOAT64 and isinstance(value, int) and self._inexact(value):
                return None
            groups.setdefault(kind, []).append(value)
        return groups

    def _inexact(self, value: int) -> bool:
        """Whether float64 keys could order ``value`` differently from the scan."""
        return self.has_inexact_ints or abs(value) > EXACT_FLOAT_INT

    def compare(self, op: str, const: Any) -> RowHits | None:
        groups = self._inner_for([const])
        if groups is None:
            return None
        (kind,) = groups
        if op != "!=":
            return self.inner[kind].compare(op, const)
        equal = self.inner[kind].compare("==", const)
        if equal is None:
            return None
        return RowHits.of_mask(self.num_rows, self.present & ~equal.to_mask())

    def range(
        self, lower: Any, lower_inclusive: bool, upper: Any, upper_inclusive: bool
    ) -> RowHits | None:
        bounds = [b for b in (lower, upper) if b is not None]
        groups = self._inner_for(bounds)
        if groups is None or len(groups) != 1:
            return None
        (kind,) = groups
        return self.inner[kind].range(lower, lower_inclusive, upper, upper_inclusive)

    def isin(self, values: Sequence[Any]) -> RowHits | None:
        groups = self._inner_for(values)
        if groups is None:
            return None
        if not groups:
            return RowHits.empty(self.num_rows)
        mask = np.zeros(self.num_rows, dtype=np.bool_)
        for kind, members in groups.items():
            hits = self.inner[kind].isin(members)
            if hits is None:
                return None
            mask |= hits.to_mask()
        return RowHits.of_mask(self.num_rows, mask)

    def like(
        self, pattern: str, column: pa.Array | pa.ChunkedArray | None = None
    ) -> RowHits | None:
        if self.cast_function is not None or STR not in self.inner:
            return None
        inner = self.inner[STR]
        if isinstance(inner, NgramIndex):
            if column is None:
                return inner.like_with(pattern, None)
            path = self.nested_path
            return inner.like_with(pattern, lambda rows: strings_at(column, path, rows))
        return inner.like(pattern)

    def contains(self, mode: str, values: Sequence[Any]) -> RowHits | None:
        groups = self._inner_for(values)
        if groups is None or not self.cast_type.startswith("ARRAY_"):
            return None
        if mode == "all" and not values:
            return RowHits.of_mask(self.num_rows, self.array_rows.copy())
        if mode == "any" or mode == "contains":
            return self.isin_elements(groups)
        mask = self.array_rows.copy()
        for kind, members in groups.items():
            hits = self.inner[kind].contains("all", members)
            if hits is None:
                return None
            mask &= hits.to_mask()
        return RowHits.of_mask(self.num_rows, mask)

    def isin_elements(self, groups: dict[str, list[Any]]) -> RowHits | None:
        mask = np.zeros(self.num_rows, dtype=np.bool_)
        for kind, members in groups.items():
            hits = self.inner[kind].contains("any", members)
            if hits is None:
                return None
            mask |= hits.to_mask()
        return RowHits.of_mask(self.num_rows, mask)

    # --- serialisation -----------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "num_rows": self.num_rows,
            "nested_path": list(self.nested_path),
            "cast_type": self.cast_type,
            "cast_function": self.cast_function,
            "present": self.present,
            "array_rows": self.array_rows,
            "has_inexact_ints": self.has_inexact_ints,
            "inner": dict(self.inner),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> JsonPathIndex:
        return cls(
            dict(state["inner"]),
            tuple(state["nested_path"]),
            state["cast_type"],
            state["num_rows"],
            state["present"],
            state["array_rows"],
            state["has_inexact_ints"],
            state["cast_function"],
        )

    @property
    def nbytes(self) -> int:
        inner = sum(i.nbytes for i in self.inner.values())
        return int(inner + self.present.nbytes + self.array_rows.nbytes)
