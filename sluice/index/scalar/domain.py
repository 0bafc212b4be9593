"""Key domains: how a column's values become sortable keys, and constants become bounds.

An index answers a predicate only when its answer equals the full-column
scan's, row for row, so every constant is mapped onto the index's keys with
the scan's own semantics:

* ``int``: integer columns (and TIMESTAMPTZ) as int64.  A float constant is
  rewritten exactly (``x < 2.5`` is ``x <= 2``, ``x == 2.5`` matches
  nothing), an integer beyond int64 compares mathematically, NaN matches only
  ``!=``: the same rules as the evaluator's integer comparison.
* ``float32``: FLOAT columns; the constant is rounded to float32 first, as
  Milvus does.  NaN keys are kept out of the sorted keys (they satisfy only
  ``!=``).
* ``float64``: DOUBLE columns, and JSON numbers (see :mod:`jsoncast`).
* ``str``: VARCHAR; keys are Python strings in code-point order, which is
  the UTF-8 byte order Arrow compares in.
* ``bool``: BOOL, keys 0 and 1.

A comparison becomes an :class:`Interval` over the domain (possibly empty or
everything); a range such as ``1 < x <= 5`` is the intersection of two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

INT: Final = "int"
FLOAT32: Final = "float32"
FLOAT64: Final = "float64"
STR: Final = "str"
BOOL: Final = "bool"
DOMAINS: Final = (INT, FLOAT32, FLOAT64, STR, BOOL)

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
#: Integers a float64 holds exactly.
EXACT_FLOAT_INT: Final = 2**53

COMPARISONS: Final = ("==", "!=", "<", "<=", ">", ">=")


class Unanswerable(Exception):
    """The constant cannot be mapped onto the index's keys; the caller must scan."""


@dataclass(frozen=True, slots=True)
class Interval:
    """Keys ``k`` with ``lo <(=) k <(=) hi``; ``None`` bounds are open ends.

    ``empty`` is the interval no key is in; ``Interval()`` holds every
    non-null, non-NaN key.
    """

    lo: Any = None
    lo_inclusive: bool = True
    hi: Any = None
    hi_inclusive: bool = True
    empty: bool = False

    def intersect(self, other: Interval) -> Interval:
        if self.empty or other.empty:
            return EMPTY
        lo, lo_inc = self.lo, self.lo_inclusive
        if other.lo is not None and (
            lo is None or other.lo > lo or (other.lo == lo and not other.lo_inclusive)
        ):
            lo, lo_inc = other.lo, other.lo_inclusive
        hi, hi_inc = self.hi, self.hi_inclusive
        if other.hi is not None and (
            hi is None or other.hi < hi or (other.hi == hi and not other.hi_inclusive)
        ):
            hi, hi_inc = other.hi, other.hi_inclusive
        if (
            lo is not None
            and hi is not None
            and (lo > hi or (lo == hi and not (lo_inc and hi_inc)))
        ):
            return EMPTY
        return Interval(lo, lo_inc, hi, hi_inc)


EMPTY: Final = Interval(empty=True)
EVERYTHING: Final = Interval()


def _from_op(op: str, key: Any) -> Interval:
    if op == "==":
        return Interval(key, True, key, True)
    if op == "<":
        return Interval(hi=key, hi_inclusive=False)
    if op == "<=":
        return Interval(hi=key, hi_inclusive=True)
    if op == ">":
        return Interval(lo=key, lo_inclusive=False)
    if op == ">=":
        return Interval(lo=key, lo_inclusive=True)
    raise ValueError(f"no interval for {op}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _int_interval(op: str, const: int | float) -> Interval:
    if isinstance(const, float):
        if math.isnan(const):
            return EMPTY
        if math.isinf(const):
            every_int_below = const > 0
            below = op in ("<", "<=")
            above = op in (">", ">=")
            return (
                EVERYTHING
                if (below and every_int_below) or (above and not every_int_below)
                else EMPTY
            )
        if not const.is_integer():
            if op == "==":
                return EMPTY
            if op in ("<", "<="):
                op, const = "<=", math.floor(const)
            else:
                op, const = ">=", math.ceil(const)
        const = int(const)
    if const > INT64_MAX:
        return EVERYTHING if op in ("<", "<=") else EMPTY
    if const < INT64_MIN:
        return EVERYTHING if op in (">", ">=") else EMPTY
    return _from_op(op, const)


def comparison_interval(domain: str, op: str, const: Any) -> Interval:
    """Keys of ``domain`` satisfying ``key op const`` for ``op`` in ``== < <= > >=``.

    Raises :class:`Unanswerable` when ``const`` has a type the domain cannot
    compare with (the scan would decide per row, e.g. JSON typing).
    """
    if domain == INT:
        if not _is_number(const):
            raise Unanswerable(const)
        return _int_interval(op, const)
    if domain in (FLOAT32, FLOAT64):
        if not _is_number(const):
            raise Unanswerable(const)
        try:
            if domain == FLOAT32:
                with np.errstate(over="ignore"):
                    key: Any = np.float32(const)
            else:
                key = float(const)
        except OverflowError as err:
            raise Unanswerable(const) from err
        if math.isnan(key):
            return EMPTY
        return _from_op(op, key)
    if domain == STR:
        if not isinstance(const, str):
            raise Unanswerable(const)
        return _from_op(op, const)
    if domain == BOOL:
        if not isinstance(const, bool) or op not in ("==",):
            raise Unanswerable(const)
        return _from_op(op, int(const))
    raise ValueError(f"unknown domain {domain}")


def _fast_members(domain: str, values: Any) -> Any:
    """Whole-list conversion for the common lists (all ints, all floats, all strings)."""
    kinds = set(map(type, values))
    if domain == STR and kinds == {str}:
        return list(values)
    if domain == INT and kinds == {int}:
        try:
            return np.asarray(values, dtype=np.int64)
        except OverflowError:
            return None
    if domain in (FLOAT32, FLOAT64) and kinds and kinds <= {int, float}:
        try:
            with np.errstate(over="ignore"):
                keys = np.asarray(values, dtype=np.float64)
                if domain == FLOAT32:
                    keys = keys.astype(np.float32)
        except OverflowError:
            return None
        return keys[~np.isnan(keys)]
    return None


def member_keys(domain: str, values: Any) -> Any:
    """The keys ``in [values]`` can equal: values that cannot match are dropped.

    Raises :class:`Unanswerable` for a member of a type the domain does not
    hold, because such a member could match rows the index never saw.
    """
    fast = _fast_members(domain, values)
    if fast is not None:
        return fast
    keys: list[Any] = []
    for value in values:
        interval = comparison_interval(domain, "==", value)
        if not interval.empty:
            keys.append(interval.lo)
    return keys


def prefix_interval(prefix: str) -> Interval:
    """Strings starting with ``prefix``: ``[prefix, successor)`` in code-point order."""
    if not prefix:
        return EVERYTHING
    stem = prefix
    while stem and ord(stem[-1]) == 0x10FFFF:
        stem = stem[:-1]
    if not stem:
        return Interval(lo=prefix, lo_inclusive=True)
    successor = stem[:-1] + chr(ord(stem[-1]) + 1)
    return Interval(prefix, True, successor, False)
