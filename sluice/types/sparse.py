"""The SPARSE_FLOAT_VECTOR entry: Milvus's row format stored as is, CSR for search.

A sparse row travels (``SparseFloatArray.contents``) and is stored as the
same bytes: ``(uint32 index, float32 value)`` pairs, little-endian, indices
strictly ascending.  A column of such rows is one Arrow binary array, whose
offsets divided by 8 are exactly a CSR ``indptr`` and whose data buffer is
the interleaved indices and values, so turning a segment into a
``scipy.sparse.csr_matrix`` copies each pair once and loops over nothing.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import scipy.sparse

from sluice.errors import DataMismatch
from sluice.schema import DataType, FieldSchema
from sluice.types.info import Context, Storage, TypeInfo

PAIR = np.dtype([("index", "<u4"), ("value", "<f4")])
#: Column count of the CSR matrices (indices are uint32 and below 2**32 - 1).
MAX_DIM = 2**32 - 1


def _pairs(column: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """CSR ``indptr`` (int64) and the (index, value) pairs of a binary column."""
    column = column.cast(pa.binary()) if not pa.types.is_binary(column.type) else column
    n = len(column)
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int32)[
        column.offset : column.offset + n + 1
    ]
    data = column.buffers()[2]
    start, stop = int(offsets[0]), int(offsets[-1])
    raw = (
        np.frombuffer(data, dtype=np.uint8)[start:stop]
        if data is not None
        else np.empty(0, np.uint8)
    )
    indptr = (offsets.astype(np.int64) - start) // PAIR.itemsize
    if len(raw) % PAIR.itemsize:
        return indptr, np.empty(0, dtype=PAIR)
    return indptr, raw.view(PAIR)


def csr(column: pa.Array, dim: int | None = None) -> scipy.sparse.csr_matrix:
    """The rows of a stored sparse column (nulls are empty rows) as float32 CSR."""
    indptr, pairs = _pairs(column)
    indices = pairs["index"].astype(np.int64)
    width = dim if dim is not None else (int(indices.max()) + 1 if len(indices) else 1)
    return scipy.sparse.csr_matrix(
        (pairs["value"].astype(np.float32), indices, indptr), shape=(len(column), width)
    )


def rows_from_csr(matrix: scipy.sparse.csr_matrix) -> pa.Array:
    """CSR rows -> stored binary rows (indices sorted, as Milvus stores them)."""
    matrix = scipy.sparse.csr_matrix(matrix)
    matrix.sort_indices()
    pairs = np.empty(matrix.nnz, dtype=PAIR)
    pairs["index"] = matrix.indices
    pairs["value"] = matrix.data
    offsets = (np.asarray(matrix.indptr, dtype=np.int64) * PAIR.itemsize).astype(np.int32)
    return pa.Array.from_buffers(
        pa.binary(), matrix.shape[0], [None, pa.py_buffer(offsets), pa.py_buffer(pairs.tobytes())]
    )


def _check(fld: FieldSchema, values: pa.Array, ctx: Context) -> pa.Array:
    if pa.types.is_null(values.type):
        return values.cast(pa.binary())
    values = values.cast(pa.binary())
    lengths = np.diff(_pairs(values)[0] * PAIR.itemsize)
    bad = np.flatnonzero(lengths % PAIR.itemsize)
    if len(bad):
        raise DataMismatch.msg(
            f"invalid data length in sparse float vector: {int(lengths[bad[0]])}"
        )
    indptr, pairs = _pairs(values)
    indices = pairs["index"].astype(np.int64)
    if len(indices) > 1:
        same_row = np.repeat(np.arange(len(values)), np.diff(indptr))
        step = np.diff(indices)
        if ((step <= 0) & (same_row[1:] == same_row[:-1])).any():
            raise DataMismatch.msg("unsorted or same indices in sparse float vector")
    if (indices >= MAX_DIM).any():
        raise DataMismatch.msg(f"sparse vector index must be less than {MAX_DIM}")
    if not np.isfinite(pairs["value"]).all():
        raise DataMismatch.msg("sparse vector value should not be NaN or Inf")
    return values


def _accepts(arrow_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_null(arrow_type)
        or pa.types.is_binary(arrow_type)
        or pa.types.is_large_binary(arrow_type)
    )


SPARSE: tuple[TypeInfo, ...] = (
    TypeInfo(
        dtype=DataType.SPARSE_FLOAT_VECTOR,
        storage=Storage.SPARSE,
        arrow=lambda _fld: pa.binary(),
        accepts=_accepts,
        mismatch=(
            "sparse float field '{name}' is illegal, array type mismatch",
            "need sparse float array",
        ),
        check=_check,
    ),
)
