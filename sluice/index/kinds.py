"""What kind of vector a field holds, and how a batch of it becomes what FAISS or scipy wants.

The engine hands the index layer vectors in one of six kinds (the contract;
queries come in the same kind as the field's rows):

===================  ===========================================  ==========================
Data type            Batch the engine passes                      What the index computes on
===================  ===========================================  ==========================
FLOAT_VECTOR         ``float32`` ndarray ``(n, dim)``             itself
FLOAT16_VECTOR       ``numpy.float16`` ndarray ``(n, dim)``       a float32 copy
BFLOAT16_VECTOR      ``ml_dtypes.bfloat16`` ndarray ``(n, dim)``  a float32 copy
INT8_VECTOR          ``int8`` ndarray ``(n, dim)``                a float32 copy
BINARY_VECTOR        ``uint8`` ndarray ``(n, dim / 8)``: packed   itself (FAISS's layout,
                     bits, the bytes pymilvus sends               one code per row)
SPARSE_FLOAT_VECTOR  ``scipy.sparse.csr_matrix`` ``(n, ncols)``,  itself (CSR, float32)
                     float32 values, int64 or uint32 column
                     indices below ``2**32``
===================  ===========================================  ==========================

Binary vectors are compared bit for bit, so only the packing the engine
stores matters, and it is passed through untouched: HAMMING and JACCARD do
not depend on the bit order inside a byte.  A binary dimension is a multiple
of 8 (:func:`check_binary_dim`, Milvus's schema rule).

Half-precision and int8 vectors are converted to float32 once per build and
once per query batch (``n * dim * 4`` bytes, 2x the field's own size for
float16/bfloat16, 4x for int8); distances are therefore those of the exact
float32 values, the same convention as FLOAT_VECTOR.  The conversion is
exact for all three types.

Sparse rows may have columns in any order and duplicate columns are summed,
as scipy does; explicit zeros are dropped before indexing.
"""

from __future__ import annotations

import enum
from typing import Any, Final

import ml_dtypes
import numpy as np
import scipy.sparse as sp

from sluice.errors import ParameterInvalid
from sluice.index.metrics import (
    BINARY_METRICS,
    COSINE,
    FLOAT_METRICS,
    HAMMING,
    IP,
    SPARSE_METRICS,
)
from sluice.schema import DataType

#: Sparse column indices are uint32 in Milvus: ``2**32 - 1`` is the largest.
SPARSE_MAX_COLUMN: Final = 2**32 - 1


class VectorKind(enum.Enum):
    """The six vector layouts the index layer accepts."""

    FLOAT = "float"
    FLOAT16 = "float16"
    BFLOAT16 = "bfloat16"
    INT8 = "int8"
    BINARY = "binary"
    SPARSE = "sparse"

    @property
    def is_dense_float(self) -> bool:
        """True for kinds searched as float32 matrices (everything but binary and sparse)."""
        return self not in (VectorKind.BINARY, VectorKind.SPARSE)

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics Milvus accepts for this kind, in Milvus's order."""
        if self is VectorKind.BINARY:
            return BINARY_METRICS
        if self is VectorKind.SPARSE:
            return SPARSE_METRICS
        return FLOAT_METRICS

    @property
    def default_metric(self) -> str:
        """Milvus 2.6's default (``paramtable.SetDefaultMetricTypeIfNotExist``)."""
        if self is VectorKind.BINARY:
            return HAMMING
        if self is VectorKind.SPARSE:
            return IP
        return COSINE

    @property
    def numpy_dtype(self) -> np.dtype[Any] | None:
        """The element type of a dense batch of this kind (None for sparse)."""
        return _DTYPES.get(self)


_KINDS: Final = {
    DataType.FLOAT_VECTOR: VectorKind.FLOAT,
    DataType.FLOAT16_VECTOR: VectorKind.FLOAT16,
    DataType.BFLOAT16_VECTOR: VectorKind.BFLOAT16,
    DataType.INT8_VECTOR: VectorKind.INT8,
    DataType.BINARY_VECTOR: VectorKind.BINARY,
    DataType.SPARSE_FLOAT_VECTOR: VectorKind.SPARSE,
}

