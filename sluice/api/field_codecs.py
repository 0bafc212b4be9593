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

import itertools
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pyarrow as pa
from pymilvus.grpc_gen import schema_pb2

from sluice.errors import DataMismatch
from sluice.schema import DataType, FieldSchema, split_struct_path
from sluice.types.sparse import csr
from sluice.types.vectors import row_bytes

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
    "timestamptz_data": pa.int64(),
    "geometry_wkt_data": pa.string(),
    "geometry_data": pa.binary(),
}

#: ``ScalarField`` oneof holding each element type of an ARRAY (inbound and outbound).
ELEMENT_SLOTS: dict[DataType, str] = {
    DataType.BOOL: "bool_data",
    DataType.INT8: "int_data",
    DataType.INT16: "int_data",
    DataType.INT32: "int_data",
    DataType.INT64: "long_data",
    DataType.FLOAT: "float_data",
    DataType.DOUBLE: "double_data",
    DataType.VARCHAR: "string_data",
    DataType.STRING: "string_data",
}


def array_values(array: schema_pb2.ArrayArray) -> pa.Array:
    """``ArrayArray`` rows -> one Arrow list column (each row's payload read in one call)."""
    rows = array.data
    slots = [row.WhichOneof("data") for row in rows]
    kinds = {slot for slot in slots if slot is not None}
    if len(kinds) > 1:
        return pa.nulls(0)
    kind = kinds.pop() if kinds else ELEMENT_SLOTS.get(DataType(array.element_type), "long_data")
    arrow_type = SCALAR_SOURCES[kind]
    parts = [scalar_values(getattr(row, kind), arrow_type) for row in rows]
    lengths = np.fromiter((len(p) for p in parts), dtype=np.int32, count=len(parts))
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int32)]).astype(np.int32)
    flat = pa.concat_arrays(parts) if parts else pa.array([], type=arrow_type)
    return pa.ListArray.from_arrays(pa.array(offsets), flat)


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


