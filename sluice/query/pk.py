"""Recognising filters that only select primary keys, so callers can look rows up directly.

``pk in [..]``, ``pk == x`` and any ``or`` of those name a finite key set;
deletes and ``get``-style queries can then use a key lookup instead of a scan.
Anything else (a range, a negation, another field) returns ``None``.

:func:`pk_list_terms` recognises the text SDKs send for ``get`` and
delete-by-ID (pymilvus: ``id in [1,2,3]`` or ``id in ['a','b']``) without the
general parser, whose cost would otherwise dominate a point read.  It accepts
only that plain shape (decimal integers within int64, or quoted strings without
escapes or quotes inside, of the key's own type) and leaves everything else to
:func:`pk_terms` after a full parse, so both always agree.
"""

from __future__ import annotations

import re

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
from sluice.schema import CollectionSchema, DataType

_INT64 = (-(2**63), 2**63 - 1)
# The grammar's own pieces (filter.lark): blanks, names, decimal integers, plain strings.
_WS = r"[ \t\r\n]*"
_INT = r"-?(?:0|[1-9][0-9]*)"
_STR = r"""(?:"[^"\\\r\n]*"|'[^'\\\r\n]*')"""
_PK_LIST = re.compile(
    rf"{_WS}([A-Za-z_][A-Za-z0-9_]*)[ \t\r\n]+(?i:in)\b{_WS}\[(.*)\]{_WS}", re.DOTALL
)
_INTS = re.compile(rf"{_WS}{_INT}{_WS}(?:,{_WS}{_INT}{_WS})*")
_STRINGS = re.compile(rf"{_WS}({_STR}){_WS}(?:,{_WS}{_STR}{_WS})*")
_STRING_ITEMS = re.compile(_STR)


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


def pk_list_terms(text: str, schema: CollectionSchema) -> list[int] | list[str] | None:
    """The keys of a plain ``pk in [literals]`` filter, recognised without parsing, or None."""
    found = _PK_LIST.fullmatch(text)
    if found is None:
        return None
    try:
        pk = schema.primary
    except LookupError:
        return None
    name, body = found.group(1), found.group(2)
    if name != pk.name or not body.strip():
        return None
    if pk.dtype == DataType.INT64:
        if _INTS.fullmatch(body) is None:
            return None
        keys = [int(item) for item in body.split(",")]
        if any(not _INT64[0] <= key <= _INT64[1] for key in keys):
            return None
        return list(dict.fromkeys(keys))
    if pk.dtype == DataType.VARCHAR and _STRINGS.fullmatch(body) is not None:
        return list(dict.fromkeys(item[1:-1] for item in _STRING_ITEMS.findall(body)))
    return None
