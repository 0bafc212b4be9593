"""Entries for the vector types, and their Arrow <-> numpy matrix conversions.

Dense vectors are searched as one numpy ``(rows, width)`` matrix per
segment, so each dense type says how its Arrow column maps onto that matrix
without copying where it can: FLOAT_VECTOR is a ``fixed_size_list<float32>``
whose child buffer *is* the matrix.  A null row (nullable vector fields) is
a zero row in the matrix plus a false in the field's validity.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from sluice.errors import DataMismatch
from sluice.schema import DataType, FieldSchema
from sluice.types.info import Storage, TypeInfo


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
    assert isinstance(column, pa.FixedSizeListArray)
    start = column.offset * dim
    flat = column.values.to_numpy(zero_copy_only=False)[start : start + len(column) * dim]
    return _zero_nulls(flat.reshape(len(column), dim), column)


def float_column(fld: FieldSchema, matrix: np.ndarray) -> pa.Array:
    """Zero-copy Arrow view of an ``(n, dim)`` float32 matrix."""
    flat = pa.array(np.ascontiguousarray(matrix, dtype=np.float32).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, matrix.shape[1])


def _float_check(fld: FieldSchema, values: pa.Array) -> pa.Array:
    flat = values.values
    if values.null_count == 0 and flat.null_count:
        raise DataMismatch.msg(f"the field {fld.name} contains null values")
    data = float_matrix(fld, values)
    if not np.isfinite(data).all():
        raise DataMismatch.msg(f"float vector field '{fld.name}' contains NaN or Inf")
    return values.cast(pa.list_(pa.float32(), int(fld.dim or 0)))


def _fixed_list_dim(arrow_type: pa.DataType) -> int | None:
    if isinstance(arrow_type, pa.FixedSizeListType):
        return int(arrow_type.list_size)
    return None


def _accepts_fixed_list(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_null(arrow_type) or pa.types.is_fixed_size_list(arrow_type))


VECTORS: tuple[TypeInfo, ...] = (
    TypeInfo(
        dtype=DataType.FLOAT_VECTOR,
        storage=Storage.DENSE,
        arrow=lambda fld: pa.list_(pa.float32(), int(fld.dim or 0)),
        accepts=_accepts_fixed_list,
        mismatch=("float vector ", "need float vector"),
        check=_float_check,
        numpy_dtype=np.dtype(np.float32),
        width=lambda dim: dim,
        to_matrix=float_matrix,
        from_matrix=float_column,
        dim_of=_fixed_list_dim,
    ),
)
