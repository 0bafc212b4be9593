"""The lookup contract every scalar index implements.

Each method answers one predicate over the segment the index was built from
and returns :class:`~sluice.index.scalar.rows.RowHits`, or ``None`` when
this index cannot answer it *exactly* (wrong operator for the structure, a
constant of a type the keys do not hold, a pattern it cannot narrow): the
caller then scans, so ``None`` is always safe and a ``RowHits`` is always the
scan's answer, row for row.  Rows whose value is null are never returned,
not even by ``!=``: in Milvus's three-valued logic a comparison with null is
false.

Operators, as the filter evaluator names them:

* ``compare(op, c)`` for ``== != < <= > >=``; ``range(lo, lo_inc, hi, hi_inc)``
  with ``None`` for an open end; ``isin(values)``;
* ``like(pattern, column)`` (SQL ``LIKE``: ``%``, ``_``, backslash escapes);
  ``column`` is the segment's own column, which an index that only narrows
  candidates (NGRAM) uses to verify them;
* ``contains(mode, values)`` on arrays, ``mode`` one of ``contains`` (one
  value), ``all``, ``any``;
* ``relation(op, wkt, distance)`` on geometry (RTREE).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa

from sluice.index.scalar.rows import RowHits


class ScalarIndex(ABC):
    """An immutable index over one sealed segment's column."""

    #: The structure built (``INVERTED``, ``STL_SORT``...).
    index_type: ClassVar[str] = ""
    num_rows: int

    def compare(self, op: str, const: Any) -> RowHits | None:
        return None

    def range(
        self, lower: Any, lower_inclusive: bool, upper: Any, upper_inclusive: bool
    ) -> RowHits | None:
        return None

    def isin(self, values: Sequence[Any]) -> RowHits | None:
        return None

    def like(
        self, pattern: str, column: pa.Array | pa.ChunkedArray | None = None
    ) -> RowHits | None:
        return None

    def contains(self, mode: str, values: Sequence[Any]) -> RowHits | None:
        return None

    def relation(self, op: str, wkt: str, distance: float | None = None) -> RowHits | None:
        return None

    @abstractmethod
    def state(self) -> dict[str, Any]:
        """Arrays and scalars that rebuild this index (see :mod:`~sluice.index.scalar.codec`)."""

    @classmethod
    @abstractmethod
    def from_state(cls, state: dict[str, Any]) -> ScalarIndex:
        """The inverse of :meth:`state`."""

    @property
    @abstractmethod
    def nbytes(self) -> int:
        """Approximate memory held by the index."""


# --- LIKE patterns -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LikePattern:
    """A LIKE pattern split into literal runs and wildcards.

    ``parts`` alternates literals (``str``) and wildcards (``"%"`` / ``"_"``
    as :data:`ANY` / :data:`ONE` markers).
    """

    parts: tuple[str | object, ...]

    @property
    def literals(self) -> list[str]:
        return [p for p in self.parts if isinstance(p, str)]

    def exact(self) -> str | None:
        """The whole pattern when it has no wildcard."""
        if all(isinstance(p, str) for p in self.parts):
            return "".join(p for p in self.parts if isinstance(p, str))
        return None

    def prefix(self) -> str | None:
        """``p`` when the pattern is ``p%`` (one or more trailing ``%``, nothing else)."""
        head = self.parts[0] if self.parts and isinstance(self.parts[0], str) else ""
        rest = self.parts[1:] if head else self.parts
        if rest and all(p is ANY for p in rest):
            return head
        return None


ANY = object()
ONE = object()


def parse_like(pattern: str) -> LikePattern | None:
    """Split a pattern as Arrow's ``match_like`` reads it; ``None`` for a dangling escape."""
    parts: list[str | object] = []
    literal: list[str] = []
    escaped = False
    for char in pattern:
        if escaped:
            literal.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in "%_":
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(ANY if char == "%" else ONE)
        else:
            literal.append(char)
    if escaped:
        return None
    if literal:
        parts.append("".join(literal))
    return LikePattern(tuple(parts))
