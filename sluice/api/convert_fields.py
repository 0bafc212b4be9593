"""``schema.FieldData`` <-> Arrow columns, through the per-type codecs.

The payload encodings themselves are in :mod:`sluice.api.field_codecs`;
this module handles what is common to every type: the field's identity,
unknown types, and nulls.

Nullable fields: pymilvus sends ``valid_data`` for every row and values only
for valid rows; Milvus answers with a value for every row (placeholders at
nulls) plus ``valid_data``.  Both shapes are handled here.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pymilvus.grpc_gen import schema_pb2

from sluice.api.field_codecs import (
    ENCODERS,
    SCALAR_SOURCES,
    VECTOR_SOURCES,
    array_values,
    float_array,
    scalar_values,
    struct_columns,
)
from sluice.engine import Column
from sluice.errors import DataMismatch
from sluice.schema import DYNAMIC_FIELD, CollectionSchema, DataType, FieldSchema
from sluice.types import type_info

__all__ = [
    "column_from_field_data",
    "field_data_from_column",
    "fields_data_from_table",
    "float_array",
    "ids_message",
]


def column_from_field_data(fd: schema_pb2.FieldData, num_rows: int) -> Column:
    try:
        dtype = DataType(fd.type)
    except ValueError:
        raise DataMismatch.msg(f"field {fd.field_name}: unknown data type {fd.type}") from None
    if dtype == DataType.ARRAY_OF_STRUCT:
        return Column(
            fd.field_name, dtype, struct_columns(fd.struct_arrays, num_rows, fd.field_name)
        )
    if fd.HasField("vectors"):
        dim = int(fd.vectors.dim)
        decode = VECTOR_SOURCES.get(fd.vectors.WhichOneof("data") or "")
        values = pa.nulls(0) if decode is None else decode(fd.vectors, dim)
        return Column(fd.field_name, dtype, _apply_validity(fd, values, num_rows), dim=dim)
    kind = fd.scalars.WhichOneof("data") if fd.HasField("scalars") else None
    if kind == "array_data":
        values = array_values(fd.scalars.array_data)
    elif kind is None or kind not in SCALAR_SOURCES:
        values = pa.nulls(0)
    else:
        values = scalar_values(getattr(fd.scalars, kind), SCALAR_SOURCES[kind])
    values = _apply_validity(fd, values, num_rows)
    return Column(fd.field_name, dtype, values, is_dynamic=fd.is_dynamic)


def _apply_validity(fd: schema_pb2.FieldData, values: pa.Array, num_rows: int) -> pa.Array:
    if not len(fd.valid_data):
        return values
    valid = np.asarray(fd.valid_data, dtype=bool)
    if not valid.any():
        # Every row null: clients fill the (empty) slot of any type, so keep no type at all.
        return pa.nulls(len(valid))
    if len(values) == len(valid):
        return pc.if_else(pa.array(valid), values, pa.nulls(len(valid), type=values.type))
    if len(values) == int(valid.sum()):
        positions = np.cumsum(valid) - 1
        taken = values.take(pa.array(np.where(valid, positions, 0)))
        return pc.if_else(pa.array(valid), taken, pa.nulls(len(valid), type=values.type))
    return values


# --- outbound -----------------------------------------------------------------


def field_data_from_column(
    fld: FieldSchema, column: pa.ChunkedArray | pa.Array
) -> schema_pb2.FieldData:
    if isinstance(column, pa.ChunkedArray):
        column = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    fd = schema_pb2.FieldData(
        type=int(fld.dtype), field_name=fld.name, field_id=fld.field_id, is_dynamic=fld.is_dynamic
    )
    if column.null_count:
        valid = np.asarray(column.is_valid(), dtype=bool)
        fd.valid_data.extend(valid.tolist())
        if fld.dtype.is_vector:
            # Milvus sends vectors only for the rows that have one.
            column = column.filter(pa.array(valid))
        else:
            placeholder = pa.scalar(type_info(fld.dtype).placeholder, type=column.type)
            column = pc.fill_null(column, placeholder)
    ENCODERS[fld.dtype](fld, column, fd)
    return fd


def fields_data_from_table(schema: CollectionSchema, table: pa.Table) -> list[schema_pb2.FieldData]:
    out = []
    for name in table.column_names:
        fld = schema.dynamic_field if name == DYNAMIC_FIELD else schema.get(name)
        if fld is None:
            continue
        out.append(field_data_from_column(fld, table.column(name)))
    return out


def ids_message(pks: np.ndarray, dtype: DataType) -> schema_pb2.IDs:
    ids = schema_pb2.IDs()
    if dtype == DataType.INT64:
        ids.int_id.data.extend(np.asarray(pks, dtype=np.int64).tolist())
    else:
        ids.str_id.data.extend([str(k) for k in pks])
    return ids
