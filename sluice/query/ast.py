"""The parsed, schema-free form of a filter expression.

Nodes are frozen so a parsed expression can be cached and shared between
requests and threads.  Every node carries ``span``, the ``[start, end)``
character offsets of its source text, so that binding errors can quote the
part of the filter they are about; spans do not take part in equality.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

#: ``[start, end)`` character offsets into the filter text.
Span: TypeAlias = tuple[int, int]
#: A literal scalar as written (or as passed through a template parameter).
Scalar: TypeAlias = bool | int | float | str
#: One step of a JSON path: an object key or an array index.
PathStep: TypeAlias = str | int

NO_SPAN: Span = (0, 0)
#: Why a filter is rejected when its nesting exhausts Python's recursion limit
#: (a few hundred levels; Milvus also caps expression depth).
TOO_DEEP = "expression is nested too deeply"


@dataclass(frozen=True, slots=True)
class Literal:
    """A bool, integer, float or string constant."""

    value: Scalar
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class ListLiteral:
    """``[a, b, ...]``; items are constant expressions (possibly nested lists)."""

    items: tuple[Node, ...]
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Template:
    """``{name}``: replaced by a parameter value before binding."""

    name: str
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Identifier:
    """A field name (or ``$meta``) optionally followed by a JSON path ``["a"][0]``."""

    name: str
    path: tuple[PathStep, ...] = ()
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Unary:
    """Unary ``-`` or ``+`` on a number."""

    op: str
    operand: Node
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Arith:
    """``+ - * / % **`` between two numeric operands."""

    op: str
    left: Node
    right: Node
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Compare:
    """``left op right`` with ``op`` one of ``== != < <= > >=``."""

    op: str
    left: Node
    right: Node
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Chain:
    """``a op1 b op2 c``: a range test when both operators point the same way."""

    ops: tuple[str, str]
    operands: tuple[Node, Node, Node]
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class In:
    """``operand [not] in values``."""

    operand: Node
    values: Node
    negated: bool = False
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Like:
    """``operand [not] like pattern``."""

    operand: Node
    pattern: Node
    negated: bool = False
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class IsNull:
    """``operand is [not] null``."""

    operand: Node
    negated: bool = False
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Exists:
    """``exists json["key"]``."""

    operand: Identifier
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Call:
    """``name(args...)``; ``name`` is lower-cased."""

    name: str
    args: tuple[Node, ...]
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Not:
    """``not``, ``!``."""

    operand: Node
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class And:
    """``and`` / ``&&`` over two or more operands (chains are flattened)."""

    operands: tuple[Node, ...]
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True, slots=True)
class Or:
    """``or`` / ``||`` over two or more operands (chains are flattened)."""

    operands: tuple[Node, ...]
    span: Span = field(default=NO_SPAN, compare=False)


Node: TypeAlias = (
    Literal
    | ListLiteral
    | Template
    | Identifier
    | Unary
    | Arith
    | Compare
    | Chain
    | In
    | Like
    | IsNull
    | Exists
    | Call
    | Not
    | And
    | Or
)


@dataclass(frozen=True, slots=True)
class Expr:
    """A parsed filter: its tree plus the text it came from (quoted in errors)."""

    root: Node
    text: str
    #: Whether ``root`` still holds ``{name}`` placeholders.
    has_templates: bool = False
