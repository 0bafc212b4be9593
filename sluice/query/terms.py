"""The values a filter pins one field to, for pruning (partition-key reads).

A row can pass ``key == v``, ``key in [..]``, any ``or`` of such terms, or an
``and`` with one of them among its children, only if its ``key`` is one of
the listed values.  :func:`field_terms` returns those values, or ``None`` when
the filter does not restrict the field to a finite set (a range, a negation,
an ``or`` with another condition), so a caller may skip data that cannot
hold any of them without changing the result.
"""

from __future__ import annotations

from sluice.errors import RequestError
from sluice.query.bound import (
    AndPred,
    BoundExpr,
    Cmp,
    ColumnRef,
    ConstValue,
    InList,
    NotPred,
    OrPred,
    Predicate,
)
from sluice.query.pk import member_terms

#: Milvus's ``planpb.OpType`` names, used in its partition-key isolation errors.
_OP_NAMES = {
    ">": "GreaterThan",
    ">=": "GreaterEqual",
    "<": "LessThan",
    "<=": "LessEqual",
    "!=": "NotEqual",
}


def _terms(node: Predicate, name: str) -> list[ConstValue] | None:
    if isinstance(node, AndPred):
        found: set[ConstValue] | None = None
        for child in node.children:
            child_terms = _terms(child, name)
            if child_terms is not None:
                found = set(child_terms) if found is None else found & set(child_terms)
        return None if found is None else list(found)
    if isinstance(node, OrPred):
        union: list[ConstValue] = []
        for child in node.children:
            child_terms = _terms(child, name)
            if child_terms is None:
                return None
            union.extend(child_terms)
        return union
    return member_terms(node, name)


def field_terms(bound: BoundExpr, name: str) -> list[ConstValue] | None:
    """The values of ``name`` a row must have to pass ``bound`` (deduplicated), or ``None``."""
    terms = _terms(bound.root, name)
    if terms is None:
        return None
    return list(dict.fromkeys(terms))


def check_isolation(bound: BoundExpr | None, name: str) -> None:
    """Milvus's ``ValidatePartitionKeyIsolation``: the filter pins the key with one ``==``.

    With ``partitionkey.isolation`` on, a search may only read one key
    partition: the filter must AND ``key == value`` with anything else, and
    may not use the key in an ``in``, ``or``, ``not`` or range.
    """
    if bound is None or not _isolates(bound.root, name):
        raise RequestError(
            "partition key not found in expr or the expr is invalid when validating partition "
            "key isolation"
        )


def _isolates(node: Predicate, name: str) -> bool:
    """Whether ``node`` pins ``name`` with ``==``; raises when it uses ``name`` otherwise."""
    if isinstance(node, AndPred):
        found = [_isolates(child, name) for child in node.children]
        return any(found)
    if isinstance(node, OrPred):
        if any(_isolates(child, name) for child in node.children):
            raise RequestError("partition key isolation does not support OR")
        return False
    if isinstance(node, NotPred):
        if _isolates(node.child, name):
            raise RequestError("partition key isolation does not support NOT")
        return False
    if isinstance(node, InList):
        if isinstance(node.operand, ColumnRef) and node.operand.name == name:
            raise RequestError("partition key isolation does not support IN")
        return False
    if isinstance(node, Cmp) and isinstance(node.left, ColumnRef) and node.left.name == name:
        if node.op == "==":
            return True
        op = _OP_NAMES.get(node.op, node.op)
        raise RequestError(f"partition key isolation does not support {op}")
    return False


__all__ = ["check_isolation", "field_terms"]
