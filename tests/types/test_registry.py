"""The type table: one consistent entry per stored type, and its column checks."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from sluice.errors import DataMismatch
from sluice.schema import DataType, FieldSchema
from sluice.types import REGISTRY, SUPPORTED_TYPES, UTC, Storage, arrow_type, type_info


def test_every_entry_is_keyed_by_its_own_type() -> None:
    assert set(REGISTRY) == set(SUPPORTED_TYPES)
    for dtype, info in REGISTRY.items():
        assert info.dtype == dtype


@pytest.mark.parametrize("dtype", sorted(SUPPORTED_TYPES))
def test_dense_entries_convert_matrices_both_ways(dtype: DataType) -> None:
    info = type_info(dtype)
    if info.storage != Storage.DENSE:
        assert info.to_matrix is None and info.from_matrix is None
        return
    assert info.to_matrix and info.from_matrix and info.numpy_dtype is not None
    fld = FieldSchema("v", dtype, dim=16)
    matrix = np.arange(3 * info.matrix_width(fld)).reshape(3, -1).astype(info.numpy_dtype)
    column = info.from_matrix(fld, matrix)
    assert column.type == arrow_type(fld)
    assert np.array_equal(info.to_matrix(fld, column), matrix)


@pytest.mark.parametrize(
    ("dtype", "values"),
    [
        (DataType.INT8, [1, 127, -128]),
        (DataType.INT32, [2**31 - 1]),
        (DataType.FLOAT, [1, 2.5]),
        (DataType.VARCHAR, ["abc", "é"]),
        (DataType.BOOL, [True, False]),
    ],
)
def test_check_casts_to_the_storage_type(dtype: DataType, values: list[object]) -> None:
    fld = FieldSchema("f", dtype, max_length=8)
    stored = type_info(dtype).check(fld, pa.array(values), UTC)
    assert stored.type == arrow_type(fld)
    assert stored.to_pylist() == pa.array(values).cast(arrow_type(fld)).to_pylist()


def test_int_range_refused_in_milvus_words() -> None:
    fld = FieldSchema("small", DataType.INT8)
    with pytest.raises(DataMismatch, match=r"the 1th element \(128\) out of range: \[-128, 127\]"):
        type_info(DataType.INT8).check(fld, pa.array([1, 128]), UTC)


def test_varchar_length_is_measured_in_bytes() -> None:
    fld = FieldSchema("s", DataType.VARCHAR, max_length=2)
    with pytest.raises(DataMismatch, match="row number: 0, length: 3, max length: 2"):
        type_info(DataType.VARCHAR).check(fld, pa.array(["日"]), UTC)


def test_accepts_follows_the_values_not_the_label() -> None:
    assert type_info(DataType.DOUBLE).accepts(pa.int64())
    assert not type_info(DataType.INT64).accepts(pa.float64())
    assert not type_info(DataType.VARCHAR).accepts(pa.int32())
    assert type_info(DataType.FLOAT_VECTOR).accepts(pa.list_(pa.float32(), 4))
