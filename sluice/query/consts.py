"""Constants at bind time: folding, type names and casts to a column's type.

Folding follows Milvus's ``operators.go`` (Go int64 semantics: wrap-around,
``/`` truncating toward zero, ``%`` with the dividend's sign, ``**`` always a
float) so that ``a > 7 / 2`` means ``a > 3`` here too.  The one leniency is
in :func:`cast_member`: an integral float such as ``4.0`` may stand for an
integer, and a non-integral one simply never matches an integer column,
instead of Milvus's "cannot be casted" error.
"""

from __future__ import annotations

import math

from sluice.query.bound import Const, ConstValue
from sluice.query.literals import INT64_MAX, INT64_MIN
from sluice.schema import DataType

ARITH_NAMES = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "%": "modulo"}


class FoldError(ValueError):
    """Constant arithmetic that Milvus rejects; the message is the reason."""


def const(value: ConstValue) -> Const:
    """Wrap a Python constant with its Milvus type (lists become ARRAY tuples)."""
    if isinstance(value, bool):
        return Const(value, DataType.BOOL)
    if isinstance(value, int):
        return Const(value, DataType.INT64)
    if isinstance(value, float):
        return Const(value, DataType.DOUBLE)
    if isinstance(value, str):
        return Const(value, DataType.VARCHAR)
    return Const(tuple(value), DataType.ARRAY)


def type_name(dtype: DataType) -> str:
    """Milvus's spelling of a type in messages (``Int64``, ``VarChar``, ``JSON``)."""
    return dtype.milvus_name


def is_number(c: Const) -> bool:
    return c.dtype in (DataType.INT64, DataType.DOUBLE)


def _wrap_int64(value: int) -> int:
    return (value - INT64_MIN) % 2**64 + INT64_MIN


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def c_div(a: int, b: int) -> int:
    """C/Go integer division (truncates toward zero)."""
    return _wrap_int64(_trunc_div(a, b))


def c_mod(a: int, b: int) -> int:
    """C/Go remainder: the result has the dividend's sign."""
    return a - b * _trunc_div(a, b)


def fold_arith(op: str, a: Const, b: Const) -> Const:
    """``a op b`` for two constants, as Milvus folds it."""
    if not (is_number(a) and is_number(b)):
        names = f"{type_name(a.dtype)} and {type_name(b.dtype)}"
        raise FoldError(f"'{ARITH_NAMES.get(op, 'power')}' cannot be applied to {names}")
    x, y = a.value, b.value
    assert isinstance(x, int | float) and isinstance(y, int | float)
    both_int = isinstance(x, int) and isinstance(y, int)
    if op == "**":
        try:
            result = math.pow(float(x), float(y))
        except (OverflowError, ValueError):
            raise FoldError(f"power {x} ** {y} is not a finite number") from None
        return Const(result, DataType.DOUBLE)
    if op == "%":
        if not both_int:
            raise FoldError("modulo can only apply on integer")
        if y == 0:
            raise FoldError("cannot modulo by zero")
        return Const(c_mod(int(x), int(y)), DataType.INT64)
    if op == "/" and y == 0:
        raise FoldError("cannot divide by zero")
    if both_int:
        assert isinstance(x, int) and isinstance(y, int)
        if op == "/":
            return Const(c_div(x, y), DataType.INT64)
        exact = x + y if op == "+" else x - y if op == "-" else x * y
        return Const(_wrap_int64(exact), DataType.INT64)
    fx, fy = float(x), float(y)
    result = fx + fy if op == "+" else fx - fy if op == "-" else fx * fy if op == "*" else fx / fy
    if not math.isfinite(result):
        raise FoldError(f"{x} {op} {y} is not a finite number")
    return Const(result, DataType.DOUBLE)


def fold_negative(a: Const) -> Const:
    if a.dtype == DataType.INT64:
        assert isinstance(a.value, int)
        return Const(_wrap_int64(-a.value), DataType.INT64)
    if a.dtype == DataType.DOUBLE:
        assert isinstance(a.value, float)
        return Const(-a.value, DataType.DOUBLE)
    raise FoldError(f"unary minus cannot be applied to {type_name(a.dtype)}")


def constants_ordered(lower: Const, upper: Const, inclusive: bool) -> bool:
    """Whether ``lower`` may precede ``upper`` in a range (Milvus rejects empty ranges)."""
    lo, hi = lower.value, upper.value
    if is_number(lower) and is_number(upper):
        assert isinstance(lo, int | float) and isinstance(hi, int | float)
        return lo <= hi if inclusive else lo < hi
    if isinstance(lo, str) and isinstance(hi, str):
        return lo <= hi if inclusive else lo < hi
    return True


class CastError(ValueError):
    """A list member that cannot be compared with the column's type."""


def _describe(value: ConstValue) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "[" + ", ".join(_describe(v) for v in value) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)


def cast_member(dtype: DataType, value: ConstValue) -> tuple[bool, ConstValue]:
    """``(usable, value)`` for one ``in`` list member against a column of ``dtype``.

    ``usable`` is False for a number that can never equal a value of the
    column (``2.5`` against an integer column); a type mismatch raises
    :class:`CastError` with Milvus's wording.
    """
    failure = CastError(f"value {_describe(value)} in list cannot be casted to {type_name(dtype)}")
    if dtype == DataType.JSON:
        if isinstance(value, tuple):
            raise CastError(f"value {_describe(value)} in list: nested lists are not supported")
        return True, value
    if isinstance(value, bool):
        if dtype == DataType.BOOL:
            return True, value
        raise failure
    if dtype.is_integer:
        if isinstance(value, int):
            return INT64_MIN <= value <= INT64_MAX, value
        if isinstance(value, float):
            if math.isfinite(value) and value.is_integer():
                as_int = int(value)
                return INT64_MIN <= as_int <= INT64_MAX, as_int
            return False, value
        raise failure
    if dtype in (DataType.FLOAT, DataType.DOUBLE):
        if isinstance(value, int | float):
            return True, float(value)
        raise failure
    if dtype == DataType.VARCHAR and isinstance(value, str):
        return True, value
    raise failure
