"""The ARRAY_OF_STRUCT entry: column form in, ``list<struct>`` stored, Milvus's checks."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from sluice.errors import DataMismatch
from sluice.schema import DataType, FieldSchema
from sluice.types import UTC, arrow_type, type_info
from sluice.types.structs import element_matrix, element_offsets, project

CHUNKS = FieldSchema(
    "chunks",
    DataType.ARRAY_OF_STRUCT,
    max_capacity=3,
    struct_fields=(
        FieldSchema("text", DataType.VARCHAR, max_length=4),
        FieldSchema("vec", DataType.FLOAT_VECTOR, dim=2),
        FieldSchema("page", DataType.INT8),
    ),
)
_VECS = pa.list_(pa.list_(pa.float32(), 2))


def _column_form(text: list, vec: list, page: list) -> pa.StructArray:
    return pa.StructArray.from_arrays(
        [pa.array(text), pa.array(vec, _VECS), pa.array(page)], names=["text", "vec", "page"]
    )


def _check(values: pa.Array) -> pa.Array:
    return type_info(DataType.ARRAY_OF_STRUCT).check(CHUNKS, values, UTC)


def test_column_form_becomes_one_list_of_structs() -> None:
    stored = _check(_column_form([["a", "b"], []], [[[1, 2], [3, 4]], []], [[1, 2], []]))
    assert stored.type == arrow_type(CHUNKS)
    assert stored.to_pylist() == [
        [{"text": "a", "vec": [1.0, 2.0], "page": 1}, {"text": "b", "vec": [3.0, 4.0], "page": 2}],
        [],
    ]
    assert _check(stored).equals(stored)  # the stored form is accepted as it is


def test_helpers_read_elements_and_project_sub_fields() -> None:
    stored = _check(
        _column_form([["a"], [], ["b", "c"]], [[[1, 2]], [], [[3, 4], [5, 6]]], [[1], [], [2, 3]])
    )
    assert element_offsets(stored).tolist() == [0, 1, 1, 3]
    assert np.array_equal(element_matrix(CHUNKS, stored, "vec"), [[1, 2], [3, 4], [5, 6]])
    assert project(CHUNKS, stored.slice(2), ("page",)).to_pylist() == [[{"page": 2}, {"page": 3}]]


@pytest.mark.parametrize(
    ("values", "words"),
    [
        (
            _column_form([["a", "b"]], [[[1, 2]]], [[1, 2]]),
            "inconsistent array length in struct field chunks",
        ),
        (
            _column_form([["toolong"]], [[[1, 2]]], [[1]]),
            'length of Array array field "chunks[text]" exceeds max length',
        ),
        (
            _column_form([["a"] * 4], [[[1, 2]] * 4], [[1] * 4]),
            "the length (4) of 0th array exceeds max capacity (3)",
        ),
        (
            _column_form([["a"]], [[[1, 2]]], [[300]]),
            "the 0th element (300) out of range: [-128, 127]",
        ),
        (
            pa.StructArray.from_arrays([pa.array([["a"]])], names=["text"]),
            "fieldSchema(chunks[vec]) has no corresponding fieldData pass in",
        ),
    ],
)
def test_bad_values_are_refused_in_milvus_words(values: pa.Array, words: str) -> None:
    with pytest.raises(DataMismatch) as err:
        _check(values)
    assert words in err.value.message


def test_vectors_of_another_dimension_are_refused() -> None:
    wide = pa.array([[[1.0, 2.0, 3.0]]], pa.list_(pa.list_(pa.float32(), 3)))
    values = pa.StructArray.from_arrays(
        [pa.array([["a"]]), wide, pa.array([[1]])], names=["text", "vec", "page"]
    )
    with pytest.raises(DataMismatch, match="is not equal to schema dim"):
        _check(values)
