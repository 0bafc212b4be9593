"""Turning one sealed segment's Arrow column into index keys.

A column becomes a :class:`KeyColumn`: parallel ``keys`` and ``rows`` (the
row each key belongs to), the rows holding a value at all (``present``:
non-null, for ``!=`` and ``contains_all([])``) and, for float domains, the
rows holding NaN, which no ordered key can represent.  Null rows produce no
key, so a null never matches, as in Milvus.  Array (``list<...>``) columns
yield one key per element, owned by the element's row; null elements are
skipped.  Everything here is whole-column Arrow/NumPy work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from sluice.index.scalar.domain import BOOL, FLOAT32, FLOAT64, INT, STR
from sluice.index.scalar.rows import BoolArray, Int64Array
from sluice.schema import DataType

ArrowColumn: TypeAlias = pa.Array | pa.ChunkedArray


@dataclass(frozen=True)
class KeyColumn:
    """Keys extracted from a column; see the module docstring."""

    domain: str
    keys: npt.NDArray[Any]
    rows: Int64Array
    num_rows: int
    present: BoolArray
    nan_rows: Int64Array
    is_array: bool = False


_SCALAR_DOMAINS = {
    DataType.BOOL: BOOL,
    DataType.INT8: INT,
    DataType.INT16: INT,
    DataType.INT32: INT,
    DataType.INT64: INT,
    DataType.TIMESTAMPTZ: INT,
    DataType.FLOAT: FLOAT32,
    DataType.DOUBLE: FLOAT64,
    DataType.VARCHAR: STR,
    DataType.STRING: STR,
}


def domain_of(dtype: DataType, element_type: DataType | None = None) -> str:
    """The key domain of a field (of its elements, for an ARRAY)."""
    if dtype == DataType.ARRAY:
        if element_type is None or element_type not in _SCALAR_DOMAINS:
            raise ValueError(f"array element type {element_type} has no key domain")
        return _SCALAR_DOMAINS[element_type]
    if dtype not in _SCALAR_DOMAINS:
        raise ValueError(f"data type {dtype.milvus_name} has no key domain")
    return _SCALAR_DOMAINS[dtype]


def combined(column: ArrowColumn) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column


def valid_mask(array: pa.Array) -> BoolArray:
    if array.null_count == 0:
        return np.ones(len(array), dtype=np.bool_)
    return np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)


def _values(domain: str, array: pa.Array) -> npt.NDArray[Any]:
    """Non-null values of a primitive array as the domain's NumPy dtype."""
    if array.null_count:
        array = pc.drop_null(array)
    if domain == STR:
        return np.asarray(array.to_numpy(zero_copy_only=False), dtype=object)
    if pa.types.is_timestamp(array.type) or pa.types.is_date(array.type):
        array = array.cast(pa.int64())
    values = np.asarray(array.to_numpy(zero_copy_only=False))
    if domain == INT:
        return values.astype(np.int64, copy=False)
    if domain == FLOAT32:
        return values.astype(np.float32, copy=False)
    if domain == FLOAT64:
        return values.astype(np.float64, copy=False)
    return values.astype(np.uint8, copy=False)


def _split_nan(
    domain: str, keys: npt.NDArray[Any], rows: Int64Array
) -> tuple[npt.NDArray[Any], Int64Array, Int64Array]:
    if domain not in (FLOAT32, FLOAT64):
        return keys, rows, np.empty(0, dtype=np.int64)
    nan = np.isnan(keys)
    if not nan.any():
        return keys, rows, np.empty(0, dtype=np.int64)
    return keys[~nan], rows[~nan], np.unique(rows[nan])


def key_column(column: ArrowColumn, dtype: DataType, element_type: DataType | None) -> KeyColumn:
    """Keys of a scalar or ARRAY column (JSON goes through :mod:`jsoncast`)."""
    array = combined(column)
    domain = domain_of(dtype, element_type)
    present = valid_mask(array)
    if dtype == DataType.ARRAY:
        if not (pa.types.is_list(array.type) or pa.types.is_large_list(array.type)):
            raise TypeError(f"an ARRAY column must be a list array, got {array.type}")
        owners = np.asarray(pc.list_parent_indices(array).to_numpy(), dtype=np.int64)
        elements = array.flatten()
        element_valid = valid_mask(elements)
        keys = _values(domain, elements)
        rows = owners[element_valid]
        keys, rows, nan_rows = _split_nan(domain, keys, rows)
        return KeyColumn(domain, keys, rows, len(array), present, nan_rows, is_array=True)
    rows = np.flatnonzero(present).astype(np.int64)
    keys = _values(domain, array)
    keys, rows, nan_rows = _split_nan(domain, keys, rows)
    return KeyColumn(domain, keys, rows, len(array), present, nan_rows)
