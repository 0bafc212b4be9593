"""Recognising filters that only select primary keys, so callers can look rows up directly.

``pk in [..]``, ``pk == x`` and any ``or`` of those name a finite key set;
deletes and ``get``-style queries can then use a key lookup instead of a scan.
Anything else (a range, a negation, another field) returns ``None``.
"""

from __future__ import annotations

from sluice.query.bound import (
    BoundExpr,
    Cmp,
    ColumnRef,
    Const,
    ConstValue,
    InList,
    OrPred,
    Predicate,
)
from sluice.query.consts import CastError, cast_member
from sluice.schema import CollectionSchema


def member_terms(node: Predicate, name: str) -> list[ConstValue] | None:
    """The values of ``name`` that ``name == v`` or ``name in [..]`` accepts (else ``None``)."""
    if isinstance(node, InList | Cmp):
        return _keys(node, name)
    return None


def _keys(node: Predicate, pk: str) -> list[ConstValue] | None:
    if isinstance(node, InList):
        if isinstance(node.operand, ColumnRef) and node.operand.name == pk:
            return list(node.values)
        return None
    if isinstance(node, Cmp):
        left, right = node.left, node.right
        is_pk = isinstance(left, ColumnRef) and left.name == pk
        if node.op != "==" or not is_pk or not isinstance(right, Const):
            return None
        assert isinstance(left, ColumnRef)
        try:
            usable, value = cast_member(left.dtype, right.value)
        except CastError:
            return None
        return [value] if usable else []
    if isinstance(node, OrPred):
        keys: list[ConstValue] = []
        for child in node.children:
            child_keys = _keys(child, pk)
            if child_keys is None:
                return None
            keys.extend(child_keys)
        return keys
    return None


def pk_terms(bound: BoundExpr, schema: CollectionSchema) -> list[int] | list[str] | None:
    """The primary keys a pure key-membership filter selects (deduplicated, in order), or None."""
    try:
        pk = schema.primary.name
    except LookupError:
        return None
    keys = _keys(bound.root, pk)
    if keys is None:
        return None
    unique = list(dict.fromkeys(keys))
    if all(isinstance(k, str) for k in unique):
        return [k for k in unique if isinstance(k, str)]
    return [k for k in unique if isinstance(k, int) and not isinstance(k, bool)]
