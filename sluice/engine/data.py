"""Insert, delete and query on one collection, with Milvus's request rules.

These functions check a request the way Milvus's proxy does (limits, result
windows, load state, filter compilation) and then hand the work to the
collection's write path or the reader.  The result window is Milvus's
default ``maxQueryResultWindow``, 16384.  Searches live in
:mod:`sluice.engine.prepared_search`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from sluice import telemetry
from sluice.engine import reader
from sluice.engine.collection import Collection, Snapshot
from sluice.engine.deletes import ALL_PARTITIONS
from sluice.engine.functions import with_outputs
from sluice.engine.ingest import Column, prepare_rows, primary_keys, with_new_keys
from sluice.engine.output import OutputSpec, is_count, present_table, resolve_output
from sluice.engine.partition_keys import partition_key_field, pruned_partitions, route_rows
from sluice.engine.partitions import delete_partition, read_partitions, write_partition
from sluice.engine.residency import evict_unserved
from sluice.engine.struct_search import refuse_struct_filters
from sluice.engine.ttl import expire_before
from sluice.errors import DataMismatch, ExpressionError, ParameterInvalid, RequestError
from sluice.query import BoundExpr, compile_filter, pk_list_terms, pk_terms
from sluice.query.key_ranges import field_ranges
from sluice.schema import DYNAMIC_FIELD, CollectionSchema, DataType
from sluice.types import UTC, Context, FilterKind, arrow_type, type_info
from sluice.types.sparse import csr

MAX_RESULT_WINDOW = 16384


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
    count: int | None
    #: The timestamp the query read at (query iterators pin it for later pages).
    read_ts: int
    #: The collection read (its own name when the request named an alias), so a caller
    #: need not describe it again to label the answer.
    collection_name: str
    schema: CollectionSchema


def insert(
    collection: Collection,
    partition: str | None,
    columns: Sequence[Column],
    num_rows: int,
    *,
    upsert: bool = False,
    context: Context = UTC,
) -> InsertResult:
    """Insert rows; with ``upsert``, each row replaces any earlier row with its key.

    Rows go to the named partition (``_default`` when none is named), or, in a
    partition-key collection, to the partition their key hashes to.  An
    upsert's delete is scoped like Milvus's: to the target partition, or to
    every partition when keys route rows (a key may have moved).
    """
    partition_id = write_partition(collection, partition)
    schema = collection.schema
    columns = with_outputs(schema, collection.ctx.settings.functions, columns, num_rows)
    rows = prepare_rows(
        schema, columns, num_rows, collection.ctx.ids.allocate, upsert=upsert, context=context
    )
    pks = primary_keys(rows, schema)
    if upsert and _has_duplicates(pks):
        raise ParameterInvalid.msg("duplicate primary keys are not allowed in the same batch")
    replaced = None
    if upsert and schema.primary.auto_id:
        # Milvus 2.6: the rows of an auto-ID upsert get new keys; the keys sent are deleted.
        replaced = pks
        rows = with_new_keys(rows, schema, collection.ctx.ids.allocate)
        pks = primary_keys(rows, schema)
    if partition_id is None:
        key = partition_key_field(schema)
        assert key is not None
        routed = route_rows(collection.meta, rows.column(key.name))
        ts = collection.insert(
            rows, pks, routed, replace=upsert, replace_scope=ALL_PARTITIONS, replaced=replaced
        )
    else:
        ts = collection.insert(
            rows, pks, partition_id, replace=upsert, replace_scope=partition_id, replaced=replaced
        )
    telemetry.ROWS_INSERTED.inc(rows.num_rows)
    return InsertResult(pks, ts)


def upsert(
    collection: Collection,
    partition: str | None,
    columns: Sequence[Column],
    num_rows: int,
    partial: bool = False,
    context: Context = UTC,
) -> InsertResult:
    """Each row replaces every earlier row with its key (``partial``: see partial_upsert)."""
    if partial:
        return partial_upsert(collection, partition, columns, num_rows, context=context)
    return insert(collection, partition, columns, num_rows, upsert=True, context=context)


def _has_duplicates(pks: np.ndarray) -> bool:
    if len(pks) < 2:
        return False
    if pks.dtype == object:
        return len(set(pks.tolist())) != len(pks)
    ordered = np.sort(pks)
    return bool((ordered[1:] == ordered[:-1]).any())


def compile_rows_filter(
    collection: Collection, expr: str, params: Mapping[str, Any] | None, plan: str
) -> reader.CompiledFilter:
    """Compile ``expr``; ``plan`` names the plan in errors ("query", "delete")."""
    refuse_struct_filters(expr, collection.schema)
    if not params:
        keys = pk_list_terms(expr, collection.schema)
        if keys is not None:  # ``get`` and delete-by-ID: no parse needed
            return _key_filter(collection, keys)
    try:
        bound = compile_filter(expr, collection.schema, params)
    except ExpressionError as exc:
        raise ParameterInvalid.msg(f"failed to create {plan} plan: {exc.message}") from None
    return _compiled_filter(collection, bound, _cache_key(expr, params))


def _cache_key(expr: str, params: Mapping[str, Any] | None) -> str:
    if not params:
        return expr
    try:
        return expr + "\x00" + orjson.dumps(params, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return ""


def _compiled_filter(
    collection: Collection, bound: BoundExpr | None, cache_key: str
) -> reader.CompiledFilter:
    if bound is None:
        return reader.CompiledFilter()
    keys = pk_terms(bound, collection.schema)
    if keys is None:
        text = collection.text_match if bound.text_match_fields else None
        if text is not None:
            text.follow(collection.schema)
        return reader.CompiledFilter(bound=bound, cache_key=cache_key, text=text)
    return _key_filter(collection, keys)


def _key_filter(
    collection: Collection, keys: Sequence[int] | Sequence[str]
) -> reader.CompiledFilter:
    dtype = np.int64 if collection.schema.primary.dtype == DataType.INT64 else object
    return reader.CompiledFilter(keys=np.asarray(list(keys), dtype=dtype))


def delete(
    collection: Collection, partition: str | None, expr: str, params: Mapping[str, Any] | None
) -> DeleteResult:
    """Delete by key list or filter; with ``partition``, only rows of that partition."""
    scope = delete_partition(collection, partition)
    flt = compile_rows_filter(collection, expr, params, "delete")
    if flt.bound is None and flt.keys is None:
        raise ParameterInvalid.msg(f"delete plan can't be empty or always true : {expr}")
    if flt.keys is not None:
        keys = flt.keys
    else:
        ts = collection.ctx.tso.allocate()
        partitions = None if scope is None else frozenset({scope.id})
        snapshot = read_snapshot(collection, ts, partitions, bound=flt.bound)
        output = OutputSpec((collection.schema.primary.name,), None)
        matched = reader.query(snapshot, collection.schema, flt, output, None, 0)
        keys = matched.column(0).to_numpy(zero_copy_only=False)
        evict_unserved(collection.ctx, collection)  # released segments the filter read
    if len(keys) == 0:
        return DeleteResult(0, collection.ctx.tso.allocate(), keys)
    ts = collection.delete(keys, ALL_PARTITIONS if scope is None else scope.id)
    telemetry.ROWS_DELETED.inc(len(keys))
    return DeleteResult(len(keys), ts, keys)


def read_snapshot(
    collection: Collection,
    read_ts: int,
    partitions: frozenset[int] | None,
    *,
    ignore_growing: bool = False,
    bound: BoundExpr | None = None,
) -> Snapshot:
    """The snapshot a read sees: its partitions, at ``read_ts``, without expired rows (TTL).

    With the read's filter (``bound``), clustered segments whose clustering-key
    range the filter rules out are left out: they hold no row it matches.
    """
    key = collection.schema.clustering_key
    return collection.snapshot(
        read_ts,
        ignore_growing=ignore_growing,
        partitions=partitions,
        expire_before=expire_before(collection.meta.properties, read_ts),
        key_ranges=None if key is None else field_ranges(bound, key.name),
    )


def prune(
    collection: Collection, partitions: frozenset[int], bound: BoundExpr | None
) -> frozenset[int]:
    """``partitions`` less those a partition-key filter cannot match rows in."""
    pruned = pruned_partitions(collection.meta, bound)
    return partitions if pruned is None else partitions & pruned


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
    partition_names: Sequence[str] = (),
    context: Context = UTC,
    order_by: str = "",
) -> QueryResult:
    chosen = read_partitions(collection, partition_names, "query")
    ordering = parse_order_by(collection.schema, order_by)
    counting = is_count(output_fields)
    if counting and limit is not None:
        raise ParameterInvalid.msg("count entities with pagination is not allowed")
    if not expr.strip() and limit is None and not counting:
        raise ParameterInvalid.msg("empty expression should be used with limit")
    check_result_window(limit, offset)
    flt = compile_rows_filter(collection, expr, params, "query")
    partitions = prune(collection, chosen, flt.bound)
    ts = read_timestamp(collection, read_ts)
    snapshot = read_snapshot(
        collection, ts, partitions, ignore_growing=ignore_growing, bound=flt.bound
    )
    if counting:
        output = OutputSpec((), None)
        total = reader.count(snapshot, flt)
        return QueryResult(pa.table({}), output, total, ts, collection.meta.name, collection.schema)
    output = resolve_output(collection.schema, output_fields or ["*"], with_primary=True)
    table = reader.query(snapshot, collection.schema, flt, output, limit, offset, ordering)
    shown = present_table(collection.schema, table, context)
    return QueryResult(shown, output, None, ts, collection.meta.name, collection.schema)


def parse_order_by(schema: CollectionSchema, text: str) -> tuple[tuple[str, str], ...]:
    """Milvus's ``order_by_fields`` (``a:asc,b:desc``) as (field, "ascending"/"descending")."""
    keys: list[tuple[str, str]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, _, direction = part.partition(":")
        name, direction = name.strip(), (direction.strip().lower() or "asc")
        fld = schema.get(name)
        if fld is None or fld.is_dynamic:
            raise ParameterInvalid.msg(f"order by field {name} not found in schema")
        if direction not in ("asc", "desc"):
            raise ParameterInvalid.msg(
                f"invalid order by direction {direction} of field {name}, should be asc or desc"
            )
        if fld.dtype.is_vector or type_info(fld.dtype).filter not in _ORDERABLE:
            raise ParameterInvalid.msg(
                f"order by field {name} of type {fld.dtype.milvus_name} is not supported"
            )
        keys.append((name, "ascending" if direction == "asc" else "descending"))
    return tuple(keys)


_ORDERABLE = (FilterKind.NUMBER, FilterKind.STRING, FilterKind.BOOL, FilterKind.TIMESTAMP)


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


def read_timestamp(collection: Collection, pinned: int | None) -> int:
    """Now, or the client's pinned timestamp when it is older (iterators pin their first page's).

    Reads take their timestamp from the in-memory clock and never write to disk.
    """
    now = collection.ctx.tso.read_timestamp()
    if pinned is None or pinned <= 0:
        return now
    return min(pinned, now)


def partial_upsert(
    collection: Collection,
    partition: str | None,
    columns: Sequence[Column],
    num_rows: int,
    *,
    context: Context = UTC,
) -> InsertResult:
    """Upsert where fields the request leaves out keep the values stored for each key.

    Milvus's ``partial_update``: a key that exists keeps every field (and
    dynamic key set) not sent; a new key gets defaults or nulls for them, and
    a field that has neither must be sent.  The stored rows are read at the
    current timestamp, newest version per key, then the whole rows are upserted.
    """
    schema = collection.schema
    pk = schema.primary
    sent = {DYNAMIC_FIELD if c.is_dynamic else c.name: c for c in columns}
    if pk.name not in sent:
        raise DataMismatch.msg(f"fieldSchema({pk.name}) has no corresponding fieldData pass in")
    keys = sent[pk.name].values.cast(arrow_type(pk))
    if keys.null_count:
        raise DataMismatch.msg("primary field not support null")
    key_array = keys.to_numpy(zero_copy_only=False)
    missing = [
        f
        for f in schema.fields
        if (DYNAMIC_FIELD if f.is_dynamic else f.name) not in sent and not f.is_primary
    ]
    if not missing:
        return insert(collection, partition, columns, num_rows, upsert=True, context=context)
    # Milvus reads the stored rows with a query: the collection must be loaded, and only
    # the partition the upsert writes to is read (a key stored elsewhere is a new key there).
    readable = read_partitions(collection, (), "query")
    target = write_partition(collection, partition)
    scope = readable if target is None else frozenset({target}) & readable
    snapshot = collection.snapshot(collection.ctx.tso.allocate(), partitions=scope)
    dtype = np.int64 if pk.dtype == DataType.INT64 else object
    flt = reader.CompiledFilter(keys=np.asarray(key_array, dtype=dtype))
    output = OutputSpec(
        tuple(f.name for f in schema.user_fields), () if schema.dynamic_field else None
    )
    stored = reader.query(snapshot, schema, flt, output, None, 0)
    positions = _positions(stored.column(pk.name).to_numpy(zero_copy_only=False), key_array)
    found = positions >= 0
    taken = pa.array(np.where(found, positions, 0))
    filled = list(columns)
    for fld in missing:
        name = DYNAMIC_FIELD if fld.is_dynamic else fld.name
        old = stored.column(name).combine_chunks().take(taken) if len(stored) else None
        if old is None:
            values = pa.nulls(num_rows, type=arrow_type(fld))
        else:
            values = pc.if_else(pa.array(found), old, pa.nulls(num_rows, type=old.type))
        if fld.is_dynamic:
            values = pc.fill_null(values, pa.scalar(b"{}", type=pa.binary()))
        elif values.null_count == num_rows and not fld.nullable and fld.default_value is None:
            raise DataMismatch.msg(
                f"fieldSchema({fld.name}) has no corresponding fieldData pass in"
            )
        filled.append(Column(fld.name, fld.dtype, values, dim=fld.dim, is_dynamic=fld.is_dynamic))
    return insert(collection, partition, filled, num_rows, upsert=True, context=context)


def _positions(stored_keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Index of each wanted key among ``stored_keys`` (-1 where absent)."""
    lookup = {k: i for i, k in enumerate(stored_keys.tolist())}
    return np.fromiter((lookup.get(k, -1) for k in wanted.tolist()), np.int64, len(wanted))


def vectors_of_keys(collection: Collection, anns_field: str | None, keys: Sequence[Any]) -> Any:
    """The stored vectors of ``keys`` in the searched field: search by primary keys.

    Milvus reads each key's newest row; a key with no row (or no vector) is an error.
    """
    loaded = read_partitions(collection, (), "search")  # the load check
    schema = collection.schema
    vectors = schema.vector_fields
    if anns_field:
        field = schema.get(anns_field)
        if field is None or not field.dtype.is_vector:
            raise ParameterInvalid.msg(f"field {anns_field} is not a vector field")
    elif len(vectors) == 1:
        field = vectors[0]
    else:
        raise RequestError(
            "multiple anns_fields exist, please specify a anns_field in search_params"
        )
    pk = schema.primary
    dtype = np.int64 if pk.dtype == DataType.INT64 else object
    wanted = np.asarray(list(keys), dtype=dtype)
    snapshot = collection.snapshot(collection.ctx.tso.allocate(), partitions=loaded)
    output = OutputSpec((pk.name, field.name), None)
    found = reader.query(snapshot, schema, reader.CompiledFilter(keys=wanted), output, None, 0)
    positions = _positions(found.column(pk.name).to_numpy(zero_copy_only=False), wanted)
    column = found.column(field.name).combine_chunks()
    absent = positions < 0
    if absent.any() or column.take(pa.array(np.maximum(positions, 0))).null_count:
        missing = wanted[absent].tolist() if absent.any() else wanted.tolist()
        raise ParameterInvalid.msg(f"primary keys {missing} have no vector in field {field.name}")
    picked = column.take(pa.array(positions))
    info = type_info(field.dtype)
    if info.to_matrix is not None:
        return info.to_matrix(field, picked)
    return csr(picked)
