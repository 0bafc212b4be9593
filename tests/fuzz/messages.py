"""Hypothesis strategies for every MilvusService request, built from the protobuf descriptors.

A request is generated field by field from its message descriptor: scalars
from pools that mix valid values (names of real collections, index
parameters, filter expressions) with hostile ones (empty, huge, control
characters, NaN, boundary integers, unknown enum numbers), nested messages up
to a fixed depth, at most one member of each oneof, maps as dicts.  Byte
fields that Milvus parses further (a serialised schema, a placeholder group)
get a serialised message of the right type most of the time, so the fuzzer
reaches the code behind them instead of stopping at the outer parse.

A second strategy takes valid, serialised requests and flips, inserts or
drops bytes: the result may not even parse, which is the point.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st
from pymilvus.grpc_gen import common_pb2, milvus_pb2, schema_pb2

SERVICE = milvus_pb2.DESCRIPTOR.services_by_name["MilvusService"]
#: Streaming RPCs are answered "unimplemented" by design and need a stream to call.
STREAMING = frozenset(m.name for m in SERVICE.methods if m.client_streaming or m.server_streaming)
UNARY = tuple(m for m in SERVICE.methods if m.name not in STREAMING)
MAX_DEPTH = 4

_F = FieldDescriptor
_INT_BOUNDS = {
    _F.TYPE_INT32: (-(2**31), 2**31 - 1),
    _F.TYPE_SINT32: (-(2**31), 2**31 - 1),
    _F.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    _F.TYPE_INT64: (-(2**63), 2**63 - 1),
    _F.TYPE_SINT64: (-(2**63), 2**63 - 1),
    _F.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    _F.TYPE_UINT32: (0, 2**32 - 1),
    _F.TYPE_FIXED32: (0, 2**32 - 1),
    _F.TYPE_UINT64: (0, 2**64 - 1),
    _F.TYPE_FIXED64: (0, 2**64 - 1),
}

HOSTILE_TEXT = (
    "",
    " ",
    "a" * 300,
    "x" * 70_000,
    "line\nbreak",
    "tab\there",
    "null\x00byte",
    "ünïcödé",
    "🙂",
    "$meta",
    "count(*)",
    "_default",
    "default",
    "*",
    "%",
    "..",
    "../../etc/passwd",
    "12-s",
    "and",
    "RowID",
)
PARAM_KEYS = (
    "topk",
    "limit",
    "offset",
    "metric_type",
    "params",
    "anns_field",
    "index_type",
    "nlist",
    "nprobe",
    "M",
    "efConstruction",
    "ef",
    "m",
    "nbits",
    "radius",
    "range_filter",
    "group_by_field",
    "group_size",
    "strict_group_size",
    "iterator",
    "round_decimal",
    "ignore_growing",
    "dim",
    "max_length",
    "max_capacity",
    "element_type",
    "consistency_level",
    "reduce_stop_for_best",
    "search_iter_v2",
    "search_iter_batch_size",
    "search_iter_last_bound",
    "collection.ttl.seconds",
    "mmap.enabled",
    "database.max.collections",
    "partitionkey.isolation",
    "order_by",
    "timezone",
)
PARAM_VALUES = (
    "10",
    "0",
    "-1",
    "16385",
    "9223372036854775808",
    "1e309",
    "NaN",
    "abc",
    "",
    "true",
    "L2",
    "IP",
    "COSINE",
    "HAMMING",
    "HNSW",
    "IVF_FLAT",
    "FLAT",
    "AUTOINDEX",
    "DISKANN",
    "{}",
    "[]",
    '{"nprobe": 10}',
    '{"ef": -5}',
    '{"M": 3000}',
    "{",
    '{"a": {"b": [1, 2, {"c": null}]}}',
)
EXPRESSIONS = (
    "",
    "id > 5",
    "id in [1, 2, 3]",
    'tag == "red"',
    'tag like "r%"',
    "meta['k'] > 1",
    "json_contains(meta['a'], 1)",
    "array_contains(arr, 1)",
    "not (id < 0 or id >= 100)",
    "id > {x}",
    "((((((((((id > 1))))))))))",
    "(" * 500 + "id" + ")" * 500,
    "id > ",
    "1 +",
    'tag == "\\u0000"',
    "id == 9223372036854775808",
    "text_match(tag, 'a b')",
    "ST_CONTAINS(geo, 'POINT (1 1)')",
    "$meta['x'] == 1",
    "count(*)",
)


class Pools:
    """Names the fuzzer should hit often: real collections, fields, indexes, databases."""

    def __init__(self, collections: Sequence[str], fields: Sequence[str]) -> None:
        self.collections = tuple(collections)
        self.fields = tuple(fields)

    def names(self) -> st.SearchStrategy[str]:
        return st.one_of(
            st.sampled_from(self.collections + self.fields),
            st.sampled_from(HOSTILE_TEXT),
            st.text(max_size=40),
        )


def _text_for(field: FieldDescriptor, pools: Pools) -> st.SearchStrategy[str]:
    name = field.name.lower()
    if "expr" in name or name in ("filter", "expression"):
        return st.one_of(st.sampled_from(EXPRESSIONS), st.text(max_size=60))
    if name in ("db_name", "dbname"):
        # Mostly the default database, so requests reach the collections behind it.
        return st.one_of(st.just(""), st.just(""), st.just("default"), pools.names())
    if name == "key":
        return st.one_of(st.sampled_from(PARAM_KEYS), pools.names())
    if name == "value":
        return st.one_of(st.sampled_from(PARAM_VALUES), st.text(max_size=30))
    return pools.names()


def _bytes_for(field: FieldDescriptor, pools: Pools, depth: int) -> st.SearchStrategy[bytes]:
    nested: Descriptor | None = {
        "schema": schema_pb2.CollectionSchema.DESCRIPTOR,
        "placeholder_group": common_pb2.PlaceholderGroup.DESCRIPTOR,
    }.get(field.name)
    raw = st.binary(max_size=64)
    if nested is None or depth >= MAX_DEPTH:
        return raw
    serialised = message_of(nested, pools, depth + 1).map(lambda m: m.SerializeToString())
    return st.one_of(serialised, serialised, raw)


def _scalar(field: FieldDescriptor, pools: Pools, depth: int) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind in _INT_BOUNDS:
        low, high = _INT_BOUNDS[kind]
        edges = sorted({low, high, 0, 1, -1 if low < 0 else 0, 2, 10, 16384, 16385, 65536})
        return st.one_of(st.sampled_from(edges), st.integers(low, high))
    if kind in (_F.TYPE_FLOAT, _F.TYPE_DOUBLE):
        specials = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1e38, -1e38]
        return st.one_of(
            st.sampled_from(specials), st.floats(width=32 if kind == _F.TYPE_FLOAT else 64)
        )
    if kind == _F.TYPE_BOOL:
        return st.booleans()
    if kind == _F.TYPE_STRING:
        return _text_for(field, pools)
    if kind == _F.TYPE_BYTES:
        return _bytes_for(field, pools, depth)
    if kind == _F.TYPE_ENUM:
        numbers = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(numbers), st.integers(-5, 1000))
    raise AssertionError(f"unhandled field type {kind} of {field.full_name}")


def _is_map(field: FieldDescriptor) -> bool:
    return bool(field.type == _F.TYPE_MESSAGE and field.message_type.GetOptions().map_entry)


def _value(field: FieldDescriptor, pools: Pools, depth: int) -> st.SearchStrategy[Any]:
    if field.type == _F.TYPE_MESSAGE:
        return message_of(field.message_type, pools, depth + 1)
    return _scalar(field, pools, depth)


def _is_repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def message_of(descriptor: Descriptor, pools: Pools, depth: int = 0) -> st.SearchStrategy[Message]:
    """Messages of ``descriptor`` with some fields set (none deeper than ``MAX_DEPTH``)."""
    cls = message_factory.GetMessageClass(descriptor)
    if depth >= MAX_DEPTH:
        return st.just(cls())
    choices: list[tuple[FieldDescriptor, st.SearchStrategy[Any]]] = []
    for field in descriptor.fields:
        if _is_map(field):
            key_field = field.message_type.fields_by_name["key"]
            value_field = field.message_type.fields_by_name["value"]
            strategy: st.SearchStrategy[Any] = st.dictionaries(
                _scalar(key_field, pools, depth), _value(value_field, pools, depth), max_size=3
            )
        elif _is_repeated(field):
            big = 4 if field.type == _F.TYPE_MESSAGE else 40
            strategy = st.lists(_value(field, pools, depth), max_size=big)
        else:
            strategy = _value(field, pools, depth)
        choices.append((field, strategy))

    @st.composite
    def build(draw: Callable[..., Any]) -> Message:
        msg = cls()
        used_oneofs: set[str] = set()
        for field, strategy in choices:
            oneof = field.containing_oneof
            if oneof is not None and oneof.name in used_oneofs:
                continue
            if not draw(st.booleans()):
                continue
            value = draw(strategy)
            if oneof is not None:
                used_oneofs.add(oneof.name)
            _assign(msg, field, value)
        return msg

    return build()


def _assign(msg: Message, field: FieldDescriptor, value: Any) -> None:
    target = getattr(msg, field.name)
    if _is_map(field):
        value_field = field.message_type.fields_by_name["value"]
        for key, item in value.items():
            if value_field.type == _F.TYPE_MESSAGE:
                target[key].CopyFrom(item)
            else:
                target[key] = item
    elif _is_repeated(field):
        if field.type == _F.TYPE_MESSAGE:
            for item in value:
                target.add().CopyFrom(item)
        else:
            target.extend(value)
    elif field.type == _F.TYPE_MESSAGE:
        target.CopyFrom(value)
    else:
        setattr(msg, field.name, value)


def requests(pools: Pools) -> st.SearchStrategy[tuple[str, bytes]]:
    """``(method name, serialised request)`` for any unary RPC."""
    per_method = [
        message_of(m.input_type, pools).map(
            lambda msg, name=m.name: (name, msg.SerializeToString())
        )
        for m in UNARY
    ]
    return st.one_of(*per_method)


def mutations(corpus: Sequence[tuple[str, bytes]]) -> st.SearchStrategy[tuple[str, bytes]]:
    """Valid serialised requests with bytes flipped, inserted or cut."""

    @st.composite
    def mutate(draw: Callable[..., Any]) -> tuple[str, bytes]:
        method, payload = draw(st.sampled_from(list(corpus)))
        data = bytearray(payload)
        for _ in range(draw(st.integers(1, 6))):
            op = draw(st.sampled_from(("flip", "insert", "delete", "truncate")))
            pos = draw(st.integers(0, max(len(data) - 1, 0)))
            if op == "flip" and data:
                data[pos] ^= 1 << draw(st.integers(0, 7))
            elif op == "insert":
                data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
            elif op == "delete" and data:
                del data[pos : pos + draw(st.integers(1, 8))]
            elif op == "truncate":
                del data[pos:]
        return method, bytes(data)

    return mutate()
