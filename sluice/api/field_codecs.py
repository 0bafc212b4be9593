"""The protobuf side of the type table: ``FieldData`` payloads <-> Arrow columns, per type.

Inbound, a payload is decoded by the ``ScalarField``/``VectorField`` oneof it
actually arrived in (clients label data loosely; the engine then checks the
values suit the field, with Milvus's wording).  Outbound, a column is
encoded by its field's type.  Repeated numeric fields are read through the
buffer protocol, and float payloads are written as packed bytes (see
:func:`float_array`), so no per-value Python work happens where it counts.

Only this module and the other ``sluice.api`` modules import protobuf; the
types' other facts live in :mod:`sluice.types`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
from pymilvus.grpc_gen import schema_pb2

from sluice.errors import DataMismatch
from sluice.schema import DataType, FieldSchema

#: Decodes one ``VectorField`` (with the dimension the client declared) to Arrow.
VectorDecoder = Callable[[schema_pb2.VectorField, int], pa.Array]
#: Fills ``FieldData`` from a column of a field (nulls already replaced).
Encoder = Callable[[FieldSchema, pa.Array, schema_pb2.FieldData], None]


# --- packed floats --------------------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def packed(values: np.ndarray) -> bytes:
    """Serialised ``FloatArray``/``DoubleArray`` body: field 1, packed."""
    raw = np.ascontiguousarray(values).tobytes()
    return b"\x0a" + _varint(len(raw)) + raw


def float_array(values: np.ndarray) -> schema_pb2.FloatArray:
    """``FloatArray`` from the packed bytes: one parse in C instead of an ``extend`` per value."""
    return schema_pb2.FloatArray.FromString(packed(values.astype("<f4", copy=False)))


def _numpy(column: pa.Array) -> np.ndarray:
    return column.to_numpy(zero_copy_only=False)


# --- inbound --------------------------------------------------------------------------------

#: Inbound scalar payloads by ``ScalarField`` oneof: the Arrow type they arrive as.
SCALAR_SOURCES: dict[str, pa.DataType] = {
    "bool_data": pa.bool_(),
    "int_data": pa.int32(),
    "long_data": pa.int64(),
    "float_data": pa.float32(),
    "double_data": pa.float64(),
    "string_data": pa.string(),
    "json_data": pa.binary(),
}


def scalar_values(payload: Any, arrow_type: pa.DataType) -> pa.Array:
    """A repeated scalar payload as Arrow (numbers through the buffer protocol)."""
    if arrow_type in (pa.string(), pa.binary()):
        return pa.array(list(payload.data), type=arrow_type)
    return pa.array(np.asarray(payload.data, dtype=arrow_type.to_pandas_dtype()))


def _float_vectors(vectors: schema_pb2.VectorField, dim: int) -> pa.Array:
    flat = np.asarray(vectors.float_vector.data, dtype=np.float32)
    if dim <= 0 or len(flat) % dim:
        raise DataMismatch(f"the length({len(flat)}) of float data should divide the dim({dim})")
    return pa.FixedSizeListArray.from_arrays(pa.array(flat), dim)


#: Inbound vector payloads by ``VectorField`` oneof.
VECTOR_SOURCES: dict[str, VectorDecoder] = {
    "float_vector": _float_vectors,
}


# --- outbound -------------------------------------------------------------------------------


def _put_bools(fld: FieldSchema, column: pa.Array, fd: schema_pb2.FieldData) -> None:
    fd.scalars.bool_data.data.extend(column.to_pylist())


def _put_ints(fld: FieldSchema, column: pa.Array, fd: schema_pb2.FieldData) -> None:
    fd.scalars.int_data.data.extend(_numpy(column).tolist())


def _put_longs(fld: FieldSchema, column: pa.Array, fd: schema_pb2.FieldData) -> None:
    fd.scalars.long_data.data.extend(_numpy(column).tolist())


def _put_floats(fld: FieldSchema, column: pa.Array, fd: schema_pb2.FieldData) -> None:
    fd.scalars.float_data.CopyFrom(float_array(_numpy(column)))


def _put_doubles(fld: FieldSchema, column: pa.Array, fd: schema_pb2.FieldData) -> None:
    raw = _numpy(column).astype("<f8", copy=False)
    fd.scalars.double_data.CopyFrom(schema_pb2.DoubleArray.FromString(packed(raw)))


def _put_strings(fld: FieldSchema, column: pa.Array, fd: schema_pb2.FieldData) -> None:
    fd.scalars.string_data.data.extend(column.to_pylist())


def _put_json(fld: FieldSchema, column: pa.Array, fd: schema_pb2.FieldData) -> None:
    fd.scalars.json_data.data.extend(column.to_pylist())


def _put_float_vectors(fld: FieldSchema, column: pa.Array, fd: schema_pb2.FieldData) -> None:
    assert fld.dim is not None
    fd.vectors.dim = fld.dim
    flat = column.values.slice(column.offset * fld.dim, len(column) * fld.dim)
    fd.vectors.float_vector.CopyFrom(float_array(_numpy(flat)))


#: Outbound encoders by field type.
ENCODERS: dict[DataType, Encoder] = {
    DataType.BOOL: _put_bools,
    DataType.INT8: _put_ints,
    DataType.INT16: _put_ints,
    DataType.INT32: _put_ints,
    DataType.INT64: _put_longs,
    DataType.FLOAT: _put_floats,
    DataType.DOUBLE: _put_doubles,
    DataType.VARCHAR: _put_strings,
    DataType.JSON: _put_json,
    DataType.FLOAT_VECTOR: _put_float_vectors,
}
