"""Search requests, checked and compiled once, run many times.

A client searching in a loop sends one request shape over and over (same
collection, vector field, metric, index parameters, filter, output fields)
with only the query vectors changing.  Planning such a request (Milvus's
request rules, the index spec and its search parameters, the filter, the
output columns) took about a third of the server's own time per search, so a
search comes in two steps:

* :func:`prepare_search` applies every rule that depends on the shape alone
  and compiles it into a :class:`PreparedSearch`;
* :func:`run_search` takes the vectors, reads at a timestamp and searches.

:func:`cached_plan` keeps the last few prepared searches on their
collection, under a key the caller derives from the request as it arrived
(the API serialises the request without its vectors), so a repeated shape is
planned once.  A plan
belongs to its collection object (a dropped or recreated collection starts
with no plans) and to the collection's index epoch (creating or dropping an
index, adding a field or changing properties plans again).  Load state and
the partitions read are checked on every run, as the rows are.

Limits are Milvus's defaults: ``quotaAndLimits.limits.topK`` and ``maxNQ``
are both 16384.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeAlias

import numpy as np
import scipy.sparse

from sluice.engine import search as search_ops
from sluice.engine.bm25_function import is_bm25_output
from sluice.engine.bm25_search import bm25_queries, with_corpus_statistics
from sluice.engine.collection import Collection
from sluice.engine.data import compile_rows_filter, read_snapshot, read_timestamp
from sluice.engine.functions import QueryTexts, embed_queries
from sluice.engine.fused_hits import Grouping, SearchOutcome, rerank
from sluice.engine.indexes import vector_spec_of
from sluice.engine.output import OutputSpec, present_column, present_table, resolve_output
from sluice.engine.partition_keys import (
    ISOLATION_PROPERTY,
    partition_key_field,
    pruned_partitions,
)
from sluice.engine.partitions import read_partitions
from sluice.engine.reader import CompiledFilter
from sluice.engine.rerank import FunctionScore, RerankPlan, plan_function_score
from sluice.engine.struct_search import (
    EmbeddingLists,
    ListQueries,
    element_queries,
    is_element_level,
    plan_emb_list_search,
    struct_vector,
)
from sluice.engine.vector_kinds import is_other_kind, kind_search_params
from sluice.errors import FieldNotFound, ParameterInvalid, RequestError, SegcoreError
from sluice.index import VectorKind, kind_of, parse_search_params
from sluice.query import check_isolation
from sluice.rank import Window
from sluice.schema import CollectionSchema, DataType, FieldSchema
from sluice.types import UTC, Context, type_info
from sluice.types.scalars import check_finite_floats

#: Query vectors: a ``(nq, width)`` matrix, or CSR rows for sparse fields.
Queries: TypeAlias = np.ndarray | scipy.sparse.csr_matrix

MAX_TOPK = 16384
MAX_NQ = 16384
MAX_GROUP_SIZE = 1024
#: Prepared searches kept per collection (oldest dropped first).
PLANS_KEPT = 64
_PLANS_LOCK = threading.Lock()


@dataclass(frozen=True)
class SearchRequest:
    """Everything about a search except its query vectors."""

    anns_field: str | None
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
    #: Search only sealed segments (Milvus's ``ignore_growing``).
    ignore_growing: bool = False
    #: Partitions to search (empty: all); each must exist.
    partition_names: Sequence[str] = ()
    #: Time zone TIMESTAMPTZ outputs are shown in (empty: the collection's).
    timezone: str = ""
    #: Rerank functions applied to the hits (decay, boost, rrf, weighted).
    function_score: FunctionScore | None = None


@dataclass(frozen=True)
class PreparedSearch:
    collection: Collection
    #: ``collection.index_epoch`` when this was prepared.
    index_epoch: int
    request: SearchRequest
    field: FieldSchema
    plan: search_ops.SearchPlan
    flt: CompiledFilter
    output: OutputSpec
    #: Partitions a partition-key filter can match rows in (``None``: no pruning).
    key_partitions: frozenset[int] | None = None
    #: The rerank functions, when the request has them.
    rerank: RerankPlan | None = None
    #: What the vector search gathers: ``output`` plus the columns ``rerank`` reads.
    search_output: OutputSpec | None = None


@dataclass(frozen=True)
class SearchResult:
    request: SearchRequest
    hits: search_ops.SearchHits
    output: OutputSpec
    read_ts: int
    schema: CollectionSchema


def prepare_search(collection: Collection, req: SearchRequest) -> PreparedSearch:
    """Milvus's rules for the request's shape, and its compiled plan."""
    read_partitions(collection, req.partition_names, "search")
    epoch = collection.index_epoch
    _check_search_window(req)
    field = _anns_field(collection, req.anns_field)
    index = next((i for i in collection.meta.indexes if i.field_name == field.name), None)
    spec = vector_spec_of(collection, index) if index is not None else None
    if spec is not None and req.metric and req.metric.upper() != spec.metric_type:
        # Observed from Milvus 2.4.4+ (code 1100); the proxy wraps the query node's check.
        raise ParameterInvalid(
            f"fail to search: metric type not match: invalid [expected={spec.metric_type}]"
            f"[actual={req.metric.upper()}]: invalid parameter"
        )
    k = req.limit + req.offset
    member = collection.schema.struct_member(field.name)
    bm25 = is_bm25_output(collection.schema, field)
    if member is not None:
        params = plan_emb_list_search(field, spec, req.metric, req.search_params or {}, k)
        if req.group_by_field or req.iterator:
            raise ParameterInvalid.msg(
                f"search on the struct vector field {field.name} does not support grouping or "
                "iterators"
            )
    elif bm25:
        params = parse_search_params(
            spec, req.metric, req.search_params or {}, k, kind=VectorKind.SPARSE
        )
    elif is_other_kind(field):
        params = kind_search_params(field, spec, req.metric, req.search_params or {}, k)
        if spec is not None:
            # Milvus's words are checked above; the index's own knobs (nprobe, ef...) here.
            params = parse_search_params(
                spec, params.metric_type, req.search_params or {}, k, kind=kind_of(field.dtype)
            )
    else:
        params = parse_search_params(spec, req.metric, req.search_params or {}, k)
    group_by = _group_by(collection, req)
    if group_by is not None and params.is_range:
        raise ParameterInvalid.expected(
            "", "", "Not allowed to do range-search when doing search-group-by"
        )
    if group_by is not None and req.iterator:
        raise ParameterInvalid.expected("", "", "Not allowed to do groupBy when doing iteration")
    flt = compile_rows_filter(collection, req.expr, req.params, "query")
    key = partition_key_field(collection.schema)
    if key is not None and _isolated(collection):
        check_isolation(flt.bound, key.name)
    output = resolve_output(collection.schema, req.output_fields, with_primary=False)
    rerank_plan = (
        plan_function_score(collection.schema, req.function_score)
        if req.function_score is not None
        else None
    )
    search_output = output
    if rerank_plan is not None and rerank_plan.columns:
        wanted = [*req.output_fields, *rerank_plan.columns]
        search_output = resolve_output(collection.schema, wanted, with_primary=False)
    # Reranked hits are cut to offset/limit and rounded after the ranker, not before.
    reranked = rerank_plan is not None
    plan = search_ops.SearchPlan(
        field=field.name if member is None else member[0].name,
        params=params,
        limit=req.limit + req.offset if reranked else req.limit,
        offset=0 if reranked else req.offset,
        index_id=index.index_id if index is not None else None,
        round_decimal=-1 if reranked else req.round_decimal,
        after=req.iterator_last_bound if req.iterator else None,
        group_by=group_by,
        kind=field.dtype if member is None else DataType.ARRAY_OF_STRUCT,
        bm25_spec=spec if bm25 else None,
        struct_field=None if member is None else member[0],
        element="" if member is None else member[1].name,
    )
    pruned = pruned_partitions(collection.meta, flt.bound)
    return PreparedSearch(
        collection, epoch, req, field, plan, flt, output, pruned, rerank_plan, search_output
    )


def cached_plan(
    collection: Collection, key: Hashable, request: Callable[[], SearchRequest]
) -> PreparedSearch:
    """The prepared search kept under ``key``; ``request`` is called only to plan afresh.

    Search iterator pages are planned but not kept: each page has its own bound.
    """
    plans = collection.search_plans
    found = plans.get(key)
    if found is not None and found.index_epoch == collection.index_epoch:
        return found
    fresh = prepare_search(collection, request())
    if fresh.request.iterator:
        return fresh
    # Lookups go without the lock; changes take it, so eviction never iterates a dict
    # that another thread is growing.
    with _PLANS_LOCK:
        if len(plans) >= PLANS_KEPT:
            plans.pop(next(iter(plans)), None)
        plans[key] = fresh
    return fresh


def run_search(
    prepared: PreparedSearch,
    vectors: Queries | QueryTexts | EmbeddingLists,
    read_ts: int | None = None,
    context: Context = UTC,
) -> SearchResult:
    """Search ``vectors`` (one query per row) at ``read_ts`` (default: now).

    Text queries are turned into vectors by the function that computes the field.
    """
    collection = prepared.collection
    request = prepared.request
    partitions = read_partitions(collection, request.partition_names, "search")
    plan = prepared.plan
    if plan.bm25_spec is not None:
        vectors = bm25_queries(collection.schema, prepared, vectors)
    elif isinstance(vectors, QueryTexts):
        settings = collection.ctx.settings.functions
        vectors = embed_queries(collection.schema, settings, prepared.field, vectors)
    queries: Any
    if plan.struct_field is not None:
        queries = _list_queries(prepared, vectors)
    elif isinstance(vectors, EmbeddingLists):
        raise ParameterInvalid.msg(
            f"embedding list queries can only search a vector field of an array of structs, "
            f"not {prepared.field.name}"
        )
    else:
        queries = query_matrix(prepared.field, vectors)
        _check_vectors(prepared.field, queries)
    ts = read_timestamp(collection, read_ts)
    snapshot = read_snapshot(
        collection,
        ts,
        partitions if prepared.key_partitions is None else partitions & prepared.key_partitions,
        ignore_growing=request.ignore_growing,
        # BM25 scores with statistics of every segment searched: prune none.
        bound=None if plan.bm25_spec is not None else prepared.flt.bound,
    )
    schema = collection.schema
    output = prepared.search_output or prepared.output
    if plan.bm25_spec is not None:
        plan = with_corpus_statistics(collection, snapshot, plan)
    hits = search_ops.search(snapshot, schema, queries, plan, prepared.flt, output)
    if prepared.rerank is not None:
        hits = _reranked(prepared, hits)
    hits = replace(hits, fields=present_table(schema, hits.fields, context))
    if hits.group_values is not None and prepared.plan.group_by is not None:
        group_field = schema.get(prepared.plan.group_by.field)
        assert group_field is not None
        values = present_column(group_field, hits.group_values, context)
        hits = replace(hits, group_values=values)
    return SearchResult(prepared.request, hits, prepared.output, ts, schema)


def _reranked(prepared: PreparedSearch, hits: search_ops.SearchHits) -> search_ops.SearchHits:
    assert prepared.rerank is not None
    req = prepared.request
    group = prepared.plan.group_by
    grouping = Grouping(group.field, group.size, group.strict) if group is not None else None
    return rerank(
        [SearchOutcome(hits, prepared.plan.params.metric_type)],
        prepared.rerank,
        Window(req.limit, req.offset, req.round_decimal),
        prepared.output,
        grouping,
    )


def search(
    collection: Collection,
    req: SearchRequest,
    vectors: Queries | QueryTexts | EmbeddingLists,
    read_ts: int | None = None,
    context: Context = UTC,
) -> SearchResult:
    return run_search(prepare_search(collection, req), vectors, read_ts, context)


def _list_queries(
    prepared: PreparedSearch, vectors: Queries | QueryTexts | EmbeddingLists
) -> ListQueries:
    """Embedding lists for a MAX_SIM search; plain vectors for an element-level one."""
    field = prepared.field
    element_level = is_element_level(prepared.plan.params.metric_type)
    if isinstance(vectors, EmbeddingLists) and not element_level:
        nq = vectors.shape[0]
        if not 1 <= nq <= MAX_NQ:
            raise RequestError(
                "nq (number of search vector per search request) should be in range "
                f"[1, {MAX_NQ}], but got {nq}"
            )
        queries = vectors.resolve(field)
        check_finite_floats(queries.vectors)
        return queries
    if isinstance(vectors, EmbeddingLists | QueryTexts) or not element_level:
        raise ParameterInvalid.msg(
            f"fail to search: metric type {prepared.plan.params.metric_type} of the struct vector "
            f"field {field.name} takes "
            f"{'plain vectors' if element_level else 'embedding lists'} as queries"
        )
    matrix = query_matrix(field, vectors)
    _check_vectors(field, matrix)
    assert isinstance(matrix, np.ndarray)
    return element_queries(matrix)


def query_matrix(field: FieldSchema, vectors: Queries) -> Queries:
    """Query vectors in the form the field's search takes (float32 for float vectors)."""
    if field.dtype == DataType.FLOAT_VECTOR:
        return np.ascontiguousarray(vectors, dtype=np.float32)
    if field.dtype == DataType.SPARSE_FLOAT_VECTOR:
        if isinstance(vectors, scipy.sparse.csr_matrix) and vectors.dtype == np.float32:
            return vectors
        return scipy.sparse.csr_matrix(vectors, dtype=np.float32)
    info = type_info(field.dtype)
    raw = np.ascontiguousarray(vectors)
    if scipy.sparse.issparse(vectors) or raw.ndim != 2:
        return raw
    if raw.dtype == np.float32 and info.numpy_dtype != np.float32:
        # Float queries against a float16/bfloat16/int8 field: cast, as Milvus's clients do.
        return raw.astype(info.numpy_dtype)
    width = raw.shape[1] * raw.dtype.itemsize
    size = np.dtype(info.numpy_dtype).itemsize
    if width % size:
        raise SegcoreError(
            f"vector dimension mismatch, expected vector size(byte) "
            f"{info.matrix_width(field) * size}, actual {width}.: {SegcoreError.base_message}"
        )
    return raw.view(np.uint8).view(info.numpy_dtype)


