"""Binding ``text_match`` and ``phrase_match``, beside the general binder.

``text_match(field, 'tokens')`` matches rows holding any of the query's
tokens, ``phrase_match(field, 'phrase'[, slop])`` the phrase with up to
``slop`` moves; both need a VARCHAR field with ``enable_match``.  The
wording is Milvus's planparserv2's.  Matching itself needs analyzers, which
this package does not have: the evaluator's index hook answers it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sluice.query import ast
from sluice.query.bound import ColumnRef, Const, Predicate, TextMatch
from sluice.schema import DataType

if TYPE_CHECKING:
    from sluice.query.binder import Binder

TEXT_MATCH = ("text_match", "phrase_match")
UINT32_MAX = 2**32 - 1


def text_match(binder: Binder, node: ast.Call) -> Predicate:
    """``text_match(field, 'q')`` / ``phrase_match(field, 'q'[, slop])``, as planparserv2."""
    phrase = node.name == "phrase_match"
    arity = (2, 3) if phrase else (2,)
    if len(node.args) not in arity or not isinstance(node.args[0], ast.Identifier):
        extra = " and an optional slop" if phrase else ""
        binder.fail(f"{node.name} takes a field and a string{extra}, got: {binder.snippet(node)}")
    ref = binder.resolve(node.args[0])
    what = "phrase match" if phrase else "text match"
    if not isinstance(ref, ColumnRef) or ref.dtype != DataType.VARCHAR:
        binder.fail(f"{what} operation on non-string is unsupported")
    field = binder.schema.get(ref.name)
    assert field is not None
    if not field.type_flag("enable_match"):
        binder.fail(f'field "{ref.name}" does not enable match')
    query = binder.value(node.args[1])
    if not (isinstance(query, Const) and isinstance(query.value, str)):
        binder.fail(
            f"the query of {node.name} must be a string, but got: {binder.snippet(node.args[1])}"
        )
    slop: int | None = None
    if phrase:
        slop = _slop(binder, node.args[2]) if len(node.args) == 3 else 0
    binder.text_fields.add(ref.name)
    return TextMatch(ref, query.value, slop)


def _slop(binder: Binder, node: ast.Node) -> int:
    text = binder.snippet(node)
    value = binder.value(node)
    if not (
        isinstance(value, Const)
        and isinstance(value.value, int)
        and not isinstance(value.value, bool)
    ):
        binder.fail(
            '"slop" should be a const integer expression with "uint32" value. '
            f'"slop" expression passed: {text}'
        )
    if value.value < 0:
        binder.fail(f'"slop" should not be a negative interger. "slop" passed: {text}')
    if value.value > UINT32_MAX:
        binder.fail(f'"slop" exceeds the range of "uint32". "slop" expression passed: {text}')
    return value.value