def _byte_vectors(attr: str, dtype: DataType) -> VectorDecoder:
    def decode(vectors: schema_pb2.VectorField, dim: int) -> pa.Array:
        raw = getattr(vectors, attr)
        width = row_bytes(dtype, dim)
        if dim <= 0 or width <= 0 or len(raw) % width:
            raise DataMismatch(
                f"the length({len(raw)}) of {dtype.milvus_name} data should divide the dim({dim})"
            )
        return pa.Array.from_buffers(pa.binary(width), len(raw) // width, [None, pa.py_buffer(raw)])

    return decode


def _sparse_vectors(vectors: schema_pb2.VectorField, dim: int) -> pa.Array:
    return pa.array(list(vectors.sparse_float_vector.contents), type=pa.binary())


def vector_array_values(array: schema_pb2.VectorArray, name: str) -> pa.Array:
    """``VectorArray`` rows (one ``VectorField`` of packed vectors each) -> ``list<vector>``.

    ``name`` is the sub-field as Milvus words it (``chunks[vec]``).
    """
    dim = int(array.dim)
    rows = []
    for row in array.data:
        kind = row.WhichOneof("data")
        if kind != "float_vector":
            raise DataMismatch.expected(
                "need float vector array",
                "got nil",
                f"array of vector field '{name}' is illegal, array type mismatch",
            )
        rows.append(np.asarray(row.float_vector.data, dtype=np.float32))
        dim = dim or int(row.dim)
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    if dim <= 0:
        raise DataMismatch.msg(f"invalid dim {dim} for array of vector field {name}")
    if (lengths % dim).any():
        bad = int(lengths[np.flatnonzero(lengths % dim)[0]])
        raise DataMismatch.expected(
            "valid array of vector payload length",
            "invalid payload length",
            f"array of vector field {name} has invalid payload length {bad}, should be "
            f"divisible by vector width {dim}",
        )
    offsets = np.zeros(len(rows) + 1, dtype=np.int32)
    np.cumsum(lengths // dim, out=offsets[1:])
    flat = np.concatenate(rows) if rows else np.zeros(0, dtype=np.float32)
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(flat), dim)
    return pa.ListArray.from_arrays(pa.array(offsets), vectors)


def struct_columns(
    struct: schema_pb2.StructArrayField, num_rows: int, struct_name: str
) -> pa.Array:
    """An array-of-structs payload in Milvus's column form -> ``struct<sub: list<...>>``.

    Each sub-field arrives as its own per-row list (ARRAY for scalars,
    ArrayOfVector for vectors); the type's check pairs them up.
    """
    names = []
    columns = []
    for sub in struct.fields:
        own = _own_name(sub.field_name)
        if sub.HasField("vectors"):
            column = vector_array_values(sub.vectors.vector_array, f"{struct_name}[{own}]")
        elif sub.HasField("scalars") and sub.scalars.WhichOneof("data") == "array_data":
            column = array_values(sub.scalars.array_data)
        else:
            column = pa.nulls(num_rows)
        names.append(own)
        columns.append(column)
    if any(len(c) != num_rows for c in columns):
        got = next(len(c) for c in columns if len(c) != num_rows)
        raise DataMismatch.expected(
            num_rows,
            got,
            f"the num_rows ({got}) of a struct sub-field is not equal to passed num_rows "
            f"({num_rows})",
        )
    if not columns:
        return pa.nulls(num_rows)
    return pa.StructArray.from_arrays(columns, names=names)


def _own_name(name: str) -> str:
    """A sub-field's own name, whether sent bare or as ``struct[sub]``."""
    parsed = split_struct_path(name)
    return name if parsed is None else parsed[1]


#: Inbound vector payloads by ``VectorField`` oneof.
VECTOR_SOURCES: dict[str, VectorDecoder] = {
    "float_vector": _float_vectors,
    "binary_vector": _byte_vectors("binary_vector", DataType.BINARY_VECTOR),
    "float16_vector": _byte_vectors("float16_vector", DataType.FLOAT16_VECTOR),
    "bfloat16_vector": _byte_vectors("bfloat16_vector", DataType.BFLOAT16_VECTOR),
    "int8_vector": _byte_vectors("int8_vector", DataType.INT8_VECTOR),
    "sparse_float_vector": _sparse_vectors,
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


def _put_wkt(fld: FieldSchema, column: pa.Array, fd: schema_pb2.FieldData) -> None:
    fd.scalars.geometry_wkt_data.data.extend(column.to_pylist())


def _put_arrays(fld: FieldSchema, column: pa.Array, fd: schema_pb2.FieldData) -> None:
    element = fld.element_type or DataType.INT64
    slot = ELEMENT_SLOTS[element]
    target = fd.scalars.array_data
    target.element_type = int(element)
    for row in column.to_pylist():
        cell = target.data.add()
        getattr(cell, slot).data.extend(row or [])


def _put_structs(fld: FieldSchema, column: pa.Array, fd: schema_pb2.FieldData) -> None:
    """Milvus's column form: one ARRAY / ArrayOfVector ``FieldData`` per sub-field."""
    items = column.flatten()
    offsets = np.asarray(column.offsets.to_numpy(), dtype=np.int64)
    offsets = offsets - offsets[0]
    present = {items.type.field(i).name for i in range(items.type.num_fields)}
    for sub in fld.struct_fields:
        if sub.name not in present:
            continue
        values = items.field(sub.name)
        out = fd.struct_arrays.fields.add(field_name=sub.name, field_id=sub.field_id)
        if sub.dtype.is_vector:
            assert sub.dim is not None
            out.type = schema_pb2.ArrayOfVector
            out.vectors.dim = sub.dim
            target = out.vectors.vector_array
            target.dim = sub.dim
            target.element_type = int(sub.dtype)
            flat = np.asarray(values.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
            for start, stop in itertools.pairwise(offsets):
                row = target.data.add(dim=sub.dim)
                row.float_vector.CopyFrom(float_array(flat[start * sub.dim : stop * sub.dim]))
        else:
            out.type = int(DataType.ARRAY)
            rows = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values)
            element = replace(sub, dtype=DataType.ARRAY, element_type=sub.dtype)
            _put_arrays(element, rows, out)


def _put_bytes(attr: str) -> Encoder:
    def put(fld: FieldSchema, column: pa.Array, fd: schema_pb2.FieldData) -> None:
        width = row_bytes(fld.dtype, int(fld.dim or 0))
        fd.vectors.dim = int(fld.dim or 0)
        data = column.buffers()[1]
        start = column.offset * width
        payload = b"" if data is None else data.to_pybytes()[start : start + len(column) * width]
        setattr(fd.vectors, attr, payload)

    return put


def _put_sparse(fld: FieldSchema, column: pa.Array, fd: schema_pb2.FieldData) -> None:
    rows = column.to_pylist()
    target = fd.vectors.sparse_float_vector
    target.contents.extend(rows)
    matrix = csr(column)
    target.dim = int(matrix.indices.max()) + 1 if matrix.nnz else 0
    fd.vectors.dim = target.dim


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
    DataType.ARRAY: _put_arrays,
    # TIMESTAMPTZ and GEOMETRY reach the API already shown as text (ISO, WKT).
    DataType.TIMESTAMPTZ: _put_strings,
    DataType.GEOMETRY: _put_wkt,
    DataType.BINARY_VECTOR: _put_bytes("binary_vector"),
    DataType.FLOAT16_VECTOR: _put_bytes("float16_vector"),
    DataType.BFLOAT16_VECTOR: _put_bytes("bfloat16_vector"),
    DataType.INT8_VECTOR: _put_bytes("int8_vector"),
    DataType.SPARSE_FLOAT_VECTOR: _put_sparse,
    DataType.ARRAY_OF_STRUCT: _put_structs,
}
