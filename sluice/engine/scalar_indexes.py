"""Scalar indexes in the engine: what CreateIndex names, how each segment's index is built and asked.

CreateIndex on a non-vector field is checked by the scalar index library
(:mod:`sluice.index.scalar`, Milvus 2.6's rules and wording).  What it names is
an :class:`IndexTarget`: a schema field (JSON included), or, when the
collection has a dynamic field and no field has that name, a key of ``$meta``
(Milvus's ``GetFieldFromNameDefaultJSON``).  A JSON target's ``json_path`` is
the filter language's identifier (``meta["a"][0]``), resolved by the query
binder itself, so an index answers exactly the filters that read its path; a
missing ``json_path`` means the requested name (the whole field, or the
dynamic key).

Each Flushed segment gets its own index, built from the segment's column in
filter row order (:func:`build_for_view`) and persisted beside it like a
vector index.  At read time :func:`segment_lookup` wraps a view's scalar
indexes in the evaluator's hook; a leaf an index cannot answer exactly is
scanned, so answers never depend on which segments are indexed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sluice.errors import ParameterInvalid, RequestError
from sluice.index.scalar import (
    ScalarIndex,
    ScalarIndexSpec,
    SegmentIndexes,
    build_scalar_index,
    from_bytes,
    parse_scalar_index_spec,
    to_bytes,
)
from sluice.index.scalar.spec import JSON_PATH_KEY
from sluice.index.spec import merge_client_params
from sluice.query import resolve_identifier
from sluice.schema import CollectionSchema, FieldSchema


@dataclass(frozen=True)
class IndexTarget:
    """The field a CreateIndex request names, as the schema resolves it.

    ``field`` holds the values (``$meta`` for a dynamic key); ``requested`` is
    the name as sent, which DescribeIndex shows back.
    """

    field: FieldSchema
    requested: str

    @property
    def is_dynamic_key(self) -> bool:
        return self.field.is_dynamic and self.requested != self.field.name

    @property
    def column(self) -> str:
        return self.field.name


def index_target(schema: CollectionSchema, field_name: str) -> IndexTarget:
    """The field ``field_name`` names (a dynamic key when no field has the name)."""
    field = schema.get(field_name) or _struct_target(schema, field_name)
    if field is None and schema.enable_dynamic_field:
        field = schema.dynamic_field
    if field is None:
        raise RequestError(f"cannot create index on non-exist field: {field_name}")
    return IndexTarget(field, field_name)


def _struct_target(schema: CollectionSchema, field_name: str) -> FieldSchema | None:
    """``chunks[vec]``: a struct's vector sub-field, as a vector field named by its path.

    Milvus indexes no scalar sub-field of a struct; naming one is refused by name.
    """
    member = schema.struct_member(field_name)
    if member is None:
        return None
    if not member[1].dtype.is_vector:
        raise ParameterInvalid.msg(
            f"index on the scalar field {field_name} of an array of structs is not supported"
        )
    return replace(member[1], name=field_name)


def target_of(schema: CollectionSchema, field_name: str, column: str) -> IndexTarget:
    """The target of a declared index (``column`` is set for dynamic keys)."""
    field = schema.get(column or field_name) or _struct_target(schema, field_name)
    if field is None:
        raise RequestError(f"cannot create index on non-exist field: {field_name}")
    return IndexTarget(field, field_name)


def parse_scalar(
    schema: CollectionSchema, target: IndexTarget, params: Mapping[str, Any]
) -> ScalarIndexSpec:
    """Validate a scalar index on ``target`` (Milvus's checkers and words)."""
    merged = merge_client_params(params)

    def resolve(text: str) -> tuple[str | int, ...]:
        found = resolve_identifier(text, schema)
        if not found.is_json or found.column != target.column:
            raise ParameterInvalid.msg(
                f"json path {text} does not belong to field {target.requested}"
            )
        return found.path

    spec = parse_scalar_index_spec(target.field, "", merged, resolve_json_path=resolve)
    if spec.is_json and JSON_PATH_KEY not in merged:
        # Milvus indexes the requested name itself: the whole field, or the dynamic key.
        spec = replace(spec, json_path=target.requested, nested_path=resolve(target.requested))
    return spec


def default_index_name(target: IndexTarget, spec: ScalarIndexSpec | None) -> str:
    """Milvus's name for an unnamed index: the field, plus the JSON pointer of a path.

    ``meta["a"]["b"]`` is ``meta/a/b``; a dynamic key ``k["a"]`` is ``$meta/k/a``.
    """
    if spec is None or not spec.is_json:
        return target.requested
    pointer = "".join(
        "/" + str(step).replace("~", "~0").replace("/", "~1") for step in spec.nested_path
    )
    return target.column + pointer


@dataclass(frozen=True)
class BuiltScalarIndex:
    """One segment's scalar index with the definition it answers for."""

    spec: ScalarIndexSpec
    index: ScalarIndex

    @property
    def key(self) -> tuple[str, tuple[str | int, ...]]:
        """The (column, JSON path) whose filter leaves this index answers."""
        return self.spec.field_name, self.spec.nested_path

    def serialize(self) -> bytes:
        return to_bytes(self.index)


def indexed_column(spec: ScalarIndexSpec) -> str:
    """The segment column an index is built from."""
    return spec.field_name


def build_scalar(spec: ScalarIndexSpec, column: Any) -> BuiltScalarIndex:
    """Build ``spec`` over one segment's column (rows in the segment's filter order)."""
    return BuiltScalarIndex(spec, build_scalar_index(spec, column))


def load_scalar(spec: ScalarIndexSpec, blob: bytes) -> BuiltScalarIndex:
    """An index from its bytes; damaged bytes raise :class:`~sluice.index.scalar.CorruptIndex`."""
    return BuiltScalarIndex(spec, from_bytes(blob))


def segment_lookup(
    num_rows: int, built: Mapping[int, BuiltScalarIndex], column: Any
) -> SegmentIndexes | None:
    """The evaluator's hook over one segment's scalar indexes (``None``: it has none)."""
    if not built:
        return None
    by_key = {b.key: b.index for b in built.values()}
    return SegmentIndexes(num_rows, by_key, column)
