"""Entries for the scalar types: booleans, integers, floats, VARCHAR and JSON.

Checks run on whole Arrow columns (pyarrow compute), never per value, and
word their refusals like Milvus's proxy (``internal/proxy/validate_util.go``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sluice.errors import DataMismatch, RequestError
from sluice.schema import DataType, FieldSchema
from sluice.types.info import Check, Context, FilterKind, Storage, TypeInfo
from sluice.types.json_check import checked_json

MAX_VARCHAR = 65535
#: ``validate_util.go``'s refusal of a column of the wrong kind (``{name}``: the field).
_PLAIN = "field '{name}' is illegal, array type mismatch"

INT_RANGES = {
    DataType.INT8: (-(2**7), 2**7 - 1),
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
}


def is_null_type(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_null(arrow_type))


def _is_int(arrow_type: pa.DataType) -> bool:
    return is_null_type(arrow_type) or bool(pa.types.is_integer(arrow_type))


def _is_number(arrow_type: pa.DataType) -> bool:
    return _is_int(arrow_type) or bool(pa.types.is_floating(arrow_type))


def _is_bool(arrow_type: pa.DataType) -> bool:
    return is_null_type(arrow_type) or bool(pa.types.is_boolean(arrow_type))


def is_text(arrow_type: pa.DataType) -> bool:
    return (
        is_null_type(arrow_type)
        or bool(pa.types.is_string(arrow_type))
        or bool(pa.types.is_large_string(arrow_type))
    )


def _is_json(arrow_type: pa.DataType) -> bool:
    return is_text(arrow_type) or bool(pa.types.is_binary(arrow_type))


def check_int_range(fld: FieldSchema, values: pa.Array, dtype: DataType | None = None) -> None:
    """Milvus's overflow check for INT8/16/32 values (``dtype``: the range to use)."""
    low, high = INT_RANGES[dtype or fld.dtype]
    if len(values) == values.null_count:
        return
    bad = pc.or_(pc.less(values, low), pc.greater(values, high))
    if pc.any(bad).as_py():
        row = int(pc.index(bad, True).as_py())
        raise DataMismatch.expected(
            "integer doesn't overflow",
            "out of range",
            f"the {row}th element ({values[row].as_py()}) out of range: [{low}, {high}]",
        )


def check_varchar_length(fld: FieldSchema, values: pa.Array) -> None:
    """Milvus measures bytes (Go ``len``), not characters."""
    max_length = fld.max_length or MAX_VARCHAR
    if len(values) == values.null_count:
        return
    lengths = pc.binary_length(values)
    longest = pc.max(lengths).as_py()
    if longest is not None and longest > max_length:
        row = int(pc.index(pc.greater(lengths, max_length), True).as_py())
        raise DataMismatch.msg(
            f"length of varchar field {fld.name} exceeds max length, row number: {row}, "
            f"length: {longest}, max length: {max_length}"
        )


def _integer_check(fld: FieldSchema, values: pa.Array, ctx: Context) -> pa.Array:
    if fld.dtype in INT_RANGES:
        check_int_range(fld, values)
    return values.cast(_ARROW[fld.dtype])


def _plain_check(fld: FieldSchema, values: pa.Array, ctx: Context) -> pa.Array:
    return values.cast(_ARROW[fld.dtype])


def _varchar_check(fld: FieldSchema, values: pa.Array, ctx: Context) -> pa.Array:
    check_varchar_length(fld, values)
    return values.cast(pa.string())


def _json_check(fld: FieldSchema, values: pa.Array, ctx: Context) -> pa.Array:
    # JSON values are kept as their UTF-8 encoded text, exactly as received, once each
    # document is known to parse back.
    return checked_json(fld, values, ctx.static_names)


def not_a_number(value: float) -> str:
    """``value '%f' is not a number or infinity`` with Go's spelling of the value."""
    spelled = "NaN" if value != value else ("+Inf" if value > 0 else "-Inf")
    return f"value '{spelled}' is not a number or infinity"


def check_finite_floats(data: np.ndarray) -> None:
    """Milvus's ``VerifyFloats``: NaN and infinities are refused, naming the first one."""
    finite = np.isfinite(data)
    if not finite.all():
        raise RequestError(not_a_number(float(data.ravel()[np.argmin(finite.ravel())])))


def _float_check(fld: FieldSchema, values: pa.Array, ctx: Context) -> pa.Array:
    stored = values.cast(_ARROW[fld.dtype])
    if len(stored) == stored.null_count:
        return stored
    finite = pc.fill_null(pc.is_finite(stored), True)
    if not pc.all(finite).as_py():
        row = int(pc.index(finite, False).as_py())
        raise RequestError(not_a_number(float(stored[row].as_py())))
    return stored


_ARROW: dict[DataType, pa.DataType] = {
    DataType.BOOL: pa.bool_(),
    DataType.INT8: pa.int8(),
    DataType.INT16: pa.int16(),
    DataType.INT32: pa.int32(),
    DataType.INT64: pa.int64(),
    DataType.FLOAT: pa.float32(),
    DataType.DOUBLE: pa.float64(),
    DataType.VARCHAR: pa.string(),
    DataType.JSON: pa.binary(),
}


def scalar_arrow(dtype: DataType) -> pa.DataType:
    """The Arrow type of a plain scalar (also an ARRAY's element type)."""
    return _ARROW[dtype]


def _entry(
    dtype: DataType,
    accepts: Callable[[pa.DataType], bool],
    mismatch: tuple[str, str],
    check: Check,
    filter_kind: FilterKind,
    placeholder: object,
    *,
    groupable: bool,
    element: bool = True,
) -> TypeInfo:
    arrow = _ARROW[dtype]
    return TypeInfo(
        dtype=dtype,
        storage=Storage.ARROW,
        arrow=lambda _fld: arrow,
        accepts=accepts,
        mismatch=mismatch,
        check=check,
        filter=filter_kind,
        groupable=groupable,
        placeholder=placeholder,
        array_element=element,
    )


SCALARS: tuple[TypeInfo, ...] = (
    _entry(
        DataType.BOOL, _is_bool, (_PLAIN, "need bool array"), _plain_check, FilterKind.BOOL, False,
        groupable=True,
    ),
    _entry(
        DataType.INT8, _is_int, (_PLAIN, "need int array"), _integer_check, FilterKind.NUMBER, 0,
        groupable=True,
    ),
    _entry(
        DataType.INT16, _is_int, (_PLAIN, "need int array"), _integer_check, FilterKind.NUMBER, 0,
        groupable=True,
    ),
    _entry(
        DataType.INT32, _is_int, (_PLAIN, "need int array"), _integer_check, FilterKind.NUMBER, 0,
        groupable=True,
    ),
    _entry(
        DataType.INT64, _is_int, (_PLAIN, "need long int array"), _integer_check, FilterKind.NUMBER,
        0, groupable=True,
    ),
    _entry(
        DataType.FLOAT, _is_number, (_PLAIN, "need float32 array"), _float_check, FilterKind.NUMBER,
        0.0, groupable=False,
    ),
    _entry(
        DataType.DOUBLE, _is_number, (_PLAIN, "need float64(double) array"), _float_check,
        FilterKind.NUMBER, 0.0, groupable=False,
    ),
    _entry(
        DataType.VARCHAR, is_text, ("varchar " + _PLAIN, "need string array"), _varchar_check,
        FilterKind.STRING, "", groupable=True,
    ),
    _entry(
        DataType.JSON, _is_json, ("json " + _PLAIN, "need json array"), _json_check, FilterKind.JSON,
        b"", groupable=False, element=False,
    ),
)  # fmt: skip