_DTYPES: Final[dict[VectorKind, np.dtype[Any]]] = {
    VectorKind.FLOAT: np.dtype(np.float32),
    VectorKind.FLOAT16: np.dtype(np.float16),
    VectorKind.BFLOAT16: np.dtype(ml_dtypes.bfloat16),
    VectorKind.INT8: np.dtype(np.int8),
    VectorKind.BINARY: np.dtype(np.uint8),
}


def kind_of(dtype: DataType) -> VectorKind:
    """The kind of a vector data type; ``ValueError`` for scalar types."""
    kind = _KINDS.get(dtype)
    if kind is None:
        raise ValueError(f"{dtype.name} is not a vector data type")
    return kind


def binary_dim_error(dim: int, field_name: str) -> str | None:
    """Milvus's message when ``dim`` is not a multiple of 8, else None.

    The schema layer calls this at CreateCollection; the words (trailing blank
    included) are the proxy's ``validateDimension``.
    """
    if dim % 8 != 0:
        return (
            f"invalid dimension: {dim} of field {field_name}. "
            "binary vector dimension should be multiple of 8. "
        )
    return None


def check_binary_dim(dim: int, field_name: str) -> None:
    """Raise Milvus's ``ParameterInvalid`` (code 1100) when ``dim`` is not a multiple of 8."""
    message = binary_dim_error(dim, field_name)
    if message is not None:
        raise ParameterInvalid.msg(message)


def dense_float32(batch: Any, kind: VectorKind, dim: int) -> np.ndarray:
    """A C-contiguous float32 ``(n, dim)`` matrix from a dense batch of ``kind``.

    FLOAT batches already in float32 are not copied; the others are converted
    (``n * dim * 4`` bytes).
    """
    if not kind.is_dense_float:
        raise ValueError(f"{kind.value} vectors are not dense float vectors")
    array = np.asarray(batch)
    if array.ndim == 1:
        array = array.reshape(1, -1) if array.size else array.reshape(0, dim)
    if array.ndim != 2 or array.shape[1] != dim:
        raise ValueError(f"expected a (rows, {dim}) matrix, got shape {array.shape}")
    return np.ascontiguousarray(array, dtype=np.float32)


def binary_codes(batch: Any, dim: int) -> np.ndarray:
    """A C-contiguous uint8 ``(n, dim / 8)`` matrix of packed binary vectors."""
    nbytes = dim // 8
    array = np.asarray(batch)
    if array.dtype != np.uint8:
        if array.dtype.kind in "iub" and (
            array.size == 0 or (array.min() >= 0 and array.max() < 256)
        ):
            array = array.astype(np.uint8)
        else:
            raise ValueError(f"binary vectors must be uint8 bytes, got {array.dtype}")
    if array.ndim == 1:
        array = array.reshape(-1, nbytes) if nbytes else array.reshape(0, 0)
    if array.ndim != 2 or array.shape[1] != nbytes:
        raise ValueError(f"expected a (rows, {nbytes}) byte matrix, got shape {array.shape}")
    return np.ascontiguousarray(array)


def sparse_rows(batch: Any) -> sp.csr_matrix:
    """``batch`` as a canonical float32 CSR matrix: sorted columns, no duplicates, no zeros.

    Column indices are kept as int64 (scipy's choice for a ``2**32``-wide
    matrix).  Refuses negative or too large columns and non-finite values.
    """
    if not sp.issparse(batch):
        raise ValueError("sparse vectors must be a scipy.sparse matrix")
    already = isinstance(batch, sp.csr_matrix) and batch.dtype == np.float32
    # Re-wrapping costs more than a short query's whole search; canonicalising in place is safe.
    matrix = batch if already else sp.csr_matrix(batch, dtype=np.float32)
    if matrix.nnz:
        cols = matrix.indices
        if int(cols.min()) < 0 or int(cols.max()) > SPARSE_MAX_COLUMN:
            raise ValueError("sparse vector indices must be in [0, 2^32 - 1)")
        if not np.isfinite(matrix.data).all():
            raise ValueError("sparse vector values must be finite")
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    if matrix.indices.dtype != np.int64:
        matrix.indices = matrix.indices.astype(np.int64)
        matrix.indptr = matrix.indptr.astype(np.int64)
    return matrix
