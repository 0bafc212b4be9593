"""Turning literal tokens and template parameters into Python values.

Milvus reads literals with Go's ``strconv``: integers through
``ParseInt(s, 0, 64)`` (``0x`` hex, ``0b`` binary, a leading ``0`` for octal)
and must fit in int64; floats through ``ParseFloat`` and must be finite;
strings through ``Unquote`` with C escapes.  One deliberate leniency: an
escape Go does not know (``\\%``, ``\\_``, ``\\d``) keeps its backslash instead
of failing, so ``like "100\\%"`` escapes the wildcard the way users expect.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from sluice.query.ast import ListLiteral, Literal, Node, Span

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "?": "?",
}

_ESCAPE = re.compile(
    r"\\(?:(?P<simple>[abfnrtv\\'\"?])|(?P<oct>[0-7]{1,3})|x(?P<hex>[0-9a-fA-F]{2})"
    r"|u(?P<u4>[0-9a-fA-F]{4})|U(?P<u8>[0-9a-fA-F]{8})|(?P<cont>\r\n|\n)|(?P<other>.))",
    re.DOTALL,
)


class LiteralError(ValueError):
    """A literal that cannot be represented; the message is the user-facing reason."""


def _unescape_one(match: re.Match[str]) -> str:
    groups = match.groupdict()
    if groups["simple"] is not None:
        return _SIMPLE_ESCAPES[groups["simple"]]
    if groups["cont"] is not None:
        return ""
    if groups["other"] is not None:
        return match.group(0)
    digits = groups["oct"] or groups["hex"] or groups["u4"] or groups["u8"]
    code = int(digits, 8 if groups["oct"] is not None else 16)
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise LiteralError(f"invalid escape sequence {match.group(0)!r}")
    return chr(code)


def string_value(token: str) -> str:
    """The value of a quoted string token (``"..."`` or ``'...'``)."""
    body = token[1:-1]
    if "\\" not in body:
        return body
    return _ESCAPE.sub(_unescape_one, body)


def raw_string_value(token: str) -> str:
    """The value of ``r"..."``: backslashes are kept verbatim."""
    return token[2:-1]


def int_value(token: str) -> int:
    """An integer token with Go's base prefixes, checked against int64."""
    lowered = token.lower()
    if lowered.startswith("0x"):
        value = int(lowered[2:], 16)
    elif lowered.startswith("0b"):
        value = int(lowered[2:], 2)
    elif len(lowered) > 1 and lowered.startswith("0"):
        value = int(lowered[1:], 8)
    else:
        value = int(lowered)
    if value > INT64_MAX:
        raise LiteralError(f"integer {token} is out of the int64 range")
    return value


def float_value(token: str) -> float:
    """A float token (decimal or C99 hex), which must be finite."""
    lowered = token.lower()
    value = float.fromhex(lowered) if lowered.startswith("0x") else float(lowered)
    if math.isinf(value):
        raise LiteralError(f"float {token} is out of range")
    return value


def _plain(value: Any) -> Any:
    """NumPy scalars and arrays become the Python values they hold."""
    item = getattr(value, "tolist", None)
    if item is not None and type(value).__module__ == "numpy":
        return item()
    return value


def template_node(name: str, raw: Any, span: Span) -> Node:
    """A literal node for parameter ``name``; errors name the parameter."""
    value = _plain(raw)
    if isinstance(value, bool | str):
        return Literal(value, span=span)
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise LiteralError(f"template parameter {{{name}}} is out of the int64 range")
        return Literal(value, span=span)
    if isinstance(value, float):
        return Literal(value, span=span)
    if isinstance(value, list | tuple):
        return ListLiteral(tuple(template_node(name, item, span) for item in value), span=span)
    raise LiteralError(f"template parameter {{{name}}} has unsupported type {type(raw).__name__}")


def lookup_param(params: Mapping[str, Any] | None, name: str) -> Any:
    """The value of ``{name}``, or a :class:`LiteralError` naming the missing parameter."""
    if params is None or name not in params:
        raise LiteralError(
            f"the value of expression template variable name {{{name}}} is not found"
        )
    return params[name]
