"""Template parameters: finding ``{name}`` placeholders and filling them with values.

Milvus lets clients send a filter once as text with placeholders and bind
values per request (``expr_params``); filling a cached parse is much cheaper
than parsing new text, and values never go through the lexer, so they need
no quoting or escaping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sluice.query import ast
from sluice.query.ast import Node
from sluice.query.literals import LiteralError, lookup_param, template_node


def has_templates(node: Node) -> bool:
    """Whether ``node`` holds a ``{name}`` placeholder anywhere."""
    if isinstance(node, ast.Template):
        return True
    return any(has_templates(child) for child in _children(node))


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, ast.Literal | ast.Template | ast.Identifier):
        return ()
    if isinstance(node, ast.ListLiteral):
        return node.items
    if isinstance(node, ast.Unary | ast.Not):
        return (node.operand,)
    if isinstance(node, ast.Arith | ast.Compare):
        return (node.left, node.right)
    if isinstance(node, ast.Chain):
        return node.operands
    if isinstance(node, ast.In):
        return (node.operand, node.values)
    if isinstance(node, ast.Like):
        return (node.operand, node.pattern)
    if isinstance(node, ast.IsNull):
        return (node.operand,)
    if isinstance(node, ast.Exists):
        return (node.operand,)
    if isinstance(node, ast.Call):
        return node.args
    return node.operands


def fill_templates(node: Node, params: Mapping[str, Any] | None) -> Node:
    """``node`` with every ``{name}`` replaced by its parameter value.

    Raises :class:`~sluice.query.literals.LiteralError` naming a parameter
    that is missing or has an unusable value.
    """
    if isinstance(node, ast.Template):
        return template_node(node.name, lookup_param(params, node.name), node.span)
    if isinstance(node, ast.Literal | ast.Identifier):
        return node
    if isinstance(node, ast.ListLiteral):
        return ast.ListLiteral(tuple(fill_templates(i, params) for i in node.items), span=node.span)
    if isinstance(node, ast.Unary):
        return ast.Unary(node.op, fill_templates(node.operand, params), span=node.span)
    if isinstance(node, ast.Not):
        return ast.Not(fill_templates(node.operand, params), span=node.span)
    if isinstance(node, ast.Arith):
        left, right = fill_templates(node.left, params), fill_templates(node.right, params)
        return ast.Arith(node.op, left, right, span=node.span)
    if isinstance(node, ast.Compare):
        left, right = fill_templates(node.left, params), fill_templates(node.right, params)
        return ast.Compare(node.op, left, right, span=node.span)
    if isinstance(node, ast.Chain):
        a, b, c = (fill_templates(o, params) for o in node.operands)
        return ast.Chain(node.ops, (a, b, c), span=node.span)
    if isinstance(node, ast.In):
        if isinstance(node.values, ast.Template):
            raw = lookup_param(params, node.values.name)
            if not isinstance(raw, list | tuple) and not hasattr(raw, "tolist"):
                raise LiteralError(
                    f"the value of term expression template variable {{{node.values.name}}} "
                    "is not array"
                )
        operand, values = fill_templates(node.operand, params), fill_templates(node.values, params)
        return ast.In(operand, values, node.negated, span=node.span)
    if isinstance(node, ast.Like):
        operand, pattern = (
            fill_templates(node.operand, params),
            fill_templates(node.pattern, params),
        )
        return ast.Like(operand, pattern, node.negated, span=node.span)
    if isinstance(node, ast.IsNull):
        return ast.IsNull(fill_templates(node.operand, params), node.negated, span=node.span)
    if isinstance(node, ast.Exists):
        return node
    if isinstance(node, ast.Call):
        return ast.Call(
            node.name, tuple(fill_templates(a, params) for a in node.args), span=node.span
        )
    if isinstance(node, ast.And):
        return ast.And(tuple(fill_templates(o, params) for o in node.operands), span=node.span)
    return ast.Or(tuple(fill_templates(o, params) for o in node.operands), span=node.span)
