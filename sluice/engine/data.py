"""Insert, delete, query and search on one collection, with Milvus's request rules.

These functions check a request the way Milvus's proxy does (limits, result
windows, load state, filter compilation) and then hand the work to the
collection's write path or the reader.  Limits are Milvus's defaults:
``quotaAndLimits.limits.topK`` and ``maxQueryResultWindow`` are both 16384.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from sluice.engine import reader
from sluice.engine import search as search_ops
from sluice.engine.collection import Collection
from sluice.engine.indexes import spec_of
from sluice.engine.ingest import Column, prepare_rows, primary_keys
from sluice.engine.output import OutputSpec, is_count, resolve_output
from sluice.errors import (
    CollectionNotLoaded,
    ExpressionError,
    FieldNotFound,
    ParameterInvalid,
    PartitionNotFound,
    RequestError,
    SegcoreError,
)
from sluice.index import IndexSpec, SearchParams, parse_search_params
from sluice.query import BoundExpr, compile_filter, pk_terms
from sluice.schema import DEFAULT_PARTITION, CollectionSchema, DataType, FieldSchema

MAX_TOPK = 16384
MAX_RESULT_WINDOW = 16384
MAX_NQ = 16384


@dataclass(frozen=True)
class InsertResult:
    ids: np.ndarray
    timestamp: int


@dataclass(frozen=True)
class DeleteResult:
    count: int
    timestamp: int
    #: Keys the delete applied to (for clients that echo them).
    keys: np.ndarray


@dataclass(frozen=True)
class QueryResult:
    table: pa.Table
    output: OutputSpec
    #: Set instead of ``table`` for ``count(*)``.
    count: int | None = None
    #: The timestamp the query read at (query iterators pin it for later pages).
    read_ts: int = 0


def _partition_id(collection: Collection, partition: str | None) -> int:
    name = partition or DEFAULT_PARTITION
    pid = collection.meta.partitions.get(name)
    if pid is None:
        raise PartitionNotFound.named(name)
    return pid


def insert(
    collection: Collection,
    partition: str | None,
    columns: Sequence[Column],
    num_rows: int,
    *,
    upsert: bool = False,
) -> InsertResult:
    """Insert rows; with ``upsert``, each row replaces any earlier row with its key."""
    partition_id = _partition_id(collection, partition)
    rows = prepare_rows(
        collection.schema, columns, num_rows, collection.ctx.ids.allocate, upsert=upsert
    )
    pks = primary_keys(rows, collection.schema)
    ts = collection.insert(rows, pks, partition_id, replace=upsert)
    return InsertResult(pks, ts)


def compile_rows_filter(
    collection: Collection, expr: str, params: Mapping[str, Any] | None, plan: str
) -> reader.RowFilter:
    """Compile ``expr``; ``plan`` names the plan in errors ("query", "delete")."""
    try:
        bound = compile_filter(expr, collection.schema, params)
    except ExpressionError as exc:
        raise ParameterInvalid.msg(f"failed to create {plan} plan: {exc.message}") from None
    return _row_filter(collection, bound, _cache_key(expr, params))


def _cache_key(expr: str, params: Mapping[str, Any] | None) -> str:
    if not params:
        return expr
    try:
        return expr + "\x00" + orjson.dumps(params, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return ""


def _row_filter(
    collection: Collection, bound: BoundExpr | None, cache_key: str
) -> reader.RowFilter:
    if bound is None:
        return reader.RowFilter()
    keys = pk_terms(bound, collection.schema)
    if keys is None:
        return reader.RowFilter(bound=bound, cache_key=cache_key)
    dtype = np.int64 if collection.schema.primary.dtype == DataType.INT64 else object
    return reader.RowFilter(keys=np.asarray(list(keys), dtype=dtype))


def delete(
    collection: Collection, partition: str | None, expr: str, params: Mapping[str, Any] | None
) -> DeleteResult:
    _partition_id(collection, partition)
    flt = compile_rows_filter(collection, expr, params, "delete")
    if flt.bound is None and flt.keys is None:
        raise ParameterInvalid.msg(f"delete plan can't be empty or always true : {expr}")
    if flt.keys is not None:
        keys = flt.keys
    else:
        snapshot = collection.snapshot(collection.ctx.tso.allocate())
        output = OutputSpec((collection.schema.primary.name,), None)
        matched = reader.query(snapshot, collection.schema, flt, output, None, 0)
        keys = matched.column(0).to_numpy(zero_copy_only=False)
    if len(keys) == 0:
        return DeleteResult(0, collection.ctx.tso.allocate(), keys)
    ts = collection.delete(keys)
    return DeleteResult(len(keys), ts, keys)


def _require_loaded(collection: Collection, action: str) -> None:
    if not collection.meta.loaded:
        raise CollectionNotLoaded(
            f"failed to {action}: {CollectionNotLoaded.base_message}[collection={collection.id}]"
        )


def query(
    collection: Collection,
    expr: str,
    params: Mapping[str, Any] | None,
    output_fields: Sequence[str],
    limit: int | None,
    offset: int,
    read_ts: int | None = None,
    *,
    ignore_growing: bool = False,
) -> QueryResult:
    _require_loaded(collection, "query")
    counting = is_count(output_fields)
    if counting and limit is not None:
        raise ParameterInvalid.msg("count entities with pagination is not allowed")
    if not expr.strip() and limit is None and not counting:
        raise ParameterInvalid.msg("empty expression should be used with limit")
    check_result_window(limit, offset)
    flt = compile_rows_filter(collection, expr, params, "query")
    ts = _read_ts(collection, read_ts)
    snapshot = collection.snapshot(ts, ignore_growing=ignore_growing)
    if counting:
        output = OutputSpec((), None)
        return QueryResult(pa.table({}), output, reader.count(snapshot, flt), ts)
    output = resolve_output(collection.schema, output_fields or ["*"], with_primary=True)
    table = reader.query(snapshot, collection.schema, flt, output, limit, offset)
    return QueryResult(table, output, None, ts)


def check_result_window(limit: int | None, offset: int) -> None:
    if limit is None:
        return
    if offset < 0:
        raise RequestError(
            f"invalid max query result window, offset [{offset}] is invalid, should be gte than 0"
        )
    if limit <= 0:
        raise RequestError(
            f"invalid max query result window, limit [{limit}] is invalid, should be greater than 0"
        )
    if offset + limit > MAX_RESULT_WINDOW:
        raise RequestError(
            "invalid max query result window, (offset+limit) should be in range "
            f"[1, {MAX_RESULT_WINDOW}], but got {offset + limit}"
        )


@dataclass(frozen=True)
class SearchRequest:
    anns_field: str | None
    vectors: np.ndarray
    limit: int
    metric: str | None
    expr: str = ""
    params: Mapping[str, Any] | None = None
    output_fields: Sequence[str] = ()
    offset: int = 0
    round_decimal: int = -1
    #: Index search parameters (``ef``, ``nprobe``, ``radius``...), as sent.
    search_params: Mapping[str, Any] | None = None
    group_by_field: str | None = None
    group_size: int = 1
    strict_group_size: bool = False
    #: Search iterator v2: page after this score (``None``: first page).
    iterator: bool = False
    iterator_last_bound: float | None = None
    #: Read at this timestamp instead of now (iterators pin their first page's).
    read_ts: int | None = None
    #: Search only sealed segments (Milvus's ``ignore_growing``).
    ignore_growing: bool = False


@dataclass(frozen=True)
class SearchResult:
    hits: search_ops.SearchHits
    output: OutputSpec
    read_ts: int
    schema: CollectionSchema


def search(collection: Collection, req: SearchRequest) -> SearchResult:
    _require_loaded(collection, "search")
    schema = collection.schema
    _check_search_window(req)
    field = _anns_field(collection, req.anns_field)
    assert field.dim is not None
    if req.vectors.ndim != 2 or req.vectors.shape[1] != field.dim:
        got = req.vectors.shape[1] if req.vectors.ndim == 2 else req.vectors.size
        raise SegcoreError(
            f"vector dimension mismatch, expected vector size(byte) {field.dim * 4}, actual "
            f"{got * 4}.: {SegcoreError.base_message}"
        )
    index = next((i for i in collection.meta.indexes if i.field_name == field.name), None)
    spec = spec_of(collection, index) if index is not None else None
    k = req.limit + req.offset
    if spec is not None and req.metric and req.metric.upper() != spec.metric_type:
        # Observed from Milvus 2.4.4+ (code 1100); the proxy wraps the query node's check.
        raise ParameterInvalid(
            f"fail to search: metric type not match: invalid [expected={spec.metric_type}]"
            f"[actual={req.metric.upper()}]: invalid parameter"
        )
    params = _search_params(spec, req.metric, req.search_params or {}, k)
    group_by = _group_by(collection, req)
    if group_by is not None and params.is_range:
        raise ParameterInvalid.expected(
            "", "", "Not allowed to do range-search when doing search-group-by"
        )
    if group_by is not None and req.iterator:
        raise ParameterInvalid.expected("", "", "Not allowed to do groupBy when doing iteration")
    flt = compile_rows_filter(collection, req.expr, req.params, "query")
    output = resolve_output(schema, req.output_fields, with_primary=False)
    read_ts = _read_ts(collection, req.read_ts)
    plan = search_ops.SearchPlan(
        field=field.name,
        params=params,
        limit=req.limit,
        offset=req.offset,
        index_id=index.index_id if index is not None else None,
        round_decimal=req.round_decimal,
        after=req.iterator_last_bound if req.iterator else None,
        group_by=group_by,
    )
    queries = np.ascontiguousarray(req.vectors, dtype=np.float32)
    snapshot = collection.snapshot(read_ts, ignore_growing=req.ignore_growing)
    hits = search_ops.search(snapshot, schema, queries, plan, flt, output)
    return SearchResult(hits, output, read_ts, schema)


_PARAMS_CACHE: dict[tuple[object, ...], SearchParams] = {}


def _search_params(
    spec: IndexSpec | None, metric: str | None, raw: Mapping[str, Any], k: int
) -> SearchParams:
    """``parse_search_params``, remembered: clients repeat the same few parameter sets."""
    try:
        # ``id(spec)``: specs are cached per index and never change, so identity suffices.
        key: tuple[object, ...] = (id(spec), metric, k, tuple(sorted(raw.items())))
        hash(key)
    except TypeError:
        return parse_search_params(spec, metric, raw, k)
    params = _PARAMS_CACHE.get(key)
    if params is None:
        params = parse_search_params(spec, metric, raw, k)
        if len(_PARAMS_CACHE) > 1024:
            _PARAMS_CACHE.clear()
        _PARAMS_CACHE[key] = params
    return params


def _read_ts(collection: Collection, pinned: int | None) -> int:
    now = collection.ctx.tso.allocate()
    if pinned is None or pinned <= 0:
        return now
    return min(pinned, now)


def _check_search_window(req: SearchRequest) -> None:
    if not 1 <= req.limit <= MAX_TOPK:
        raise RequestError(
            f"topk [{req.limit}] is invalid, it should be in range [1, {MAX_TOPK}], "
            f"but got {req.limit}"
        )
    if req.offset < 0 or req.offset + req.limit > MAX_TOPK:
        raise RequestError(
            f"offset+topk [{req.offset + req.limit}] is invalid, it should be in range "
            f"[1, {MAX_TOPK}], but got {req.offset + req.limit}"
        )
    if req.round_decimal != -1 and not 0 <= req.round_decimal <= 6:
        raise RequestError(
            f"round_decimal [{req.round_decimal}] is invalid, should be -1 or an integer in "
            "range [0, 6]"
        )
    nq = len(req.vectors)
    if not 1 <= nq <= MAX_NQ:
        raise RequestError(
            "nq (number of search vector per search request) should be in range "
            f"[1, {MAX_NQ}], but got {nq}"
        )


def _group_by(collection: Collection, req: SearchRequest) -> search_ops.GroupBy | None:
    if not req.group_by_field:
        return None
    field = collection.schema.get(req.group_by_field)
    if field is None or field.is_dynamic:
        raise FieldNotFound.wrap("groupBy field not found in schema", field=req.group_by_field)
    if field.dtype not in _GROUPABLE:
        raise ParameterInvalid.msg(
            f"group by field {field.name} has unsupported data type {field.dtype.milvus_name}"
        )
    if req.group_size <= 0:
        raise ParameterInvalid.msg(
            f"input group size:{req.group_size} is negative, failed to do search_groupby"
        )
    if req.group_size > MAX_GROUP_SIZE:
        raise ParameterInvalid.msg(
            f"input group size:{req.group_size} exceeds configured max group size:{MAX_GROUP_SIZE}"
        )
    return search_ops.GroupBy(field.name, req.group_size, req.strict_group_size)


_GROUPABLE = frozenset(
    {DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64, DataType.VARCHAR, DataType.BOOL}
)
MAX_GROUP_SIZE = 1024


def _anns_field(collection: Collection, name: str | None) -> FieldSchema:
    schema = collection.schema
    vectors = schema.vector_fields
    if not name:
        if len(vectors) > 1:
            raise RequestError(
                "multiple anns_fields exist, please specify a anns_field in search_params"
            )
        return vectors[0]
    field = schema.get(name)
    if field is None:
        raise ParameterInvalid.msg(
            f"failed to create query plan: failed to get field schema by name: fieldName({name}) "
            "not found"
        )
    if not field.dtype.is_vector:
        raise ParameterInvalid.msg(
            f"failed to create query plan: field ({name}) to search is not of vector data type"
        )
    return field