def _isolated(collection: Collection) -> bool:
    """Whether ``partitionkey.isolation`` is on: searches must then pin one key value."""
    return collection.meta.properties.get(ISOLATION_PROPERTY, "").strip().lower() == "true"


def _check_vectors(field: FieldSchema, vectors: Queries) -> None:
    nq = vectors.shape[0]
    if field.dtype != DataType.FLOAT_VECTOR:
        _check_kind_vectors(field, vectors, nq)
        return
    if not 1 <= nq <= MAX_NQ:
        raise RequestError(
            "nq (number of search vector per search request) should be in range "
            f"[1, {MAX_NQ}], but got {nq}"
        )
    if vectors.ndim != 2 or vectors.shape[1] != field.dim:
        got = vectors.shape[1] if vectors.ndim == 2 else vectors.size
        dim = field.dim or 0
        raise SegcoreError(
            f"vector dimension mismatch, expected vector size(byte) {dim * 4}, actual "
            f"{got * 4}.: {SegcoreError.base_message}"
        )
    # NaN or an infinity has no distance to anything; refuse it as Milvus refuses it in data.
    check_finite_floats(vectors)


def _check_kind_vectors(field: FieldSchema, vectors: Queries, nq: int) -> None:
    if not 1 <= nq <= MAX_NQ:
        raise RequestError(
            "nq (number of search vector per search request) should be in range "
            f"[1, {MAX_NQ}], but got {nq}"
        )
    if field.dtype == DataType.SPARSE_FLOAT_VECTOR:
        if not scipy.sparse.issparse(vectors):
            raise ParameterInvalid.msg(
                f"the field {field.name} of type SparseFloatVector needs sparse query vectors"
            )
        return
    info = type_info(field.dtype)
    width = info.matrix_width(field)
    if scipy.sparse.issparse(vectors) or vectors.ndim != 2 or vectors.shape[1] != width:
        got = 0 if scipy.sparse.issparse(vectors) else int(vectors.shape[-1])
        size = np.dtype(info.numpy_dtype).itemsize
        raise SegcoreError(
            f"vector dimension mismatch, expected vector size(byte) {width * size}, actual "
            f"{got * size}.: {SegcoreError.base_message}"
        )


