"""Scalar indexes on segments: declared like vector indexes, built per Flushed segment.

CreateIndex on a scalar field is validated by the scalar index library
(:mod:`sluice.index.scalar`, Milvus 2.6's rules and words); each Flushed
segment then gets the index built from its column and persisted beside it,
like a vector index.  A filter over a segment offers its leaves to the
segment's indexes first (:class:`~sluice.index.scalar.SegmentIndexes`) and
scans only what they decline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sluice.errors import ParameterInvalid
from sluice.index.scalar import (
    ScalarIndex,
    ScalarIndexSpec,
    SegmentIndexes,
    build_scalar_index,
    from_bytes,
    parse_scalar_index_spec,
    to_bytes,
)
from sluice.query import ast, parse
from sluice.schema import FieldSchema


@dataclass(frozen=True)
class BuiltScalarIndex:
    """A segment's scalar index with the definition it answers for."""

    spec: ScalarIndexSpec
    index: ScalarIndex

    @property
    def ntotal(self) -> int:
        return int(self.index.num_rows)

    def serialize(self) -> bytes:
        return to_bytes(self.index)


def _json_path(path: str) -> tuple[str | int, ...]:
    """``meta["a"][0]`` -> ``("a", 0)``: the filter language's own path syntax."""
    try:
        node = parse(f"{path} is null").root
    except Exception:
        raise ParameterInvalid.msg(f"invalid json path: {path}") from None
    operand = getattr(node, "operand", None)
    if not isinstance(operand, ast.Identifier):
        raise ParameterInvalid.msg(f"invalid json path: {path}")
    return operand.path


def parse_scalar(field: FieldSchema, params: Mapping[str, Any]) -> ScalarIndexSpec:
    return parse_scalar_index_spec(field, "", params, resolve_json_path=_json_path)


def build_for(spec: ScalarIndexSpec, column: Any) -> BuiltScalarIndex:
    return BuiltScalarIndex(spec, build_scalar_index(spec, column))


def load_for(spec: ScalarIndexSpec, blob: bytes) -> BuiltScalarIndex:
    return BuiltScalarIndex(spec, from_bytes(blob))


def segment_lookup(
    num_rows: int, built: Mapping[int, BuiltScalarIndex], column: Any
) -> SegmentIndexes | None:
    """The evaluator's hook over a segment's scalar indexes (``None``: there are none)."""
    if not built:
        return None
    by_key = {(b.spec.field_name, b.spec.nested_path): b.index for b in built.values()}
    return SegmentIndexes(num_rows, by_key, column)
