"""Turning a client's columns into rows a collection can store — or a clear refusal.

Every check runs on whole columns (pyarrow compute / numpy), before any
byte reaches the WAL, so a rejected insert leaves nothing behind.  Wording
follows Milvus's proxy (``internal/proxy/validate_util.go``) because client
test suites match on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sluice.engine.json_check import checked_json
from sluice.errors import DataMismatch, RequestError, SluiceError
from sluice.schema import DYNAMIC_FIELD, CollectionSchema, DataType, FieldSchema

_INT_RANGES = {
    DataType.INT8: (-(2**7), 2**7 - 1),
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
}


@dataclass(frozen=True)
class Column:
    """One field's values as a client sent them, already in Arrow form."""

    name: str
    dtype: DataType
    values: pa.Array
    #: For vectors: the dimension the client declared.
    dim: int | None = None
    is_dynamic: bool = False


def prepare_rows(
    schema: CollectionSchema,
    columns: Sequence[Column],
    num_rows: int,
    allocate_ids: Callable[[int], int],
    *,
    upsert: bool = False,
) -> pa.Table:
    """Validate ``columns`` against ``schema`` and build the stored table (no ``$ts`` yet).

    An upsert names the rows it replaces, so it must carry the primary key
    even when the collection generates keys for inserts.
    """
    by_name: dict[str, Column] = {}
    for col in columns:
        name = DYNAMIC_FIELD if col.is_dynamic else col.name
        if name in by_name:
            raise DataMismatch.msg(f"duplicated field {col.name} found")
        by_name[name] = col
    if num_rows <= 0:
        raise DataMismatch.expected(
            "invalid num_rows", num_rows, "num_rows should be greater than 0"
        )

    pk = schema.primary
    generated = pk.auto_id and not upsert
    passable = [f for f in schema.fields if not f.is_dynamic and not (f.is_primary and generated)]
    sent = [name for name in by_name if name != DYNAMIC_FIELD]
    unknown = [name for name in sent if schema.get(name) is None]
    if unknown or (generated and pk.name in by_name):
        raise DataMismatch.expected(len(passable), len(sent), "more fieldData has pass in")
    if DYNAMIC_FIELD in by_name and schema.dynamic_field is None:
        raise DataMismatch.msg("dynamic field is not enabled in this collection")

    static_names = [f.name for f in schema.fields if not f.is_dynamic]
    arrays = [
        _column_for(
            fld,
            by_name.get(fld.name if not fld.is_dynamic else DYNAMIC_FIELD),
            num_rows,
            allocate_ids,
            static_names,
            generate=generated and fld.is_primary,
        )
        for fld in schema.fields
    ]
    return pa.Table.from_arrays(arrays, schema=pa.schema([f.arrow_field() for f in schema.fields]))


