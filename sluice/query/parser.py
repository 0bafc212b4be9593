"""Text to :class:`~sluice.query.ast.Expr`: the lark LALR parser and its tree builder.

The grammar lives in ``filter.lark`` beside this module (shipped as package
data).  The LALR tables are built once per process, on first use (~70 ms),
and the tree is built during parsing by an inline transformer, so no
intermediate parse tree is ever materialised.  Parsed trees are immutable and
cached by text; template parameters are substituted on a copy afterwards, so
one cached parse serves every parameter set.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib import resources
from typing import Any

import lark
from lark import Token, Transformer, v_args
from lark.exceptions import UnexpectedEOF, UnexpectedInput, UnexpectedToken

from sluice.errors import ExpressionError
from sluice.query import ast
from sluice.query.ast import TOO_DEEP, Node, Span
from sluice.query.literals import (
    LiteralError,
    float_value,
    int_value,
    raw_string_value,
    string_value,
)
from sluice.query.templates import fill_templates, has_templates

_CACHE_SIZE = 4096


def _tok_span(token: Token) -> Span:
    start = token.start_pos if token.start_pos is not None else 0
    end = token.end_pos if token.end_pos is not None else start
    return (start, end)


def _span_of(*parts: Node | Token) -> Span:
    spans = [_tok_span(p) if isinstance(p, Token) else p.span for p in parts]
    return (min(s[0] for s in spans), max(s[1] for s in spans))


class _SyntaxProblem(Exception):
    """A token that parses but cannot be a value (an out-of-range number...)."""

    def __init__(self, token: Token, why: str) -> None:
        super().__init__(why)
        self.token = token
        self.why = why


@v_args(inline=True)
class _Builder(Transformer[Token, Node]):
    """Builds :mod:`sluice.query.ast` nodes as the LALR parser reduces."""

    def start(self, expr: Node) -> Node:
        return expr

    def or_expr(self, *operands: Node) -> Node:
        return ast.Or(operands, span=_span_of(operands[0], operands[-1]))

    def and_expr(self, *operands: Node) -> Node:
        return ast.And(operands, span=_span_of(operands[0], operands[-1]))

    def not_(self, tok: Token, operand: Node) -> Node:
        return ast.Not(operand, span=_span_of(tok, operand))

    def compare(self, left: Node, op: Token, right: Node) -> Node:
        return ast.Compare(str(op), left, right, span=_span_of(left, right))

    def chain(self, a: Node, op1: Token, b: Node, op2: Token, c: Node) -> Node:
        return ast.Chain((str(op1), str(op2)), (a, b, c), span=_span_of(a, c))

    def in_(self, operand: Node, values: Node) -> Node:
        return ast.In(operand, values, span=_span_of(operand, values))

    def not_in(self, operand: Node, _not: Token, values: Node) -> Node:
        return ast.In(operand, values, negated=True, span=_span_of(operand, values))

    def like(self, operand: Node, pattern: Node) -> Node:
        return ast.Like(operand, pattern, span=_span_of(operand, pattern))

    def not_like(self, operand: Node, _not: Token, pattern: Node) -> Node:
        return ast.Like(operand, pattern, negated=True, span=_span_of(operand, pattern))

    def is_null(self, operand: Node) -> Node:
        return ast.IsNull(operand, span=operand.span)

    def is_not_null(self, operand: Node, _not: Token) -> Node:
        return ast.IsNull(operand, negated=True, span=_span_of(operand, _not))

    def sum(self, *items: Node | Token) -> Node:
        """``a op b op c ...`` over + - * / %: ``*`` ``/`` ``%`` bind first, then left to right."""
        terms: list[Node] = []
        pending: list[str] = []
        operand = items[0]
        assert not isinstance(operand, Token)
        for op, right in zip(items[1::2], items[2::2], strict=True):
            assert isinstance(op, Token) and not isinstance(right, Token)
            if op.type == "MUL_OP":
                operand = ast.Arith(str(op), operand, right, span=_span_of(operand, right))
            else:
                terms.append(operand)
                pending.append(str(op))
                operand = right
        terms.append(operand)
        result = terms[0]
        for op_text, term in zip(pending, terms[1:], strict=True):
            result = ast.Arith(op_text, result, term, span=_span_of(result, term))
        return result

    def power(self, *items: Node | Token) -> Node:
        result = items[0]
        assert not isinstance(result, Token)
        for right in items[2::2]:
            assert not isinstance(right, Token)
            result = ast.Arith("**", result, right, span=_span_of(result, right))
        return result

    def unary(self, op: Token, operand: Node) -> Node:
        return ast.Unary(str(op), operand, span=_span_of(op, operand))

    def integer(self, tok: Token) -> Node:
        try:
            return ast.Literal(int_value(str(tok)), span=_tok_span(tok))
        except LiteralError as exc:
            raise _SyntaxProblem(tok, str(exc)) from None

    def floating(self, tok: Token) -> Node:
        try:
            return ast.Literal(float_value(str(tok)), span=_tok_span(tok))
        except LiteralError as exc:
            raise _SyntaxProblem(tok, str(exc)) from None

    def string(self, tok: Token) -> Node:
        try:
            return ast.Literal(string_value(str(tok)), span=_tok_span(tok))
        except LiteralError as exc:
            raise _SyntaxProblem(tok, str(exc)) from None

    def raw_string(self, tok: Token) -> Node:
        return ast.Literal(raw_string_value(str(tok)), span=_tok_span(tok))

    def boolean(self, tok: Token) -> Node:
        return ast.Literal(str(tok).lower() == "true", span=_tok_span(tok))

    def field(self, name: Token, *steps: Token) -> Node:
        path: list[ast.PathStep] = []
        for step in steps:
            if step.type == "INT":
                path.append(self._array_index(step))
            else:
                key = self.string(step) if step.type == "STRING" else self.raw_string(step)
                assert isinstance(key, ast.Literal) and isinstance(key.value, str)
                if not key.value:
                    raise _SyntaxProblem(step, f"invalid identifier: {name}{''.join(steps)}")
                path.append(key.value)
        span = _span_of(name, *steps) if steps else _tok_span(name)
        if steps:
            span = (span[0], span[1] + 1)  # the closing bracket
        return ast.Identifier(str(name), tuple(path), span=span)

    def _array_index(self, tok: Token) -> int:
        text = str(tok)
        if not text.isdigit() or (len(text) > 1 and text.startswith("0")):
            raise _SyntaxProblem(
                tok, f'json key must be a quoted string or a decimal index: "{text}"'
            )
        return int(text)

    def list_(self, *items: Node) -> Node:
        if not items:
            return ast.ListLiteral((), span=(0, 0))
        return ast.ListLiteral(tuple(items), span=_span_of(*items))

    def template(self, name: Token) -> Node:
        start, end = _tok_span(name)
        return ast.Template(str(name), span=(start - 1, end + 1))

    def call(self, name: Token, *args: Node) -> Node:
        return ast.Call(str(name).lower(), tuple(args), span=_span_of(name, *args))

    def iso(self, tok: Token) -> Node:
        """``ISO '...'``: a timestamp literal, bound against TIMESTAMPTZ fields."""
        text = self.string(tok)
        return ast.Call("iso", (text,), span=_tok_span(tok))

    def interval(self, tok: Token) -> Node:
        """``INTERVAL 'P1D'``: an ISO-8601 duration, only valid beside a timestamp."""
        text = self.string(tok)
        return ast.Call("interval", (text,), span=_tok_span(tok))

    def exists(self, operand: Node) -> Node:
        assert isinstance(operand, ast.Identifier)
        return ast.Exists(operand, span=operand.span)


@functools.cache
def _parser() -> lark.Lark:
    grammar = resources.files("sluice.query").joinpath("filter.lark").read_text(encoding="utf-8")
    return lark.Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        transformer=_Builder(),
        maybe_placeholders=False,
    )


def _describe_token(text: str, column: int) -> str:
    """The token-ish text at 1-based ``column`` for an error message."""
    rest = text[column - 1 :]
    word = rest.split(None, 1)[0] if rest.strip() else ""
    return word[:20]


def _syntax_error(text: str, exc: UnexpectedInput) -> ExpressionError:
    """``syntax error at column N near "tok"``, columns counted from 1 like Milvus's."""
    if isinstance(exc, UnexpectedEOF) or (
        isinstance(exc, UnexpectedToken) and exc.token.type == "$END"
    ):
        why = f"syntax error at column {len(text) + 1}: unexpected end of expression"
        return ExpressionError.for_expr(text, why)
    pos = exc.pos_in_stream if isinstance(exc.pos_in_stream, int) else 0
    column = pos + 1
    if isinstance(exc, UnexpectedToken):
        near = str(exc.token)
    else:
        near = _describe_token(text, column) or text[pos : pos + 1]
    return ExpressionError.for_expr(text, f'syntax error at column {column} near "{near}"')


