"""What Sluice knows about one data type, in one record.

Every layer asks the same questions of a field's type: which Arrow type holds
its values, whether a column a client sent can be stored as it, how a
rejected column is worded, what a filter may do with it, how segments hold
it and what stands in for a null when Milvus sends a value for every row.
A :class:`TypeInfo` answers all of them for one :class:`~sluice.schema.DataType`;
:mod:`sluice.types.registry` holds one per type Sluice stores, so a new type
is one new entry rather than a branch in every module that touches data.

Protobuf encodings are not here: they live beside the API and the remote
client, the only layers allowed to import protobuf.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from sluice.schema import DataType, FieldSchema


class Storage(enum.Enum):
    """How a segment holds a column."""

    #: In the segment's Arrow record batches, beside the other scalar columns.
    ARROW = "arrow"
    #: As one numpy ``(rows, width)`` matrix, the shape vector search reads.
    DENSE = "dense"
    #: As Arrow binary rows in Milvus's sparse format, turned into CSR for search.
    SPARSE = "sparse"


class FilterKind(enum.Enum):
    """What a filter expression may do with a field of the type."""

    NUMBER = "number"
    STRING = "string"
    BOOL = "bool"
    JSON = "json"
    ARRAY = "array"
    GEOMETRY = "geometry"
    TIMESTAMP = "timestamp"


@dataclass(frozen=True)
class Context:
    """What checks and presentation need besides the field: the collection's settings."""

    #: IANA name of the time zone naive timestamps are read in and results shown in.
    timezone: str = "UTC"
    #: Names of the collection's schema fields (dynamic-field keys may not reuse them).
    static_names: tuple[str, ...] = ()


UTC = Context()

#: Validates a column for a field and returns it in the storage type (Milvus's wording).
Check = Callable[[FieldSchema, pa.Array, Context], pa.Array]
#: Stored values -> what Milvus shows a client (ISO timestamps, WKT), per row.
Present = Callable[[FieldSchema, pa.Array, Context], pa.Array]


@dataclass(frozen=True)
class TypeInfo:
    """One data type's facts and rules; see the module docstring."""

    dtype: DataType
    storage: Storage
    #: The Arrow type a field of this type is stored as.
    arrow: Callable[[FieldSchema], pa.DataType]
    #: Whether values arriving in this Arrow type can be stored (whatever label they carry).
    accepts: Callable[[pa.DataType], bool]
    #: Milvus's words for a column of the wrong kind: the message (``{name}``: the
    #: field) and the "expected" text of ``WrapErrParameterInvalid``.
    mismatch: tuple[str, str]
    #: Type-specific validation and conversion to the storage type (Milvus's wording).
    check: Check
    #: What filters may do with the field (``None``: it cannot be filtered on).
    filter: FilterKind | None = None
    #: Whether a search may group by the field.
    groupable: bool = False
    #: What Milvus puts in a response at a null row (it sends a value for every row).
    placeholder: Any = None
    #: Dense vectors: the numpy element type of the segment matrix.
    numpy_dtype: np.dtype[Any] | None = None
    #: Dense vectors: matrix columns for a dimension (``dim / 8`` bytes for binary).
    width: Callable[[int], int] | None = None
    #: Dense vectors: a column in the storage type -> the ``(rows, width)`` matrix
    #: (null rows zero-filled).
    to_matrix: Callable[[FieldSchema, pa.Array], np.ndarray] | None = None
    #: Dense vectors: the matrix back to a column in the storage type (no nulls).
    from_matrix: Callable[[FieldSchema, np.ndarray], pa.Array] | None = None
    #: Dense vectors: the dimension a column in this Arrow type carries, if it says.
    dim_of: Callable[[pa.DataType], int | None] | None = None
    #: Whether the type may be the element type of an ARRAY field.
    array_element: bool = False
    #: Stored values -> Milvus's representation in results (``None``: shown as stored).
    present: Present | None = None
    #: A field's ``default_value`` (as the schema keeps it) -> the stored value.
    default: Callable[[Any], Any] | None = None

    @property
    def is_vector(self) -> bool:
        return self.dtype.is_vector

    def mismatch_words(self, fld: FieldSchema) -> tuple[str, str]:
        """``mismatch`` for ``fld``; an ARRAY's expectation names its element type."""
        message = self.mismatch[0].format(name=fld.name)
        if self.dtype == DataType.ARRAY and fld.element_type is not None:
            return message, f"need {fld.element_type.milvus_name} array"
        return message, self.mismatch[1]

    def stored_default(self, fld: FieldSchema) -> Any:
        """The value that fills a missing or null cell of ``fld``."""
        value = fld.default_value
        return value if self.default is None or value is None else self.default(value)

    def matrix_width(self, fld: FieldSchema) -> int:
        assert self.width is not None and fld.dim is not None
        return self.width(fld.dim)
