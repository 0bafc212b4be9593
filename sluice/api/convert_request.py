"""Small request decodings shared by several RPC groups."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from pymilvus.grpc_gen import common_pb2, schema_pb2

from sluice.errors import ParameterInvalid


def template_values(values: Mapping[str, schema_pb2.TemplateValue]) -> dict[str, Any]:
    """``expr_template_values`` as plain Python values for the expression binder."""
    return {name: _template_value(value) for name, value in values.items()}


def _template_value(value: schema_pb2.TemplateValue) -> Any:
    kind = value.WhichOneof("val")
    if kind == "array_val":
        return _template_array(value.array_val)
    if kind is None:
        return None
    return getattr(value, kind)


def _template_array(array: schema_pb2.TemplateArrayValue) -> list[Any]:
    kind = array.WhichOneof("data")
    if kind is None:
        return []
    payload = getattr(array, kind)
    if kind == "array_data":
        return [_template_array(a) for a in payload.data]
    if kind == "json_data":
        return [orjson.loads(v) for v in payload.data]
    return list(payload.data)


def key_values(pairs: Iterable[common_pb2.KeyValuePair]) -> dict[str, str]:
    return {kv.key: kv.value for kv in pairs}


def int_param(params: Mapping[str, str], key: str, default: int | None) -> int | None:
    raw = params.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ParameterInvalid.msg(f"{key} [{raw}] is invalid") from None
