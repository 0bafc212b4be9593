"""Turning a client's columns into rows a collection can store — or a clear refusal.

Every check runs on whole columns (pyarrow compute / numpy), before any
byte reaches the WAL, so a rejected insert leaves nothing behind.  Wording
follows Milvus's proxy (``internal/proxy/validate_util.go``) because client
test suites match on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sluice.errors import DataMismatch, SluiceError
from sluice.schema import DYNAMIC_FIELD, CollectionSchema, DataType, FieldSchema
from sluice.types import UTC, Context, Storage, TypeInfo, arrow_field, arrow_type, type_info
from sluice.types.json_check import checked_json


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
    context: Context = UTC,
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

    static = tuple(f.name for f in schema.fields if not f.is_dynamic)
    context = replace(context, static_names=static)
    arrays = [
        _column_for(
            fld,
            by_name.get(fld.name if not fld.is_dynamic else DYNAMIC_FIELD),
            num_rows,
            allocate_ids,
            generate=generated and fld.is_primary,
            context=context,
        )
        for fld in schema.fields
    ]
    return pa.Table.from_arrays(arrays, schema=pa.schema([arrow_field(f) for f in schema.fields]))


def _column_for(
    fld: FieldSchema,
    col: Column | None,
    num_rows: int,
    allocate_ids: Callable[[int], int],
    generate: bool = False,
    context: Context = UTC,
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
        return checked_json(fld, _check_length(fld, col, num_rows), context.static_names)
    if col is None:
        if fld.nullable or fld.default_value is not None:
            return missing_column(fld, num_rows)
        raise DataMismatch.msg(f"fieldSchema({fld.name}) has no corresponding fieldData pass in")
    info = type_info(fld.dtype)
    if col.dtype != fld.dtype and not _compatible(col.dtype, fld.dtype):
        raise _type_mismatch(fld)
    if not info.accepts(col.values.type):
        raise _type_mismatch(fld)
    values = _check_length(fld, col, num_rows)
    if info.storage == Storage.DENSE:
        _check_dim(fld, col, info)
    if values.null_count:
        if fld.is_primary:
            raise DataMismatch.msg("primary field not support null")
        if fld.default_value is None and not fld.nullable:
            raise DataMismatch.msg(f"the field {fld.name} is not nullable but got null values")
    if pa.types.is_null(values.type) and len(values):
        # Every row null (nullability was checked above): nothing for the type to check.
        stored = pa.nulls(len(values), arrow_type(fld))
        if fld.default_value is not None:
            stored = pc.fill_null(stored, _default_scalar(fld))
        return stored
    try:
        stored = info.check(fld, values, context)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        raise _type_mismatch(fld) from None
    if stored.null_count and fld.default_value is not None:
        stored = pc.fill_null(stored, _default_scalar(fld))
    return stored


def _type_mismatch(fld: FieldSchema) -> DataMismatch:
    """``validate_util.go``: ``<kind>field '<f>' is illegal, array type mismatch``."""
    message, expected = type_info(fld.dtype).mismatch_words(fld)
    return DataMismatch.expected(expected, "got nil", message)


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


def _check_dim(fld: FieldSchema, col: Column, info: TypeInfo) -> None:
    """The dimension the client declared (or its values carry) must be the schema's."""
    assert info.dim_of is not None
    got = col.dim
    if got is None:
        got = info.dim_of(col.values.type)
    if got != fld.dim:
        raise DataMismatch.expected(
            fld.dim,
            got,
            f"the dim ({got}) of field data({fld.name}) is not equal to schema dim ({fld.dim})",
        )


def _default_scalar(fld: FieldSchema) -> pa.Scalar:
    return pa.scalar(type_info(fld.dtype).stored_default(fld), type=arrow_type(fld))


def missing_column(fld: FieldSchema, num_rows: int) -> pa.Array:
    """The column of a field with no data: its default value in every row, else nulls."""
    if fld.default_value is not None:
        return pa.repeat(_default_scalar(fld), num_rows)
    return pa.nulls(num_rows, type=arrow_type(fld))


def with_new_keys(
    table: pa.Table, schema: CollectionSchema, allocate_ids: Callable[[int], int]
) -> pa.Table:
    """``table`` with freshly generated primary keys (an auto-ID collection's upsert)."""
    pk = schema.primary
    keys = _column_for(pk, None, table.num_rows, allocate_ids, generate=True)
    return table.set_column(table.schema.get_field_index(pk.name), table.field(pk.name), keys)


def primary_keys(table: pa.Table, schema: CollectionSchema) -> np.ndarray:
    pk = table.column(schema.primary.name)
    if pk.null_count:
        raise DataMismatch.msg(f"primary key field {schema.primary.name} contains null values")
    return pk.to_numpy(zero_copy_only=False)


__all__ = [
    "Column",
    "DataMismatch",
    "SluiceError",
    "prepare_rows",
    "primary_keys",
    "with_new_keys",
]
