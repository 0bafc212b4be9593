"""The evaluator's optional hook into scalar indexes, without depending on them.

While evaluating a bound filter, the evaluator offers each indexable leaf to
an :class:`IndexLookup` (the engine implements it with the segment's scalar
indexes; this package never imports :mod:`sluice.index`).  The lookup
returns the rows of the batch that satisfy the leaf as a boolean mask, or
``None`` to let the evaluator scan.  A mask must equal what the scan would
compute *before* validity is applied: the evaluator still ANDs it with the
field's validity (for JSON, the document's), so the three-valued logic of
``not``/``and``/``or`` is unchanged.

Leaves offered, as :class:`IndexLeaf` ``(field, path, op, operands)``:

=====================  =========================================================
``== != < <= > >=``    ``field[path] op c``; operands ``(c,)``
``range``              two comparisons of the same field under one ``and``;
                       operands ``(lower, lower_inclusive, upper, upper_inclusive)``
``in``                 ``field[path] in [...]``; operands are the members, already
                       cast to the field's type by the binder
``like``               operands ``(pattern,)``
``contains``           ``json_contains``/``array_contains``; operands ``(value,)``
``contains_all``       operands are the values
``contains_any``       operands are the values
``text_match``         ``text_match(field, q)``; operands ``(q,)``
``phrase_match``       ``phrase_match(field, q, slop)``; operands ``(q, slop)``
=====================  =========================================================

``text_match`` and ``phrase_match`` leaves cannot be scanned here (this package
has no analyzers): a lookup must answer them, or the evaluation fails.

``field`` is a column name (``$meta`` for dynamic keys) and ``path`` the
JSON steps below it (``()`` for a plain column).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sluice.query.ast import PathStep
from sluice.query.bound import ConstValue
from sluice.query.numeric import BoolArray

COMPARISON_OPS = ("==", "!=", "<", "<=", ">", ">=")
RANGE = "range"
IN = "in"
LIKE = "like"
CONTAINS_OPS = {"contains": "contains", "all": "contains_all", "any": "contains_any"}
TEXT_MATCH = "text_match"
PHRASE_MATCH = "phrase_match"


@dataclass(frozen=True, slots=True)
class IndexLeaf:
    """One predicate an index may answer; see the module docstring."""

    field: str
    path: tuple[PathStep, ...]
    op: str
    operands: tuple[ConstValue | bool | None, ...]


class IndexLookup(Protocol):
    """Answers leaves over the batch being evaluated, or declines with ``None``."""

    def lookup(self, leaf: IndexLeaf, num_rows: int) -> BoolArray | None:
        """Rows satisfying ``leaf`` (before validity), one bool per batch row."""
        ...
