"""Milvus's boolean filter language: parse, bind to a schema, evaluate over Arrow batches.

    expr = parse('age > {min} and name like "a%"', {"min": 18})
    bound = bind(expr, schema)          # type-checked, names resolved
    mask = evaluate(bound, batch)       # np.ndarray[bool], one per row
    mask = evaluate(bound, batch, index=lookup)  # the same, leaves answered by indexes
    rows = indexed_rows(bound, batch, lookup)     # rows, when one lookup answers it all
    bound.fields                        # columns the evaluation reads
    pk_terms(bound, schema)             # keys, when the filter is a pk lookup
    resolve_identifier('m["a"]', schema)  # a JSON index's json_path, as a filter reads it

Every user mistake surfaces as :class:`sluice.errors.ExpressionError`, worded
like Milvus's ``cannot parse expression: <expr>, error: <why>``.  This package
depends only on :mod:`sluice.schema` and :mod:`sluice.errors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

from sluice.query.ast import Expr
from sluice.query.binder import bind
from sluice.query.bound import BoundExpr
from sluice.query.evaluator import evaluate
from sluice.query.identifiers import ResolvedIdentifier, resolve_identifier
from sluice.query.index_hook import IndexLeaf, IndexLookup
from sluice.query.index_rows import IndexRowLookup, indexed_rows
from sluice.query.parser import parse
from sluice.query.pk import pk_list_terms, pk_terms
from sluice.query.terms import check_isolation, field_terms
from sluice.schema import CollectionSchema

#: Template parameter values: bool, int, float, str, or (nested) lists of those.
ExprParams: TypeAlias = Mapping[str, Any]


def compile_filter(
    text: str | None, schema: CollectionSchema, params: ExprParams | None = None
) -> BoundExpr | None:
    """Parse and bind ``text``; ``None`` for an empty or whitespace-only filter (match all)."""
    if text is None or not text.strip():
        return None
    return bind(parse(text, params), schema)


__all__ = [
    "BoundExpr",
    "Expr",
    "ExprParams",
    "IndexLeaf",
    "IndexLookup",
    "IndexRowLookup",
    "ResolvedIdentifier",
    "bind",
    "check_isolation",
    "compile_filter",
    "evaluate",
    "field_terms",
    "indexed_rows",
    "parse",
    "pk_list_terms",
    "pk_terms",
    "resolve_identifier",
]
