"""One sealed segment's scalar indexes, answering the filter evaluator's leaves.

:class:`SegmentIndexes` implements the evaluator's index hook
(``sluice.query.IndexLookup``) structurally, so neither package imports the
other: the engine builds one per segment view and passes it as
``evaluate(bound, table, index=...)``.  It routes a leaf ``(field, path, op,
operands)`` to the index built on that field (for JSON, on that path) and
turns the answer into a boolean mask; no index, or an index that declines,
means ``None`` and the evaluator scans.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

from sluice.index.scalar.base import ScalarIndex
from sluice.index.scalar.columns import ArrowColumn
from sluice.index.scalar.rows import BoolArray, Int64Array, RowHits

PathKey = tuple[str, ...]
_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
_CONTAINS = {"contains": "contains", "contains_all": "all", "contains_any": "any"}


class Leaf(Protocol):
    """The shape of the evaluator's ``IndexLeaf``."""

    @property
    def field(self) -> str: ...
    @property
    def path(self) -> tuple[str | int, ...]: ...
    @property
    def op(self) -> str: ...
    @property
    def operands(self) -> tuple[Any, ...]: ...


def path_key(path: tuple[str | int, ...]) -> PathKey:
    """JSON steps compared as text: ``a[0]`` and ``a["0"]`` address the same value."""
    return tuple(str(step) for step in path)


def answer(index: ScalarIndex, leaf: Leaf, column: ArrowColumn | None = None) -> RowHits | None:
    """Ask ``index`` for one leaf (``None``: it cannot answer exactly)."""
    op, operands = leaf.op, leaf.operands
    if op in _COMPARISONS and len(operands) == 1:
        return index.compare(op, operands[0])
    if op == "range" and len(operands) == 4:
        return index.range(*operands)
    if op == "in":
        return index.isin(operands)
    if op == "like" and len(operands) == 1 and isinstance(operands[0], str):
        return index.like(operands[0], column)
    if op in _CONTAINS:
        return index.contains(_CONTAINS[op], operands)
    if op.upper().startswith("ST_") and operands and isinstance(operands[0], str):
        distance = float(operands[1]) if len(operands) > 1 else None
        return index.relation(op, operands[0], distance)
    return None


class SegmentIndexes:
    """The scalar indexes of one segment of ``num_rows`` rows, keyed by (field, JSON path).

    ``column`` reads a field's column of the same segment; it is used only
    to verify NGRAM candidates and may be omitted (NGRAM then answers just
    the patterns it decides exactly).
    """

    def __init__(
        self,
        num_rows: int,
        indexes: Mapping[tuple[str, tuple[str | int, ...]], ScalarIndex],
        column: Callable[[str], ArrowColumn] | None = None,
    ) -> None:
        self.num_rows = num_rows
        self._indexes = {(field, path_key(path)): index for (field, path), index in indexes.items()}
        self._column = column

    def __len__(self) -> int:
        return len(self._indexes)

    def lookup(self, leaf: Leaf, num_rows: int) -> BoolArray | None:
        """The evaluator's hook: rows satisfying ``leaf``, or ``None`` to scan."""
        hits = self._hits(leaf, num_rows)
        return None if hits is None else np.asarray(hits.to_mask(), dtype=np.bool_)

    def lookup_rows(self, leaf: Leaf, num_rows: int) -> Int64Array | None:
        """The same answer as sorted, distinct row positions (no per-row array)."""
        hits = self._hits(leaf, num_rows)
        return None if hits is None else hits.to_rows()

    def _hits(self, leaf: Leaf, num_rows: int) -> RowHits | None:
        if num_rows != self.num_rows:
            return None
        index = self._indexes.get((leaf.field, path_key(leaf.path)))
        if index is None or index.num_rows != num_rows:
            return None
        column = None
        if leaf.op == "like" and self._column is not None:
            column = self._column(leaf.field)
        return answer(index, leaf, column)
