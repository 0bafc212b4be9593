"""The value ranges a filter confines one field to, for pruning clustered segments.

Clustering compaction leaves segments that each hold one range of the
clustering key, with the range's bounds in the segment's metadata.  A row
can pass ``key == v``, ``key in [..]``, ``key < v`` (and the other
comparisons), an ``and`` with such a condition among its children, or an
``or`` of them, only if its key lies in the ranges :func:`field_ranges`
returns; a segment whose key range meets none of them holds no row the
filter matches and need not be read.  ``None`` means the filter does not
confine the field (a negation, ``!=``, arithmetic, an ``or`` with another
condition), so nothing may be skipped.  Null keys never pass a comparison,
so a segment of null keys only is skipped whenever the field is confined.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

from sluice.query.bound import AndPred, BoundExpr, Cmp, ColumnRef, Const, InList, OrPred, Predicate

#: Past this many disjoint ranges (an ``and`` of long ``in`` lists) pruning is not worth it.
MAX_RANGES = 1024

#: A clustering-key value: an int, float or str (compared with Python's operators;
#: a comparison of mismatched types rules nothing out).
Key: TypeAlias = Any


@dataclass(frozen=True, slots=True)
class KeyRange:
    """An interval of key values; ``None`` bounds are unbounded, ``*_open`` excludes the bound."""

    lo: Key | None = None
    hi: Key | None = None
    lo_open: bool = False
    hi_open: bool = False

    def meets(self, lo: Key, hi: Key) -> bool:
        """Whether any value in the closed interval ``[lo, hi]`` lies in this range."""
        try:
            if self.lo is not None and (hi < self.lo or (self.lo_open and hi == self.lo)):
                return False
            return self.hi is None or not (lo > self.hi or (self.hi_open and lo == self.hi))
        except TypeError:  # values of another type than the key's: cannot rule anything out
            return True

    def intersect(self, other: KeyRange) -> KeyRange | None:
        """The values in both ranges, or ``None`` when there are none."""
        lo, lo_open = _tighter(self.lo, self.lo_open, other.lo, other.lo_open, upper=False)
        hi, hi_open = _tighter(self.hi, self.hi_open, other.hi, other.hi_open, upper=True)
        if lo is not None and hi is not None:
            try:
                if lo > hi or (lo == hi and (lo_open or hi_open)):
                    return None
            except TypeError:
                return self
        return KeyRange(lo, hi, lo_open, hi_open)


def _tighter(
    a: Key | None, a_open: bool, b: Key | None, b_open: bool, *, upper: bool
) -> tuple[Key | None, bool]:
    if a is None:
        return b, b_open
    if b is None:
        return a, a_open
    try:
        if a == b:
            return a, a_open or b_open
        a_wins = a < b if upper else a > b
    except TypeError:
        return a, a_open
    return (a, a_open) if a_wins else (b, b_open)


def field_ranges(bound: BoundExpr | None, name: str) -> list[KeyRange] | None:
    """The ranges of ``name`` a row must fall in to pass ``bound``, or ``None``: any value."""
    if bound is None:
        return None
    return _ranges(bound.root, name)


def meets_any(ranges: list[KeyRange], lo: Key | None, hi: Key | None) -> bool:
    """Whether a segment with keys in ``[lo, hi]`` (``None``: only nulls) may match."""
    if lo is None or hi is None:
        return False
    return any(r.meets(lo, hi) for r in ranges)


def _ranges(node: Predicate, name: str) -> list[KeyRange] | None:
    if isinstance(node, AndPred):
        found: list[KeyRange] | None = None
        for child in node.children:
            ranges = _ranges(child, name)
            if ranges is None:
                continue
            if found is None:
                found = ranges
                continue
            found = [m for a in found for b in ranges if (m := a.intersect(b)) is not None]
            if len(found) > MAX_RANGES:
                return None
        return found
    if isinstance(node, OrPred):
        union: list[KeyRange] = []
        for child in node.children:
            ranges = _ranges(child, name)
            if ranges is None:
                return None
            union.extend(ranges)
        return union if len(union) <= MAX_RANGES else None
    if isinstance(node, InList):
        if isinstance(node.operand, ColumnRef) and node.operand.name == name:
            points = [v for v in node.values if isinstance(v, int | float | str)]
            if len(points) != len(node.values) or len(points) > MAX_RANGES:
                return None
            return [KeyRange(v, v) for v in points]
        return None
    if isinstance(node, Cmp):
        return _compared(node, name)
    return None


def _compared(node: Cmp, name: str) -> list[KeyRange] | None:
    left, right = node.left, node.right
    if not (isinstance(left, ColumnRef) and left.name == name and isinstance(right, Const)):
        return None
    value = right.value
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    match node.op:
        case "==":
            return [KeyRange(value, value)]
        case "<":
            return [KeyRange(hi=value, hi_open=True)]
        case "<=":
            return [KeyRange(hi=value)]
        case ">":
            return [KeyRange(lo=value, lo_open=True)]
        case ">=":
            return [KeyRange(lo=value)]
    return None


__all__ = ["KeyRange", "field_ranges", "meets_any"]
