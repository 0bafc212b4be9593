"""Entries for the vector types, and their Arrow <-> numpy matrix conversions.

Dense vectors are searched as one numpy ``(rows, width)`` matrix per
segment, so each dense type says how its Arrow column maps onto that matrix
without copying where it can: FLOAT_VECTOR is a ``fixed_size_list<float32>``
whose child buffer *is* the matrix; the byte vectors are
``fixed_size_binary`` columns viewed as ``uint8`` (binary, ``dim / 8``
packed bytes per row), ``float16``, ``ml_dtypes.bfloat16`` or ``int8``
matrices, bit for bit what the client sent.  A null row (nullable vector fields) is
a zero row in the matrix plus a false in the field's validity.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np
import pyarrow as pa

from sluice.errors import DataMismatch
from sluice.schema import DataType, FieldSchema
from sluice.types.info import Context, Storage, TypeInfo
from sluice.types.scalars import check_finite_floats


def valid_rows(column: pa.Array) -> np.ndarray | None:
    """Per-row validity as a bool array (``None``: no nulls)."""
    if column.null_count == 0:
        return None
    return np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)


def _zero_nulls(matrix: np.ndarray, column: pa.Array) -> np.ndarray:
    valid = valid_rows(column)
    if valid is None:
        return matrix
    matrix = matrix.copy()
    matrix[~valid] = 0
    return matrix


# --- FLOAT_VECTOR ---------------------------------------------------------------------------


def float_matrix(fld: FieldSchema, column: pa.Array) -> np.ndarray:
    """``(n, dim)`` float32 view of a fixed-size-list column (a copy only for null rows)."""
    dim = int(fld.dim or 0)
    if pa.types.is_null(column.type):  # every row null
        return np.zeros((len(column), dim), dtype=np.float32)
    assert isinstance(column, pa.FixedSizeListArray)
    start = column.offset * dim
    flat = column.values.to_numpy(zero_copy_only=False)[start : start + len(column) * dim]
    return _zero_nulls(flat.reshape(len(column), dim), column)


def float_column(fld: FieldSchema, matrix: np.ndarray) -> pa.Array:
    """Zero-copy Arrow view of an ``(n, dim)`` float32 matrix."""
    flat = pa.array(np.ascontiguousarray(matrix, dtype=np.float32).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, matrix.shape[1])


def _float_check(fld: FieldSchema, values: pa.Array, ctx: Context) -> pa.Array:
    if pa.types.is_null(values.type):  # every row null (the field's nullability is checked apart)
        return pa.nulls(len(values), pa.list_(pa.float32(), int(fld.dim or 0)))
    flat = values.values
    if values.null_count == 0 and flat.null_count:
        raise DataMismatch.msg(f"the field {fld.name} contains null values")
    check_finite_floats(float_matrix(fld, values))
    return values.cast(pa.list_(pa.float32(), int(fld.dim or 0)))


def _fixed_list_dim(arrow_type: pa.DataType) -> int | None:
    if isinstance(arrow_type, pa.FixedSizeListType):
        return int(arrow_type.list_size)
    return None


def _accepts_fixed_list(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_null(arrow_type) or pa.types.is_fixed_size_list(arrow_type))


# --- byte vectors: BINARY, FLOAT16, BFLOAT16, INT8 -------------------------------------------
#
# Stored as ``fixed_size_binary(row bytes)``: exactly the bytes Milvus's
# ``VectorField`` carries, so inserts and results copy no element.


def row_bytes(dtype: DataType, dim: int) -> int:
    """Bytes per vector: ``dim / 8`` for binary, two per element for float16/bfloat16."""
    if dtype == DataType.BINARY_VECTOR:
        return dim // 8
    if dtype in (DataType.FLOAT16_VECTOR, DataType.BFLOAT16_VECTOR):
        return dim * 2
    return dim


def _byte_matrix(fld: FieldSchema, column: pa.Array) -> np.ndarray:
    info_dtype = _BYTE_DTYPES[fld.dtype]
    width = row_bytes(fld.dtype, int(fld.dim or 0))
    n = len(column)
    if pa.types.is_null(column.type) or n == 0:
        return np.zeros((n, _width(fld.dtype, int(fld.dim or 0))), dtype=info_dtype)
    data = column.buffers()[1]
    raw = np.frombuffer(data, dtype=np.uint8)[column.offset * width : (column.offset + n) * width]
    matrix = raw.view(info_dtype).reshape(n, -1)
    return _zero_nulls(matrix, column)


def _byte_column(fld: FieldSchema, matrix: np.ndarray) -> pa.Array:
    width = row_bytes(fld.dtype, int(fld.dim or 0))
    flat = np.ascontiguousarray(matrix).view(np.uint8).reshape(-1)
    return pa.Array.from_buffers(pa.binary(width), len(matrix), [None, pa.py_buffer(flat)])


def _width(dtype: DataType, dim: int) -> int:
    return dim // 8 if dtype == DataType.BINARY_VECTOR else dim


_BYTE_DTYPES: dict[DataType, np.dtype[Any]] = {
    DataType.BINARY_VECTOR: np.dtype(np.uint8),
    DataType.FLOAT16_VECTOR: np.dtype(np.float16),
    DataType.BFLOAT16_VECTOR: np.dtype(ml_dtypes.bfloat16),
    DataType.INT8_VECTOR: np.dtype(np.int8),
}

_NAMES = {
    DataType.FLOAT16_VECTOR: "float16",
    DataType.BFLOAT16_VECTOR: "bfloat16",
}


def _byte_check(fld: FieldSchema, values: pa.Array, ctx: Context) -> pa.Array:
    width = row_bytes(fld.dtype, int(fld.dim or 0))
    if pa.types.is_null(values.type):
        return values.cast(pa.binary(width))
    if fld.dtype in _NAMES:
        check_finite_floats(_byte_matrix(fld, values).astype(np.float32))
    return values


def _byte_dim(dtype: DataType) -> Callable[[pa.DataType], int | None]:
    def dim_of(arrow_type: pa.DataType) -> int | None:
        if not pa.types.is_fixed_size_binary(arrow_type):
            return None
        width = int(arrow_type.byte_width)
        if dtype == DataType.BINARY_VECTOR:
            return width * 8
        if dtype in _NAMES:
            return width // 2
        return width

    return dim_of


def _accepts_fixed_binary(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_null(arrow_type) or pa.types.is_fixed_size_binary(arrow_type))


def _byte_entry(dtype: DataType, mismatch: tuple[str, str]) -> TypeInfo:
    return TypeInfo(
        dtype=dtype,
        storage=Storage.DENSE,
        arrow=lambda fld: pa.binary(row_bytes(dtype, int(fld.dim or 0))),
        accepts=_accepts_fixed_binary,
        mismatch=mismatch,
        check=_byte_check,
        numpy_dtype=_BYTE_DTYPES[dtype],
        width=lambda dim: _width(dtype, dim),
        to_matrix=_byte_matrix,
        from_matrix=_byte_column,
        dim_of=_byte_dim(dtype),
    )


VECTORS: tuple[TypeInfo, ...] = (
    TypeInfo(
        dtype=DataType.FLOAT_VECTOR,
        storage=Storage.DENSE,
        arrow=lambda fld: pa.list_(pa.float32(), int(fld.dim or 0)),
        accepts=_accepts_fixed_list,
        mismatch=("float vector field '{name}' is illegal, array type mismatch", "need float vector"),
        check=_float_check,
        numpy_dtype=np.dtype(np.float32),
        width=lambda dim: dim,
        to_matrix=float_matrix,
        from_matrix=float_column,
        dim_of=_fixed_list_dim,
    ),
    _byte_entry(
        DataType.BINARY_VECTOR,
        ("binary float vector field '{name}' is illegal, array type mismatch", "need bytes array"),
    ),
    _byte_entry(
        DataType.FLOAT16_VECTOR,
        ("float16 float field '{name}' is illegal, nil Vector_Float16 type",
         "need vector_float16 array"),
    ),
    _byte_entry(
        DataType.BFLOAT16_VECTOR,
        ("bfloat16 float field '{name}' is illegal, nil Vector_BFloat16 type",
         "need vector_bfloat16 array"),
    ),
    _byte_entry(
        DataType.INT8_VECTOR,
        ("int8 vector field '{name}' is illegal, nil Vector_Int8 type", "need vector_int8 array"),
    ),
)  # fmt: skip
