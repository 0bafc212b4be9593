"""Row-by-row Python answers the scalar indexes are checked against.

Python compares ``int`` with ``float`` exactly and strings by code point,
which are the filter evaluator's semantics for integer and VARCHAR columns;
FLOAT columns compare after rounding the constant to float32, as Milvus
does.  Nulls never match; NaN matches only ``!=``.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def as_float32(value: Any) -> float:
    with np.errstate(over="ignore"):
        return float(np.float32(value))


def compare(values: Sequence[Any], op: str, const: Any, float32: bool = False) -> set[int]:
    target = as_float32(const) if float32 else const
    return {
        row
        for row, value in enumerate(values)
        if value is not None and OPS[op](as_float32(value) if float32 else value, target)
    }


def in_range(
    values: Sequence[Any], lower: Any, lower_inc: bool, upper: Any, upper_inc: bool, float32: bool
) -> set[int]:
    rows = {r for r, v in enumerate(values) if v is not None}
    if lower is not None:
        rows &= compare(values, ">=" if lower_inc else ">", lower, float32)
    if upper is not None:
        rows &= compare(values, "<=" if upper_inc else "<", upper, float32)
    return rows


def members(values: Sequence[Any], targets: Sequence[Any], float32: bool = False) -> set[int]:
    found: set[int] = set()
    for target in targets:
        found |= compare(values, "==", target, float32)
    return found


def like(values: Sequence[Any], pattern: str) -> set[int]:
    regex = []
    escaped = False
    for char in pattern:
        if escaped:
            regex.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            regex.append(".*")
        elif char == "_":
            regex.append(".")
        else:
            regex.append(re.escape(char))
    compiled = re.compile("".join(regex), re.DOTALL)
    return {r for r, v in enumerate(values) if v is not None and compiled.fullmatch(v)}


def contains(
    arrays: Sequence[Any], mode: str, targets: Sequence[Any], float32: bool = False
) -> set[int]:
    def equal(element: Any, target: Any) -> bool:
        if element is None:
            return False
        if isinstance(element, bool) != isinstance(target, bool):
            return False
        if float32:
            return as_float32(element) == as_float32(target)
        return bool(element == target)

    rows = set()
    for row, array in enumerate(arrays):
        if array is None:
            continue
        hits = [any(equal(e, t) for e in array) for t in targets]
        if (mode == "all" and all(hits)) or (mode in ("any", "contains") and any(hits)):
            rows.add(row)
    return rows


def is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)