def _problem(text: str, problem: _SyntaxProblem) -> ExpressionError:
    column = (problem.token.start_pos or 0) + 1
    return ExpressionError.for_expr(
        text, f'{problem.why} (at column {column} near "{problem.token}")'
    )


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _parse_text(text: str) -> ast.Expr:
    try:
        root: Node = _parser().parse(text)  # type: ignore[assignment]
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    except _SyntaxProblem as exc:
        raise _problem(text, exc) from None
    except lark.exceptions.VisitError as exc:
        if isinstance(exc.orig_exc, _SyntaxProblem):
            raise _problem(text, exc.orig_exc) from None
        raise ExpressionError.for_expr(text, f"unsupported expression: {exc.orig_exc}") from None
    except lark.exceptions.LarkError as exc:
        raise ExpressionError.for_expr(text, f"unsupported expression: {exc}") from None
    try:
        templated = "{" in text and has_templates(root)
    except RecursionError:
        raise ExpressionError.for_expr(text, TOO_DEEP) from None
    return ast.Expr(root, text, has_templates=templated)


def parse(text: str, params: Mapping[str, Any] | None = None) -> ast.Expr:
    """Parse a Milvus filter expression; ``params`` fill its ``{name}`` placeholders.

    Raises :class:`~sluice.errors.ExpressionError` for syntax errors (with the
    column and offending token) and for missing or unusable parameters.
    """
    if not isinstance(text, str):
        raise ExpressionError.for_expr(str(text), "expression must be a string")
    expr = _parse_text(text)
    if not expr.has_templates:
        return expr
    try:
        root = fill_templates(expr.root, params)
    except LiteralError as exc:
        # Milvus reports template errors (FillExpressionValue) without the
        # "cannot parse expression" wrapper its parser errors get.
        raise ExpressionError(str(exc)) from None
    except RecursionError:
        raise ExpressionError.for_expr(text, TOO_DEEP) from None
    return ast.Expr(root, text, has_templates=False)
