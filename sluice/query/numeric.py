"""Whole-column numeric kernels with Milvus's (C++) semantics.

Integer columns are widened to int64 before any work, so a literal outside
an ``INT8`` column's range compares mathematically (``int8_col < 1000`` is
true for every row) instead of overflowing.  An integer column compared with
a non-integral float is rewritten to an exact integer comparison
(``x < 2.5`` becomes ``x <= 2``), which stays exact beyond 2**53 where a
float64 comparison would not.  Integer ``/`` truncates toward zero and ``%``
keeps the dividend's sign, as in C; a zero divisor makes that row invalid.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from sluice.query.literals import INT64_MAX, INT64_MIN

BoolArray = npt.NDArray[np.bool_]
Int64Array = npt.NDArray[np.int64]

OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}


def compare(op: str, left: Any, right: Any) -> BoolArray:
    """``left op right`` elementwise (NaN compares unequal to everything)."""
    with np.errstate(invalid="ignore"):
        result: BoolArray = np.asarray(OPS[op](left, right), dtype=np.bool_)
    return result


def _constant(n: int, value: bool) -> BoolArray:
    return np.full(n, value, dtype=np.bool_)


def compare_int_column(values: Int64Array, op: str, const: int | float) -> BoolArray:
    """Exact ``values op const`` for an int64 column and any numeric constant."""
    n = len(values)
    if isinstance(const, float):
        if math.isnan(const):
            return _constant(n, op == "!=")
        if math.isinf(const):
            below = const > 0  # every integer is below +inf
            return _constant(
                n,
                {"==": False, "!=": True, "<": below, "<=": below, ">": not below, ">=": not below}[
                    op
                ],
            )
        if not const.is_integer():
            if op in ("==", "!="):
                return _constant(n, op == "!=")
            # x < 2.5 <=> x <= 2, x > 2.5 <=> x >= 3 (floor/ceil keep it exact)
            op, const = {
                "<": ("<=", math.floor(const)),
                "<=": ("<=", math.floor(const)),
                ">": (">=", math.ceil(const)),
                ">=": (">=", math.ceil(const)),
            }[op]
        const = int(const)
    if const > INT64_MAX:
        return _constant(n, op in ("!=", "<", "<="))
    if const < INT64_MIN:
        return _constant(n, op in ("!=", ">", ">="))
    return compare(op, values, np.int64(const))


def compare_float32_column(values: npt.NDArray[np.float32], op: str, const: float) -> BoolArray:
    """Milvus casts the constant to the column's float32 before comparing."""
    with np.errstate(over="ignore"):
        target = np.float32(const)
    return compare(op, values, target)


def c_div(a: Int64Array, b: Int64Array | int) -> tuple[Int64Array, BoolArray | None]:
    """Truncating integer division and the rows whose divisor was zero (or None)."""
    divisor = np.asarray(b, dtype=np.int64)
    zero = divisor == 0
    safe = np.where(zero, 1, divisor) if zero.any() else divisor
    with np.errstate(over="ignore", divide="ignore"):
        remainder = np.fmod(a, safe)
        quotient: Int64Array = (a - remainder) // safe
    return quotient, (np.broadcast_to(zero, a.shape) if zero.any() else None)


def c_mod(a: Int64Array, b: Int64Array | int) -> tuple[Int64Array, BoolArray | None]:
    """C remainder (sign of the dividend) and the rows whose divisor was zero (or None)."""
    divisor = np.asarray(b, dtype=np.int64)
    zero = divisor == 0
    safe = np.where(zero, 1, divisor) if zero.any() else divisor
    with np.errstate(over="ignore", divide="ignore"):
        remainder: Int64Array = np.fmod(a, safe)
    return remainder, (np.broadcast_to(zero, a.shape) if zero.any() else None)


def int_arith(op: str, a: Int64Array, b: Int64Array | int) -> tuple[Int64Array, BoolArray | None]:
    """``a op b`` in int64 (wrapping on overflow), plus rows made invalid by a zero divisor."""
    if op == "/":
        return c_div(a, b)
    if op == "%":
        return c_mod(a, b)
    with np.errstate(over="ignore"):
        if op == "+":
            return np.add(a, b, dtype=np.int64), None
        if op == "-":
            return np.subtract(a, b, dtype=np.int64), None
        return np.multiply(a, b, dtype=np.int64), None


def float_arith(op: str, a: Any, b: Any) -> npt.NDArray[np.float64]:
    """``a op b`` in float64 (IEEE: division by zero gives inf or NaN)."""
    with np.errstate(all="ignore"):
        if op == "+":
            return np.add(a, b, dtype=np.float64)
        if op == "-":
            return np.subtract(a, b, dtype=np.float64)
        if op == "*":
            return np.multiply(a, b, dtype=np.float64)
        if op == "/":
            return np.divide(a, b, dtype=np.float64)
        return np.fmod(a, b, dtype=np.float64)
