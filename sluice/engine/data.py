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
import pyarrow as pa

from sluice.engine import reader
from sluice.engine.collection import Collection
from sluice.engine.ingest import Column, prepare_rows, primary_keys
from sluice.engine.output import OutputSpec, is_count, resolve_output
from sluice.errors import (
    CollectionNotLoaded,
    ExpressionError,
    ParameterInvalid,
    PartitionNotFound,
    RequestError,
    SegcoreError,
)
from sluice.query import BoundExpr, compile_filter, pk_terms
from sluice.schema import DEFAULT_PARTITION, DataType

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


def _partition_id(collection: Collection, partition: str | None) -> int:
    name = partition or DEFAULT_PARTITION
    pid = collection.meta.partitions.get(name)
    if pid is None:
        raise PartitionNotFound.named(name)
    return pid


def insert(
    collection: Collection, partition: str | None, columns: Sequence[Column], num_rows: int
) -> InsertResult:
    partition_id = _partition_id(collection, partition)
    rows = prepare_rows(collection.schema, columns, num_rows, collection.ctx.ids.allocate)
    pks = primary_keys(rows, collection.schema)
    ts = collection.insert(rows, pks, partition_id)
    return InsertResult(pks, ts)


def compile_rows_filter(
    collection: Collection, expr: str, params: Mapping[str, Any] | None, plan: str
) -> reader.RowFilter:
    """Compile ``expr``; ``plan`` names the plan in errors ("query", "delete")."""
    try:
        bound = compile_filter(expr, collection.schema, params)
    except ExpressionError as exc:
        raise ParameterInvalid.msg(f"failed to create {plan} plan: {exc.message}") from None
    return _row_filter(collection, bound)


def _row_filter(collection: Collection, bound: BoundExpr | None) -> reader.RowFilter:
    if bound is None:
        return reader.RowFilter()
    keys = pk_terms(bound, collection.schema)
    if keys is None:
        return reader.RowFilter(bound=bound)
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
) -> QueryResult:
    _require_loaded(collection, "query")
    counting = is_count(output_fields)
    if counting and limit is not None:
        raise ParameterInvalid.msg("count entities with pagination is not allowed")
    if not expr.strip() and limit is None and not counting:
        raise ParameterInvalid.msg("empty expression should be used with limit")
    check_result_window(limit, offset)
    flt = compile_rows_filter(collection, expr, params, "query")
    snapshot = collection.snapshot(collection.ctx.tso.allocate())
    if counting:
        output = OutputSpec((), None)
        return QueryResult(pa.table({}), output, reader.count(snapshot, flt))
    output = resolve_output(collection.schema, output_fields or ["*"], with_primary=True)
    table = reader.query(snapshot, collection.schema, flt, output, limit, offset)
    return QueryResult(table, output)


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
    search_params: Mapping[str, Any] | None = None


def search(collection: Collection, req: SearchRequest) -> tuple[reader.SearchHits, OutputSpec]:
    _require_loaded(collection, "search")
    schema = collection.schema
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
    field = _anns_field(collection, req.anns_field)
    assert field.dim is not None
    if req.vectors.ndim != 2 or req.vectors.shape[1] != field.dim:
        got = req.vectors.shape[1] if req.vectors.ndim == 2 else req.vectors.size
        raise SegcoreError(
            f"vector dimension mismatch, expected vector size(byte) {field.dim * 4}, actual "
            f"{got * 4}.: {SegcoreError.base_message}"
        )
    index_metric = _index_metric(collection, field.name)
    metric = (req.metric or index_metric or "COSINE").upper()
    if index_metric is not None and metric != index_metric:
        raise ParameterInvalid(
            f"fail to search: metric type not match: invalid [expected={index_metric}]"
            f"[actual={metric}]: invalid parameter"
        )
    flt = compile_rows_filter(collection, req.expr, req.params, "query")
    output = resolve_output(schema, req.output_fields, with_primary=False)
    snapshot = collection.snapshot(collection.ctx.tso.allocate())
    hits = reader.search(
        snapshot,
        schema,
        field.name,
        np.ascontiguousarray(req.vectors, dtype=np.float32),
        req.limit,
        metric,
        flt,
        output,
        offset=req.offset,
        round_decimal=req.round_decimal,
    )
    return hits, output


def _anns_field(collection: Collection, name: str | None):  # type: ignore[no-untyped-def]
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


def _index_metric(collection: Collection, field_name: str) -> str | None:
    for index in collection.meta.indexes:
        if index.field_name == field_name:
            metric = index.params.get("metric_type")
            return metric.upper() if metric else None
    return None
