"""JSON values a reader can parse back, or a refusal at insert time.

A JSON field and the dynamic field (``$meta``) store the client's bytes as
they came.  Every query or search that returns them hands them to the
client's JSON parser, so one malformed document (a truncated object, invalid
UTF-8, ``NaN`` or ``Infinity``, which JSON does not have) would make every
later read of the row fail.  They are therefore parsed once, at insert, and a
batch with any bad document is refused whole, before anything is written.

Milvus's checks and wording (``internal/proxy``): a document longer than
``common.JSONMaxLength`` (64 KiB) is refused with the invalid-parameter code;
the dynamic field must hold a JSON object (``IO failed: json: cannot
unmarshal array into Go value of type map[string]interface {}``), must not
use the key ``$meta`` nor a static field's name.  A document that does not
parse is refused as ``IO failed: <reason>``; the reason is this parser's, not
Go's.  Cost: one ``orjson.loads`` per row with JSON in it (about a
microsecond for a small document); rows whose dynamic field is ``{}``, what
pymilvus sends when a row has no extra keys, are recognised in one vectorised
comparison and not parsed.
"""

from __future__ import annotations

from collections.abc import Collection

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from sluice.errors import InvalidJSONData, ParameterInvalid, RequestError
from sluice.schema import DYNAMIC_FIELD, FieldSchema

#: Milvus's ``common.JSONMaxLength``.
JSON_MAX_BYTES = 64 << 10
_EMPTY_OBJECT = pa.scalar(b"{}", type=pa.binary())
_GO_KINDS = {list: "array", str: "string", int: "number", float: "number", bool: "bool"}


def checked_json(fld: FieldSchema, values: pa.Array, static_names: Collection[str]) -> pa.Array:
    """``values`` as binary JSON documents, each checked; raises on the first bad one."""
    data = values.cast(pa.binary())
    if len(data) == data.null_count:
        return data
    _check_lengths(fld, data)
    if fld.is_dynamic:
        plain = pc.fill_null(pc.equal(data, _EMPTY_OBJECT), True)
        if pc.all(plain).as_py():
            return data
        to_parse = data.filter(pc.invert(plain))
    else:
        to_parse = data.drop_null()
    taken = frozenset(static_names) | {DYNAMIC_FIELD} if fld.is_dynamic else frozenset()
    loads = orjson.loads
    for raw in to_parse.to_pylist():
        if raw is None:
            continue
        try:
            doc = loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidJSONData.because(" ".join(str(exc).split())) from None
        if fld.is_dynamic and (type(doc) is not dict or not taken.isdisjoint(doc)):
            _refuse_dynamic(doc, static_names)
    return data


def _check_lengths(fld: FieldSchema, data: pa.Array) -> None:
    lengths = pc.binary_length(data)
    longest = pc.max(lengths).as_py()
    if longest is None or longest <= JSON_MAX_BYTES:
        return
    row = int(pc.index(pc.greater(lengths, JSON_MAX_BYTES), True).as_py())
    length = lengths[row].as_py()
    if fld.is_dynamic:
        raise ParameterInvalid.expected(
            "valid length dynamic field",
            "length exceeds max length",
            f"the length ({length}) of dynamic field exceeds max length ({JSON_MAX_BYTES})",
        )
    raise ParameterInvalid.expected(
        "valid length json string",
        "length exceeds max length",
        f"the length ({length}) of json field ({fld.name}) exceeds max length ({JSON_MAX_BYTES})",
    )


def _refuse_dynamic(doc: object, static_names: Collection[str]) -> None:
    """Say why ``doc`` cannot be a row's dynamic field (it is not an object, or takes a name)."""
    if not isinstance(doc, dict):
        kind = "null" if doc is None else _GO_KINDS.get(type(doc), "value")
        raise InvalidJSONData.because(
            f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
        )
    if DYNAMIC_FIELD in doc:
        raise RequestError(f"cannot set json key to: {DYNAMIC_FIELD}")
    for name in static_names:
        if name in doc:
            raise RequestError(f"dynamic field name cannot include the static field name: {name}")
