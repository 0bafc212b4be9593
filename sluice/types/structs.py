"""The ARRAY_OF_STRUCT entry: one ``list<struct<...>>`` column per array-of-structs field.

An array-of-structs field holds, per row, up to ``max_capacity`` structs
that share one schema of sub-fields: FLOAT_VECTOR (``dim``), VARCHAR
(``max_length``), BOOL, INT8-INT64, FLOAT or DOUBLE.  It is stored as a
single Arrow column, ``list<struct<sub: type, ...>>`` (vectors as
``fixed_size_list<float32, dim>``), so a row's structs travel together
through the WAL, segment files and compaction like any other column.

Clients send the field in Milvus's column form: one list per sub-field per
row (``struct<sub: list<...>, ...>`` once decoded), which must agree on
each row's element count.  Each scalar sub-field is checked as an ARRAY
named ``struct[sub]`` (the name Milvus gives it internally, hence its
wording), each vector sub-field for its dimension and the capacity.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sluice.errors import DataMismatch
from sluice.schema import DataType, FieldSchema, struct_path
from sluice.types.arrays import ARRAYS, ELEMENT_TYPES, MAX_ARRAY_CAPACITY
from sluice.types.info import Context, Storage, TypeInfo
from sluice.types.scalars import scalar_arrow

#: Sub-field types a struct may hold (Milvus 2.6).
SUB_FIELD_TYPES = ELEMENT_TYPES | {DataType.FLOAT_VECTOR}

_ARRAY_CHECK = ARRAYS[0].check


def sub_arrow(sub: FieldSchema) -> pa.DataType:
    """The Arrow type of one struct element's value of ``sub``."""
    if sub.dtype == DataType.FLOAT_VECTOR:
        assert sub.dim is not None
        return pa.list_(pa.float32(), sub.dim)
    return scalar_arrow(sub.dtype)


def struct_arrow(fld: FieldSchema) -> pa.StructType:
    return pa.struct(
        [pa.field(sub.name, sub_arrow(sub), nullable=False) for sub in fld.struct_fields]
    )


def _arrow(fld: FieldSchema) -> pa.DataType:
    return pa.list_(pa.field("item", struct_arrow(fld), nullable=False))


def _accepts(arrow_type: pa.DataType) -> bool:
    if pa.types.is_null(arrow_type) or pa.types.is_struct(arrow_type):
        return True
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return bool(pa.types.is_struct(arrow_type.value_type))
    return False


def as_array_field(fld: FieldSchema, sub: FieldSchema) -> FieldSchema:
    """A scalar sub-field as the ARRAY Milvus checks it as (named ``struct[sub]``)."""
    return FieldSchema(
        name=struct_path(fld.name, sub.name),
        dtype=DataType.ARRAY,
        element_type=sub.dtype,
        max_length=sub.max_length,
        max_capacity=fld.max_capacity or MAX_ARRAY_CAPACITY,
    )


def _columns(fld: FieldSchema, values: pa.Array) -> dict[str, pa.Array]:
    """Per sub-field list columns, from either the column form or ``list<struct>``."""
    if pa.types.is_struct(values.type):
        return {values.type.field(i).name: values.field(i) for i in range(values.type.num_fields)}
    if isinstance(values, pa.LargeListArray):
        values = values.cast(pa.list_(values.type.value_type))
    assert isinstance(values, pa.ListArray)
    items = values.flatten()
    offsets = values.offsets
    if values.offset or offsets[0].as_py():
        offsets = pc.subtract(offsets, offsets[0])
    return {
        items.type.field(i).name: pa.ListArray.from_arrays(offsets, items.field(i))
        for i in range(items.type.num_fields)
    }


def _lengths(column: pa.Array) -> np.ndarray:
    return np.asarray(
        pc.fill_null(pc.list_value_length(column), 0).to_numpy(zero_copy_only=False),
        dtype=np.int64,
    )


