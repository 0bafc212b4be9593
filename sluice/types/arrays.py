"""The ARRAY entry: ``list<element>`` columns with Milvus's capacity and element rules.

An ARRAY field has one element type (BOOL, INT8-INT64, FLOAT, DOUBLE or
VARCHAR), at most ``max_capacity`` elements per row and, for VARCHAR
elements, at most ``max_length`` bytes per element.  Checks run on the
flattened elements and the list offsets (pyarrow compute), never per row.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sluice.errors import DataMismatch
from sluice.schema import DataType, FieldSchema
from sluice.types.info import Context, FilterKind, Storage, TypeInfo
from sluice.types.scalars import INT_RANGES, MAX_VARCHAR, scalar_arrow

#: Milvus's ``proxy.maxArrayCapacity`` bound on ``max_capacity``.
MAX_ARRAY_CAPACITY = 4096

#: Element types an ARRAY may have.
ELEMENT_TYPES = frozenset(
    {
        DataType.BOOL,
        DataType.INT8,
        DataType.INT16,
        DataType.INT32,
        DataType.INT64,
        DataType.FLOAT,
        DataType.DOUBLE,
        DataType.VARCHAR,
    }
)

#: What ``checkArrayElement`` calls each element kind in its messages.
_ELEMENT_WORDS = {
    DataType.BOOL: "bool array",
    DataType.INT8: "int array",
    DataType.INT16: "int array",
    DataType.INT32: "int array",
    DataType.INT64: "int64 array",
    DataType.FLOAT: "float array",
    DataType.DOUBLE: "double array",
    DataType.VARCHAR: "string array",
}


def element_arrow(fld: FieldSchema) -> pa.DataType:
    assert fld.element_type is not None
    return scalar_arrow(fld.element_type)


def _arrow(fld: FieldSchema) -> pa.DataType:
    return pa.list_(element_arrow(fld))


def _accepts(arrow_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_null(arrow_type)
        or pa.types.is_list(arrow_type)
        or pa.types.is_large_list(arrow_type)
    )


def _element_fits(element: DataType, arrow_type: pa.DataType) -> bool:
    if pa.types.is_null(arrow_type):
        return True
    if element == DataType.BOOL:
        return bool(pa.types.is_boolean(arrow_type))
    if element.is_integer:
        return bool(pa.types.is_integer(arrow_type))
    if element in (DataType.FLOAT, DataType.DOUBLE):
        return bool(pa.types.is_floating(arrow_type) or pa.types.is_integer(arrow_type))
    return bool(pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type))


def _kind_word(arrow_type: pa.DataType) -> str:
    if pa.types.is_boolean(arrow_type):
        return "*schemapb.ScalarField_BoolData array"
    if pa.types.is_integer(arrow_type):
        return "*schemapb.ScalarField_LongData array"
    if pa.types.is_floating(arrow_type):
        return "*schemapb.ScalarField_DoubleData array"
    return "*schemapb.ScalarField_StringData array"


def _check(fld: FieldSchema, values: pa.Array, ctx: Context) -> pa.Array:
    element = fld.element_type
    assert element is not None
    if isinstance(values, pa.LargeListArray):
        values = values.cast(pa.list_(values.type.value_type))
    _check_capacity(fld, values)
    items = values.flatten()
    if not _element_fits(element, items.type):
        raise DataMismatch.expected(
            _ELEMENT_WORDS[element], _kind_word(items.type), "insert data does not match"
        )
    if items.null_count:
        raise DataMismatch.expected(
            _ELEMENT_WORDS[element], "nil array", "insert data does not match"
        )
    if element in INT_RANGES:
        _check_element_range(fld, element, values, items)
    if element == DataType.VARCHAR:
        _check_element_lengths(fld, values, items)
    return values.cast(_arrow(fld))


def _check_capacity(fld: FieldSchema, values: pa.Array) -> None:
    capacity = fld.max_capacity or MAX_ARRAY_CAPACITY
    lengths = pc.fill_null(pc.list_value_length(values), 0).to_numpy(zero_copy_only=False)
    over = np.flatnonzero(lengths > capacity)
    if len(over):
        row = int(over[0])
        raise DataMismatch.expected(
            "valid length array",
            "array length exceeds max capacity",
            f"the length ({int(lengths[row])}) of {row}th array exceeds max capacity ({capacity})",
        )


def _owners(values: pa.Array) -> np.ndarray:
    return np.asarray(pc.list_parent_indices(values).to_numpy(), dtype=np.int64)


def _check_element_range(
    fld: FieldSchema, element: DataType, values: pa.Array, items: pa.Array
) -> None:
    low, high = INT_RANGES[element]
    if len(items) == 0:
        return
    bad = pc.or_(pc.less(items, low), pc.greater(items, high))
    if pc.any(bad).as_py():
        index = int(pc.index(bad, True).as_py())
        row = int(_owners(values)[index])
        first = int(np.flatnonzero(_owners(values) == row)[0])
        raise DataMismatch.expected(
            "integer doesn't overflow",
            "out of range",
            f"the {index - first}th element ({items[index].as_py()}) out of range: [{low}, {high}]",
        )


def _check_element_lengths(fld: FieldSchema, values: pa.Array, items: pa.Array) -> None:
    max_length = fld.max_length or MAX_VARCHAR
    if len(items) == 0:
        return
    lengths = pc.binary_length(items).to_numpy(zero_copy_only=False)
    over = np.flatnonzero(lengths > max_length)
    if len(over):
        index = int(over[0])
        owners = _owners(values)
        row = int(owners[index])
        first = int(np.flatnonzero(owners == row)[0])
        raise DataMismatch.msg(
            f'length of Array array field "{fld.name}" exceeds max length, row number: {row}, '
            f"array index: {index - first}, length: {int(lengths[index])}, "
            f"max length: {max_length}"
        )


ARRAYS: tuple[TypeInfo, ...] = (
    TypeInfo(
        dtype=DataType.ARRAY,
        storage=Storage.ARROW,
        arrow=_arrow,
        accepts=_accepts,
        mismatch=("array field '{name}' is illegal, array type mismatch", "need array"),
        check=_check,
        filter=FilterKind.ARRAY,
        placeholder=[],
    ),
)