def _check_search_window(req: SearchRequest) -> None:
    if not 1 <= req.limit <= MAX_TOPK:
        raise RequestError(
            f"topk [{req.limit}] is invalid, it should be in range [1, {MAX_TOPK}], "
            f"but got {req.limit}"
        )
    if req.offset != 0 and not 1 <= req.offset <= MAX_TOPK:
        raise RequestError(
            f"offset [{req.offset}] is invalid, it should be in range [1, {MAX_TOPK}], "
            f"but got {req.offset}"
        )
    if req.offset + req.limit > MAX_TOPK:
        raise RequestError(
            f"offset+topk [{req.offset + req.limit}] is invalid, it should be in range "
            f"[1, {MAX_TOPK}], but got {req.offset + req.limit}"
        )
    if req.round_decimal != -1 and not 0 <= req.round_decimal <= 6:
        raise RequestError(
            f"round_decimal [{req.round_decimal}] is invalid, should be -1 or an integer in "
            "range [0, 6]"
        )


def _group_by(collection: Collection, req: SearchRequest) -> search_ops.GroupBy | None:
    if not req.group_by_field:
        return None
    field = collection.schema.get(req.group_by_field)
    if field is None or field.is_dynamic:
        raise FieldNotFound.wrap("groupBy field not found in schema", field=req.group_by_field)
    if not type_info(field.dtype).groupable:
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


def _anns_field(collection: Collection, name: str | None) -> FieldSchema:
    schema = collection.schema
    vectors = schema.vector_fields
    if not name:
        if len(vectors) > 1:
            raise RequestError(
                "multiple anns_fields exist, please specify a anns_field in search_params"
            )
        return vectors[0]
    field = schema.get(name) or struct_vector(schema, name)
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