def _check(fld: FieldSchema, values: pa.Array, ctx: Context) -> pa.Array:
    if values.null_count:
        raise DataMismatch.msg(f"the field {fld.name} is not nullable but got null values")
    columns = _columns(fld, values)
    for name in columns:
        if fld.sub_field(name) is None:
            raise DataMismatch.msg(
                f"field {struct_path(fld.name, name)} is not in struct {fld.name}"
            )
    counts: np.ndarray | None = None
    children = []
    for sub in fld.struct_fields:
        column = columns.get(sub.name)
        if column is None:
            raise DataMismatch.msg(
                f"fieldSchema({struct_path(fld.name, sub.name)}) has no corresponding fieldData "
                "pass in"
            )
        if sub.dtype == DataType.FLOAT_VECTOR:
            column = _check_vectors(fld, sub, column)
        else:
            column = _ARRAY_CHECK(as_array_field(fld, sub), column, ctx)
        lengths = _lengths(column)
        if counts is None:
            counts = lengths
        elif not np.array_equal(counts, lengths):
            row = int(np.flatnonzero(counts != lengths)[0])
            raise DataMismatch.msg(
                f"inconsistent array length in struct field {fld.name}: row {row} has "
                f"{int(counts[row])} and {int(lengths[row])} elements in its sub-fields"
            )
        children.append(column)
    assert counts is not None
    offsets = np.zeros(len(counts) + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    flat = [child.flatten() for child in children]
    items = pa.StructArray.from_arrays(flat, fields=list(struct_arrow(fld)))
    return pa.ListArray.from_arrays(pa.array(offsets), items, type=_arrow(fld))


def _check_vectors(fld: FieldSchema, sub: FieldSchema, column: pa.Array) -> pa.Array:
    """A vector sub-field's rows: lists of ``dim``-wide float vectors, within capacity."""
    name = struct_path(fld.name, sub.name)
    assert sub.dim is not None
    if isinstance(column, pa.LargeListArray):
        column = column.cast(pa.list_(column.type.value_type))
    if not (pa.types.is_list(column.type) or pa.types.is_null(column.type)):
        raise DataMismatch.expected(
            "need FloatVector array",
            "got nil",
            f"array of vector field '{name}' is illegal, array type mismatch",
        )
    capacity = fld.max_capacity or MAX_ARRAY_CAPACITY
    lengths = _lengths(column)
    over = np.flatnonzero(lengths > capacity)
    if len(over):
        row = int(over[0])
        raise DataMismatch.expected(
            "valid length array",
            "array length exceeds max capacity",
            f"the length ({int(lengths[row])}) of {row}th array exceeds max capacity ({capacity})",
        )
    vectors = column.flatten()
    if pa.types.is_fixed_size_list(vectors.type):
        width = vectors.type.list_size
    elif len(vectors):
        widths = np.unique(_lengths(vectors))
        width = int(widths[0]) if len(widths) == 1 else -1
    else:
        width = sub.dim
    if width != sub.dim:
        raise DataMismatch.expected(
            sub.dim,
            width,
            f"the dim ({width}) of field data({name}) is not equal to schema dim ({sub.dim})",
        )
    flat = vectors.flatten() if len(vectors) else pa.array([], pa.float32())
    if flat.null_count:
        raise DataMismatch.msg(f"the field {name} is not nullable but got null values")
    try:
        flat = flat.cast(pa.float32())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise DataMismatch.expected(
            "need FloatVector array",
            "got nil",
            f"array of vector field '{name}' is illegal, array type mismatch",
        ) from None
    matrix = np.asarray(flat.to_numpy(zero_copy_only=False), dtype=np.float32)
    if not np.isfinite(matrix).all():
        raise DataMismatch.msg(f"float vector of field {name} contains NaN or Inf")
    fixed = pa.FixedSizeListArray.from_arrays(pa.array(matrix), sub.dim)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), fixed)


def element_offsets(column: pa.Array) -> np.ndarray:
    """Row ``i``'s structs are elements ``offsets[i]:offsets[i + 1]`` of the flat column."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    offsets = np.asarray(column.offsets.to_numpy(), dtype=np.int64)
    return offsets - offsets[0]


def element_matrix(fld: FieldSchema, column: pa.Array, sub: str) -> np.ndarray:
    """Every struct element's vector of ``sub``, in row order: ``(elements, dim)`` float32."""
    member = fld.sub_field(sub)
    assert member is not None and member.dim is not None
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    items = column.flatten()
    if not len(items):
        return np.zeros((0, member.dim), dtype=np.float32)
    vectors = items.field(sub)
    flat = vectors.flatten()
    return np.asarray(flat.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(-1, member.dim)


def project(fld: FieldSchema, column: pa.Array, subs: tuple[str, ...]) -> pa.Array:
    """Only ``subs`` of each struct (``chunks[text]`` in output fields)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    items = column.flatten()
    kept = [sub.name for sub in fld.struct_fields if sub.name in subs]
    children = [items.field(name) for name in kept]
    types = [items.type.field(name) for name in kept]
    projected = pa.StructArray.from_arrays(children, fields=types)
    offsets = element_offsets(column).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), projected)


STRUCTS: tuple[TypeInfo, ...] = (
    TypeInfo(
        dtype=DataType.ARRAY_OF_STRUCT,
        storage=Storage.ARROW,
        arrow=_arrow,
        accepts=_accepts,
        mismatch=(
            "struct array field '{name}' is illegal, array type mismatch",
            "need struct array",
        ),
        check=_check,
        placeholder=[],
    ),
)
