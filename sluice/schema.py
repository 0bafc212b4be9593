"""Collection schemas: the typed description every layer shares.

A schema is immutable once a collection exists, so fields and schemas are
frozen dataclasses.  Field IDs follow Milvus: user fields start at 100 in
schema order.  Each field has one Arrow type (:func:`sluice.types.arrow_type`);
segments, WAL payloads and query results all use it, so a column never
changes representation between the write path and the read path.

System columns live beside user columns in every batch under names a user
field cannot take (Milvus field names match ``[A-Za-z_][A-Za-z0-9_]*``):
``$ts`` holds each row's hybrid timestamp.  The dynamic field is ``$meta``,
as in Milvus.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

TS_COLUMN = "$ts"
DYNAMIC_FIELD = "$meta"
FIRST_FIELD_ID = 100
DEFAULT_PARTITION = "_default"


class DataType(enum.IntEnum):
    """``schema.DataType`` values, as they travel on the wire."""

    NONE = 0
    BOOL = 1
    INT8 = 2
    INT16 = 3
    INT32 = 4
    INT64 = 5
    FLOAT = 10
    DOUBLE = 11
    STRING = 20
    VARCHAR = 21
    ARRAY = 22
    JSON = 23
    GEOMETRY = 24
    TEXT = 25
    TIMESTAMPTZ = 26
    BINARY_VECTOR = 100
    FLOAT_VECTOR = 101
    FLOAT16_VECTOR = 102
    BFLOAT16_VECTOR = 103
    SPARSE_FLOAT_VECTOR = 104
    INT8_VECTOR = 105
    #: An array of structs (``schema.DataType.ArrayOfStruct``); never a vector itself.
    ARRAY_OF_STRUCT = 200

    @property
    def milvus_name(self) -> str:
        """The enum name Milvus prints in messages (``FloatVector``, ``VarChar``)."""
        return _MILVUS_NAMES.get(self, self.name.title())

    @property
    def is_vector(self) -> bool:
        return 100 <= self.value < 200

    @property
    def is_integer(self) -> bool:
        return self in _INTEGER_TYPES

    @property
    def is_numeric(self) -> bool:
        return self in _INTEGER_TYPES or self in (DataType.FLOAT, DataType.DOUBLE)


_MILVUS_NAMES = {
    DataType.NONE: "None",
    DataType.BOOL: "Bool",
    DataType.INT8: "Int8",
    DataType.INT16: "Int16",
    DataType.INT32: "Int32",
    DataType.INT64: "Int64",
    DataType.FLOAT: "Float",
    DataType.DOUBLE: "Double",
    DataType.STRING: "String",
    DataType.VARCHAR: "VarChar",
    DataType.ARRAY: "Array",
    DataType.JSON: "JSON",
    DataType.GEOMETRY: "Geometry",
    DataType.TEXT: "Text",
    DataType.TIMESTAMPTZ: "Timestamptz",
    DataType.BINARY_VECTOR: "BinaryVector",
    DataType.FLOAT_VECTOR: "FloatVector",
    DataType.FLOAT16_VECTOR: "Float16Vector",
    DataType.BFLOAT16_VECTOR: "BFloat16Vector",
    DataType.SPARSE_FLOAT_VECTOR: "SparseFloatVector",
    DataType.INT8_VECTOR: "Int8Vector",
    DataType.ARRAY_OF_STRUCT: "ArrayOfStruct",
}

_INTEGER_TYPES = frozenset({DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64})


class FunctionType(enum.IntEnum):
    """``schema.FunctionType``: what a collection or rerank function computes."""

    UNKNOWN = 0
    BM25 = 1
    TEXT_EMBEDDING = 2
    RERANK = 3
    MINHASH = 4
    MOL_FINGERPRINT = 5

    @property
    def milvus_name(self) -> str:
        """The enum name Milvus prints (``BM25``, ``TextEmbedding``)."""
        return _FUNCTION_NAMES[self]


_FUNCTION_NAMES = {
    FunctionType.UNKNOWN: "Unknown",
    FunctionType.BM25: "BM25",
    FunctionType.TEXT_EMBEDDING: "TextEmbedding",
    FunctionType.RERANK: "Rerank",
    FunctionType.MINHASH: "MinHash",
    FunctionType.MOL_FINGERPRINT: "MolFingerprint",
}


@dataclass(frozen=True)
class FunctionSchema:
    """A function: of a collection (BM25, TEXT_EMBEDDING) or of a search (RERANK).

    ``params`` are the key/value pairs exactly as the client sent them.
    """

    name: str
    type: FunctionType
    input_field_names: tuple[str, ...] = ()
    output_field_names: tuple[str, ...] = ()
    params: Mapping[str, str] = field(default_factory=dict)
    description: str = ""


class ConsistencyLevel(enum.IntEnum):
    """``common.ConsistencyLevel``."""

    STRONG = 0
    SESSION = 1
    BOUNDED = 2
    EVENTUALLY = 3
    CUSTOMIZED = 4


@dataclass(frozen=True)
class FieldSchema:
    """One column of a collection."""

    name: str
    dtype: DataType
    field_id: int = 0
    description: str = ""
    is_primary: bool = False
    auto_id: bool = False
    dim: int | None = None
    max_length: int | None = None
    nullable: bool = False
    default_value: Any = None
    is_dynamic: bool = False
    is_partition_key: bool = False
    #: Clustering compaction sorts and cuts segments by this field's values (one per collection).
    is_clustering_key: bool = False
    #: ARRAY fields: the elements' type and the most elements a row may hold.
    element_type: DataType | None = None
    max_capacity: int | None = None
    #: Type parameters exactly as the client sent them (echoed by DescribeCollection).
    type_params: Mapping[str, str] = field(default_factory=dict)
    #: ARRAY_OF_STRUCT fields: the struct's sub-fields, each with its own type and ID
    #: (FLOAT_VECTOR with ``dim``, VARCHAR with ``max_length``, or a number or BOOL).
    struct_fields: tuple[FieldSchema, ...] = ()

    def sub_field(self, name: str) -> FieldSchema | None:
        """The struct sub-field ``name`` of an ARRAY_OF_STRUCT field."""
        for sub in self.struct_fields:
            if sub.name == name:
                return sub
        return None

    def type_flag(self, key: str) -> bool:
        """A boolean type parameter (``enable_match``...) read as Go's ``strconv.ParseBool``."""
        return self.type_params.get(key, "") in ("1", "t", "T", "TRUE", "true", "True")


