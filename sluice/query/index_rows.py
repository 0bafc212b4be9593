"""Whole filters answered by one index lookup, as row positions rather than a mask.

:func:`~sluice.query.evaluate` always returns a boolean mask of the batch.  For a
selective filter on an indexed field that mask is the dominant cost: the index
finds its 1,000 rows of a million in microseconds, and then a million booleans
are written and scanned again to recover those rows.  When the *whole* filter
is one leaf an index answers (``f op c``, ``f in [...]``, ``f like p``,
``json_contains``, or a lower and an upper bound of one field under ``and``),
:func:`indexed_rows` asks the hook for the rows directly and never touches a
per-row array.  Anything else returns ``None`` and the caller evaluates the
mask as usual; both paths give the same rows (the hook's contract).

Leaves are formed exactly as the evaluator forms them (see
:mod:`sluice.query.index_hook`); validity is applied to the rows, as the
evaluator applies it to a mask.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from sluice.query.bound import (
    AndPred,
    BoundExpr,
    Cmp,
    ColumnRef,
    Const,
    InList,
    JsonContains,
    JsonRef,
    LikeMatch,
    Predicate,
)
from sluice.query.columns import Batch, Columns
from sluice.query.index_hook import CONTAINS_OPS, IN, LIKE, RANGE, IndexLeaf

Int64Array = npt.NDArray[np.int64]

_LOWER_OPS = (">", ">=")
_UPPER_OPS = ("<", "<=")


class IndexRowLookup(Protocol):
    """An index hook that can also answer a leaf as sorted, distinct row positions."""

    def lookup_rows(self, leaf: IndexLeaf, num_rows: int) -> Int64Array | None: ...


def indexed_rows(
    bound: BoundExpr,
    batch: Batch,
    index: IndexRowLookup,
    json_cache: MutableMapping[tuple[str, tuple[str | int, ...]], Any] | None = None,
) -> Int64Array | None:
    """Rows of ``batch`` satisfying ``bound`` when one lookup answers it all, else ``None``."""
    target = _leaf(bound.root)
    if target is None:
        return None
    ref, op, operands = target
    column, path = (ref.column, ref.path) if isinstance(ref, JsonRef) else (ref.name, ())
    rows = index.lookup_rows(IndexLeaf(column, path, op, operands), batch.num_rows)
    if rows is None or len(rows) == 0:
        return rows
    columns = Columns(batch, bound.text, json_cache)
    if isinstance(ref, JsonRef):
        valid = columns.json_valid(ref.column, ref.is_meta)
    else:
        valid = columns.valid(ref.name)
    if valid is columns.all_valid():
        return rows
    return rows[valid[rows]]


def _leaf(node: Predicate) -> tuple[ColumnRef | JsonRef, str, tuple[Any, ...]] | None:
    if isinstance(node, Cmp):
        if isinstance(node.right, Const) and isinstance(node.left, ColumnRef | JsonRef):
            return node.left, node.op, (node.right.value,)
        return None
    if isinstance(node, InList):
        # An array element (``a[0] in [...]``) has no index of its own.
        if not isinstance(node.operand, ColumnRef | JsonRef):
            return None
        return node.operand, IN, node.values
    if isinstance(node, LikeMatch):
        if not isinstance(node.operand, ColumnRef | JsonRef):
            return None
        return node.operand, LIKE, (node.pattern,)
    if isinstance(node, JsonContains):
        return node.ref, CONTAINS_OPS[node.mode], node.values
    if isinstance(node, AndPred) and len(node.children) == 2:
        return _range(*node.children)
    return None


def _range(a: Predicate, b: Predicate) -> tuple[ColumnRef | JsonRef, str, tuple[Any, ...]] | None:
    """``lower < f and f < upper`` (either order) as one range leaf."""
    if not (isinstance(a, Cmp) and isinstance(b, Cmp)):
        return None
    if a.op in _UPPER_OPS:
        a, b = b, a
    if a.op not in _LOWER_OPS or b.op not in _UPPER_OPS:
        return None
    if not (isinstance(a.right, Const) and isinstance(b.right, Const)):
        return None
    if not isinstance(a.left, ColumnRef | JsonRef) or a.left != b.left:
        return None
    return a.left, RANGE, (a.right.value, a.op == ">=", b.right.value, b.op == "<=")
