"""The table of types Sluice stores: one :class:`TypeInfo` per ``DataType``.

Everything that depends on a field's type looks it up here: the Arrow type
its values are stored in (:func:`arrow_type`), whether and how a column is
accepted, how segments hold it, and what filters may do with it.  A type
missing from the table is refused at CreateCollection by name.
"""

from __future__ import annotations

import pyarrow as pa

from sluice.schema import TS_COLUMN, CollectionSchema, DataType, FieldSchema
from sluice.types.arrays import ARRAYS
from sluice.types.geometry import GEOMETRY
from sluice.types.info import TypeInfo
from sluice.types.scalars import SCALARS
from sluice.types.sparse import SPARSE
from sluice.types.structs import STRUCTS
from sluice.types.temporal import TEMPORAL
from sluice.types.vectors import VECTORS

REGISTRY: dict[DataType, TypeInfo] = {
    info.dtype: info
    for info in (*SCALARS, *ARRAYS, *TEMPORAL, *GEOMETRY, *VECTORS, *SPARSE, *STRUCTS)
}

#: Types Sluice stores.  Anything else is rejected at CreateCollection.
SUPPORTED_TYPES = frozenset(REGISTRY)


def type_info(dtype: DataType) -> TypeInfo:
    """The entry for ``dtype`` (``KeyError`` for a type Sluice does not store)."""
    return REGISTRY[dtype]


def arrow_type(fld: FieldSchema) -> pa.DataType:
    return REGISTRY[fld.dtype].arrow(fld)


def arrow_field(fld: FieldSchema) -> pa.Field:
    return pa.field(fld.name, arrow_type(fld), nullable=fld.nullable or fld.is_dynamic)


def arrow_schema(schema: CollectionSchema) -> pa.Schema:
    """Columns of a stored batch: every field, then the row timestamp."""
    cols = [arrow_field(f) for f in schema.fields]
    cols.append(pa.field(TS_COLUMN, pa.uint64(), nullable=False))
    return pa.schema(cols)
