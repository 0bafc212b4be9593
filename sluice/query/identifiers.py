"""Field references written on their own, outside a filter: ``json_path`` of a JSON index.

CreateIndex on a JSON field (or on a dynamic-field key) names the indexed value
with the filter language's own identifier syntax, ``meta["a"][0]``, and Milvus
resolves it with its expression parser (``ParseIdentifier``).  Resolving it here
with the same parser and binder guarantees that an index declared on a path is
found by exactly the filters that read that path: ``meta["a"]`` and
``meta['a']`` are one path, and a key of the dynamic field ``k["a"]`` becomes
``$meta`` with the path ``("k", "a")``, as in a filter.

Milvus reports these errors as plain ones (code 65535): ``cannot parse
identifier: 1`` for text that is not an identifier, and the parser's own words
(``mismatched input '/'``) for text that does not parse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sluice.errors import ExpressionError, RequestError
from sluice.query import ast
from sluice.query.binder import Binder
from sluice.query.bound import ColumnRef
from sluice.query.parser import parse
from sluice.schema import CollectionSchema

#: The position our parser gives a syntax error (``syntax error at column 1 near "/"``).
_SYNTAX_AT = re.compile(r'syntax error at column (\d+) near "(.*)"')


@dataclass(frozen=True)
class ResolvedIdentifier:
    """Where an identifier points: a column and the JSON steps below it."""

    column: str
    path: tuple[ast.PathStep, ...]
    #: The column is the dynamic field (``$meta``): the path starts with the key.
    is_meta: bool
    #: The column holds JSON documents (the path may go below it).
    is_json: bool


def resolve_identifier(text: str, schema: CollectionSchema) -> ResolvedIdentifier:
    """Resolve ``text`` as a filter would read it; :class:`RequestError` when it is no identifier."""
    try:
        root = parse(text).root
    except ExpressionError as exc:
        raise RequestError(f"cannot parse identifier: {text}, error: {_why(exc)}") from None
    if not isinstance(root, ast.Identifier):
        raise RequestError(f"cannot parse identifier: {text}")
    try:
        ref = Binder(schema, text).resolve(root)
    except ExpressionError as exc:
        raise RequestError(f"cannot parse identifier: {text}, error: {_why(exc)}") from None
    if isinstance(ref, ColumnRef):
        return ResolvedIdentifier(ref.name, (), is_meta=False, is_json=False)
    return ResolvedIdentifier(ref.column, tuple(ref.path), is_meta=ref.is_meta, is_json=True)


def _why(exc: ExpressionError) -> str:
    """The parser's reason, worded as Milvus's parser words a token it did not expect."""
    reason = exc.message.split(", error: ", 1)[-1]
    found = _SYNTAX_AT.search(reason)
    if found is None:
        return reason
    column, token = int(found.group(1)), found.group(2)
    return f"line 1:{column - 1} mismatched input '{token}'"