def _column_for(
    fld: FieldSchema,
    col: Column | None,
    num_rows: int,
    allocate_ids: Callable[[int], int],
    static_names: Sequence[str],
    generate: bool = False,
) -> pa.Array:
    if generate:
        first = allocate_ids(num_rows)
        ids = np.arange(first, first + num_rows, dtype=np.int64)
        if fld.dtype == DataType.VARCHAR:
            # Milvus generates VARCHAR auto IDs as the decimal text of an int64 ID.
            return pc.cast(pa.array(ids), pa.string())
        return pa.array(ids)
    if fld.is_dynamic:
        if col is None:
            return pa.array([b"{}"] * num_rows, type=pa.binary())
        return checked_json(fld, _check_length(fld, col, num_rows), static_names)
    if col is None:
        if fld.nullable or fld.default_value is not None:
            return missing_column(fld, num_rows)
        raise DataMismatch.msg(f"fieldSchema({fld.name}) has no corresponding fieldData pass in")
    if col.dtype != fld.dtype and not _compatible(col.dtype, fld.dtype):
        raise _type_mismatch(fld)
    if not _payload_fits(fld.dtype, col.values.type):
        raise _type_mismatch(fld)
    values = _check_length(fld, col, num_rows)
    if fld.dtype == DataType.FLOAT_VECTOR:
        return _check_vectors(fld, col, values)
    if values.null_count:
        if fld.is_primary:
            raise DataMismatch.msg("primary field not support null")
        if fld.default_value is not None:
            values = pc.fill_null(values, pa.scalar(fld.default_value, type=fld.arrow_type))
        elif not fld.nullable:
            raise DataMismatch.msg(f"the field {fld.name} is not nullable but got null values")
    if fld.dtype in _INT_RANGES:
        _check_int_range(fld, values)
    if fld.dtype == DataType.VARCHAR:
        _check_varchar(fld, values)
    if fld.dtype == DataType.JSON:
        return checked_json(fld, values, static_names)
    try:
        stored = values.cast(fld.arrow_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise _type_mismatch(fld) from None
    if fld.dtype in (DataType.FLOAT, DataType.DOUBLE):
        _check_finite(stored)
    return stored


_EXPECTED_ARRAY = {
    DataType.BOOL: ("", "need bool array"),
    DataType.INT8: ("", "need int array"),
    DataType.INT16: ("", "need int array"),
    DataType.INT32: ("", "need int array"),
    DataType.INT64: ("", "need long int array"),
    DataType.FLOAT: ("", "need float32 array"),
    DataType.DOUBLE: ("", "need float64(double) array"),
    DataType.VARCHAR: ("varchar ", "need string array"),
    DataType.JSON: ("json ", "need json array"),
    DataType.FLOAT_VECTOR: ("float vector ", "need float vector"),
}


def _type_mismatch(fld: FieldSchema) -> DataMismatch:
    """``validate_util.go``: ``<kind>field '<f>' is illegal, array type mismatch``."""
    kind, expected = _EXPECTED_ARRAY.get(fld.dtype, ("", "valid data"))
    return DataMismatch.expected(
        expected, "got nil", f"{kind}field '{fld.name}' is illegal, array type mismatch"
    )


def _payload_fits(dtype: DataType, arrow_type: pa.DataType) -> bool:
    """Whether the values' storage suits the field, whatever type label the client put on it."""
    if pa.types.is_null(arrow_type):
        return True
    if dtype.is_integer:
        return pa.types.is_integer(arrow_type)
    if dtype in (DataType.FLOAT, DataType.DOUBLE):
        return pa.types.is_floating(arrow_type) or pa.types.is_integer(arrow_type)
    if dtype == DataType.BOOL:
        return pa.types.is_boolean(arrow_type)
    if dtype == DataType.VARCHAR:
        return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
    if dtype == DataType.JSON:
        return pa.types.is_binary(arrow_type) or pa.types.is_string(arrow_type)
    if dtype == DataType.FLOAT_VECTOR:
        return pa.types.is_fixed_size_list(arrow_type)
    return True


def _compatible(sent: DataType, declared: DataType) -> bool:
    # pymilvus sends VarChar data typed as String in some paths.
    return {sent, declared} <= {DataType.VARCHAR, DataType.STRING}


def _check_length(fld: FieldSchema, col: Column, num_rows: int) -> pa.Array:
    values = col.values
    if len(values) != num_rows:
        raise DataMismatch.expected(
            num_rows,
            len(values),
            f"the num_rows ({len(values)}) of field ({fld.name}) is not equal to passed num_rows "
            f"({num_rows})",
        )
    return values


def _check_vectors(fld: FieldSchema, col: Column, values: pa.Array) -> pa.Array:
    assert fld.dim is not None
    got = col.dim
    if got is None and isinstance(values.type, pa.FixedSizeListType):
        got = values.type.list_size
    if got != fld.dim or not isinstance(values.type, pa.FixedSizeListType):
        raise DataMismatch.expected(
            fld.dim,
            got,
            f"the dim ({got}) of field data({fld.name}) is not equal to schema dim ({fld.dim})",
        )
    if values.null_count:
        raise DataMismatch.msg(f"the field {fld.name} is not nullable but got null values")
    flat = values.values
    if flat.null_count:
        raise DataMismatch.msg(f"the field {fld.name} contains null values")
    check_finite_floats(flat.to_numpy(zero_copy_only=False))
    return values.cast(fld.arrow_type)


def check_finite_floats(data: np.ndarray) -> None:
    """Milvus's ``VerifyFloats``: NaN and infinities are refused, naming the first one."""
    finite = np.isfinite(data)
    if not finite.all():
        raise RequestError(not_a_number(float(data.ravel()[np.argmin(finite.ravel())])))


def not_a_number(value: float) -> str:
    """``value '%f' is not a number or infinity`` with Go's spelling of the value."""
    spelled = "NaN" if value != value else ("+Inf" if value > 0 else "-Inf")
    return f"value '{spelled}' is not a number or infinity"


def _check_finite(values: pa.Array) -> None:
    if len(values) == values.null_count:
        return
    finite = pc.is_finite(values)
    if pc.all(pc.fill_null(finite, True)).as_py():
        return
    row = int(pc.index(pc.fill_null(finite, True), False).as_py())
    raise RequestError(not_a_number(float(values[row].as_py())))


def _check_int_range(fld: FieldSchema, values: pa.Array) -> None:
    low, high = _INT_RANGES[fld.dtype]
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


def _check_varchar(fld: FieldSchema, values: pa.Array) -> None:
    max_length = fld.max_length or 65535
    if len(values) == values.null_count:
        return
    # Milvus measures bytes (Go ``len``), not characters.
    lengths = pc.binary_length(values)
    longest = pc.max(lengths).as_py()
    if longest is not None and longest > max_length:
        row = int(pc.index(pc.greater(lengths, max_length), True).as_py())
        raise DataMismatch.msg(
            f"length of varchar field {fld.name} exceeds max length, row number: {row}, "
            f"length: {longest}, max length: {max_length}"
        )


def missing_column(fld: FieldSchema, num_rows: int) -> pa.Array:
    """The column of a field with no data: its default value in every row, else nulls."""
    if fld.default_value is not None:
        return pa.array([fld.default_value] * num_rows, type=fld.arrow_type)
    return pa.nulls(num_rows, type=fld.arrow_type)


def primary_keys(table: pa.Table, schema: CollectionSchema) -> np.ndarray:
    pk = table.column(schema.primary.name)
    if pk.null_count:
        raise DataMismatch.msg(f"primary key field {schema.primary.name} contains null values")
    return pk.to_numpy(zero_copy_only=False)


__all__ = ["Column", "DataMismatch", "SluiceError", "prepare_rows", "primary_keys"]