@dataclass(frozen=True)
class CollectionSchema:
    """A collection's fields in schema order, plus collection-wide switches."""

    name: str
    fields: tuple[FieldSchema, ...]
    description: str = ""
    enable_dynamic_field: bool = False
    #: Functions that compute output fields from input fields at insert (BM25, embeddings).
    functions: tuple[FunctionSchema, ...] = ()

    # Derived views are cached: a schema never changes, and reads consult them per request.

    @cached_property
    def primary(self) -> FieldSchema:
        for f in self.fields:
            if f.is_primary:
                return f
        raise LookupError("schema has no primary key")

    @property
    def clustering_key(self) -> FieldSchema | None:
        """The field clustering compaction orders segments by, if the schema names one."""
        for f in self.fields:
            if f.is_clustering_key:
                return f
        return None

    @property
    def auto_id(self) -> bool:
        return self.primary.auto_id

    @cached_property
    def vector_fields(self) -> tuple[FieldSchema, ...]:
        return tuple(f for f in self.fields if f.dtype.is_vector)

    @cached_property
    def dynamic_field(self) -> FieldSchema | None:
        for f in self.fields:
            if f.is_dynamic:
                return f
        return None

    @cached_property
    def user_fields(self) -> tuple[FieldSchema, ...]:
        """Fields a user names in data and output (everything but ``$meta``)."""
        return tuple(f for f in self.fields if not f.is_dynamic)

    @cached_property
    def _by_name(self) -> dict[str, FieldSchema]:
        return {f.name: f for f in self.fields}

    def get(self, name: str) -> FieldSchema | None:
        return self._by_name.get(name)

    @cached_property
    def struct_fields(self) -> tuple[FieldSchema, ...]:
        """The ARRAY_OF_STRUCT fields, in schema order."""
        return tuple(f for f in self.fields if f.dtype == DataType.ARRAY_OF_STRUCT)

    def struct_member(self, path: str) -> tuple[FieldSchema, FieldSchema] | None:
        """``chunks[vec]`` -> the struct field and its sub-field (``None``: not such a path)."""
        parsed = split_struct_path(path)
        if parsed is None:
            return None
        parent = self.get(parsed[0])
        if parent is None or parent.dtype != DataType.ARRAY_OF_STRUCT:
            return None
        sub = parent.sub_field(parsed[1])
        return None if sub is None else (parent, sub)

    @cached_property
    def struct_vector_paths(self) -> tuple[str, ...]:
        """``struct[sub]`` of every vector sub-field: each needs an index, as a vector field."""
        return tuple(
            struct_path(f.name, sub.name)
            for f in self.struct_fields
            for sub in f.struct_fields
            if sub.dtype.is_vector
        )

    @property
    def max_field_id(self) -> int:
        """The largest field ID in use, struct sub-fields included."""
        ids = [f.field_id for f in self.fields]
        ids.extend(sub.field_id for f in self.fields for sub in f.struct_fields)
        return max(ids, default=FIRST_FIELD_ID - 1)

    def by_id(self, field_id: int) -> FieldSchema | None:
        for f in self.fields:
            if f.field_id == field_id:
                return f
        return None


