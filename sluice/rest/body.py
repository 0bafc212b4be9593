"""Request bodies read as Milvus's REST layer binds them (gin + Go's JSON decoder).

Milvus declares each body as a Go struct with ``json`` names and
``binding:"required"`` tags; a body that is not JSON, a value of the wrong
JSON type, or a missing required field is refused before any RPC runs, with
the decoder's or validator's sentence inside Milvus's wrapper:

* not JSON / wrong type: code 1801, ``can only accept json format request,
  error: json: cannot unmarshal string into Go struct field QueryReqV2.limit
  of type int32``;
* missing required field: code 1802, ``missing required parameters, error:
  Key: 'QueryReqV2.CollectionName' Error:Field validation for
  'CollectionName' failed on the 'required' tag``.

Unknown keys are ignored, as Go's decoder ignores them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from sluice.errors import RestIncorrectParameterFormat, RestMissingRequiredParameters

STR = "string"
INT = "int32"
INT64 = "int64"
BOOL = "bool"
FLOAT = "float64"
STRINGS = "[]string"
STRING_LISTS = "[][]string"
OBJECT = "map[string]interface {}"
OBJECTS = "[]map[string]interface {}"
STR_MAP = "map[string]string"
LIST = "[]interface {}"
ANY = "interface {}"


@dataclass(frozen=True)
class Key:
    """One field of a request struct: its JSON name, Go type and binding."""

    name: str
    go_type: str = STR
    required: bool = False
    default: Any = None
    #: The Go field name when it is not the JSON name capitalised (``ID`` for ``id``).
    go_name: str = ""

    @property
    def field(self) -> str:
        return self.go_name or self.name[:1].upper() + self.name[1:]


@dataclass(frozen=True)
class Struct:
    """A Milvus request struct (its Go name appears in binding errors)."""

    name: str
    keys: tuple[Key, ...]

    def bind(self, raw: bytes) -> dict[str, Any]:
        """Decode and validate ``raw``; absent keys take their defaults."""
        if not raw.strip():
            raise RestIncorrectParameterFormat(
                f"{RestIncorrectParameterFormat.base_message}, the request body should be nil, "
                "however {} is valid"
            )
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise RestIncorrectParameterFormat.because(str(exc)) from None
        if not isinstance(body, dict):
            raise RestIncorrectParameterFormat.because(
                f"json: cannot unmarshal {_json_kind(body)} into Go value of type "
                f"httpserver.{self.name}"
            )
        values: dict[str, Any] = {}
        for key in self.keys:
            value = body.get(key.name)
            if value is None:
                values[key.name] = key.default
                continue
            if not _fits(value, key.go_type):
                raise RestIncorrectParameterFormat.because(
                    f"json: cannot unmarshal {_json_kind(value)} into Go struct field "
                    f"{self.name}.{key.name} of type {key.go_type}"
                )
            values[key.name] = value
        for key in self.keys:
            if key.required and _is_zero(values[key.name], key.go_type):
                raise RestMissingRequiredParameters.because(
                    f"Key: '{self.name}.{key.field}' Error:Field validation for '{key.field}' "
                    "failed on the 'required' tag"
                )
        values["__raw__"] = body
        return values


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _fits(value: Any, go_type: str) -> bool:
    if go_type == ANY:
        return True
    if go_type == STR:
        return isinstance(value, str)
    if go_type in (INT, INT64):
        return isinstance(value, int) and not isinstance(value, bool)
    if go_type == FLOAT:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if go_type == BOOL:
        return isinstance(value, bool)
    if go_type == STRINGS:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if go_type == STRING_LISTS:
        return isinstance(value, list) and all(
            isinstance(v, list) and all(isinstance(s, str) for s in v) for v in value
        )
    if go_type in (OBJECT, STR_MAP):
        if not isinstance(value, dict):
            return False
        return go_type == OBJECT or all(isinstance(v, str) for v in value.values())
    if go_type == OBJECTS:
        return isinstance(value, list) and all(isinstance(v, dict) for v in value)
    if go_type == LIST:
        return isinstance(value, list)
    return True


def _is_zero(value: Any, go_type: str) -> bool:
    """The validator's ``required``: zero scalars and nil slices/maps fail it."""
    if value is None:
        return True
    if go_type in (STR, INT, INT64, BOOL, FLOAT):
        return not value
    return False