def with_field_ids(
    fields: Iterable[FieldSchema], *, dynamic: bool = False
) -> tuple[FieldSchema, ...]:
    """Number fields from 100 as Milvus's root coordinator does.

    Plain fields first in order (then ``$meta`` when ``dynamic``, which the
    proxy appends to them); each array-of-structs field follows, immediately
    followed by its sub-fields.  The result keeps the given order, ``$meta``
    last.
    """
    fields = tuple(fields)
    plain = [f for f in fields if f.dtype != DataType.ARRAY_OF_STRUCT]
    ids: dict[str, int] = {f.name: FIRST_FIELD_ID + i for i, f in enumerate(plain)}
    next_id = FIRST_FIELD_ID + len(plain) + (1 if dynamic else 0)
    out = []
    for f in fields:
        if f.dtype != DataType.ARRAY_OF_STRUCT:
            out.append(replace(f, field_id=ids[f.name]))
            continue
        subs = tuple(
            replace(sub, field_id=next_id + 1 + i) for i, sub in enumerate(f.struct_fields)
        )
        out.append(replace(f, field_id=next_id, struct_fields=subs))
        next_id += 1 + len(subs)
    if dynamic:
        meta = replace(dynamic_meta_field(), field_id=FIRST_FIELD_ID + len(plain))
        out.append(meta)
    return tuple(out)


def struct_path(struct: str, sub: str) -> str:
    """How Milvus names a struct sub-field in requests: ``chunks[vec]``."""
    return f"{struct}[{sub}]"


def split_struct_path(path: str) -> tuple[str, str] | None:
    """``chunks[vec]`` -> ``("chunks", "vec")``; ``None`` for any other name."""
    open_at = path.find("[")
    if open_at <= 0 or not path.endswith("]"):
        return None
    inner = path[open_at + 1 : -1]
    if not inner or "[" in inner or "]" in inner:
        return None
    return path[:open_at], inner


def dynamic_meta_field() -> FieldSchema:
    return FieldSchema(name=DYNAMIC_FIELD, dtype=DataType.JSON, is_dynamic=True)
