"""Milvus's SearchRequest in, SearchResults out.

The engine plans a request shape once and keeps the plan under a key (see
:mod:`sluice.engine.prepared_search`).  The key made here is the request
itself without the fields that change from call to call (the vectors, ``nq``,
``guarantee_timestamp``), serialised, so a repeated request is recognised
without decoding its parameters again.  Filter template values are part of
the shape.  Search-iterator pages are planned but never kept (each page
carries a new bound and token).
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import scipy.sparse
from pymilvus.grpc_gen import common_pb2, milvus_pb2

from sluice.api.convert_fields import (
    field_data_from_column,
    fields_data_from_table,
    ids_message,
)
from sluice.api.convert_functions import function_score_from_proto
from sluice.api.convert_request import int_param, key_values, template_values
from sluice.api.status import SUCCESS
from sluice.engine import EmbeddingLists, QueryTexts, SearchRequest, SearchResult
from sluice.errors import ParameterInvalid, RequestError, Unimplemented
from sluice.schema import DataType
from sluice.types.sparse import csr

_VARCHAR_PLACEHOLDER = int(DataType.VARCHAR)


def plan_key(request: milvus_pb2.SearchRequest) -> bytes:
    """The request's shape: the request without its vectors, serialised.

    One copy and one serialisation in C, cheaper than collecting the parameters
    in Python.  ``nq`` and ``guarantee_timestamp`` change from call to call
    without changing the plan (only search iterators read the timestamp).
    """
    shape = milvus_pb2.SearchRequest()
    shape.CopyFrom(request)
    for name in _PER_CALL_FIELDS:
        shape.ClearField(name)
    return shape.SerializeToString(deterministic=True)


_PER_CALL_FIELDS = ("placeholder_group", "nq", "guarantee_timestamp", "ids")


def search_request(request: milvus_pb2.SearchRequest) -> SearchRequest:
    """Milvus's search request, key/value parameters and all, as the engine's request."""
    params = key_values(request.search_params)
    extra = _search_extra(params.get("params", ""))
    limit = int_param(params, "topk", None)
    if limit is None:
        raise RequestError("topk is required")
    iterator = flag(params.get("iterator")) and flag(params.get("search_iter_v2"))
    if iterator:
        limit = int_param(params, "search_iter_batch_size", limit) or limit
    last_bound = params.get("search_iter_last_bound")
    refuse_unserved(request)
    return SearchRequest(
        anns_field=params.get("anns_field") or None,
        limit=limit,
        metric=params.get("metric_type") or None,
        expr=request.dsl,
        params=template_values(request.expr_template_values),
        output_fields=list(request.output_fields),
        offset=int_param(params, "offset", 0) or 0,
        round_decimal=_round_decimal(params),
        search_params=extra,
        group_by_field=params.get("group_by_field") or None,
        group_size=int_param(params, "group_size", 1) or 1,
        strict_group_size=flag(params.get("strict_group_size")),
        iterator=iterator,
        iterator_last_bound=float(last_bound) if iterator and last_bound else None,
        ignore_growing=flag(params.get("ignore_growing")),
        partition_names=tuple(request.partition_names),
        timezone=params.get("timezone", ""),
        function_score=function_score_from_proto(request.function_score),
    )


def refuse_unserved(request: milvus_pb2.SearchRequest | milvus_pb2.HybridSearchRequest) -> None:
    """Parts of a search Sluice does not run are refused by name, never ignored."""
    if request.function_chains:
        raise Unimplemented(
            f"{Unimplemented.base_message}: search function chains are not supported by Sluice"
        )
    if isinstance(request, milvus_pb2.SearchRequest):
        if request.HasField("highlighter"):
            raise Unimplemented(
                f"{Unimplemented.base_message}: search highlighters are not supported by Sluice"
            )
        if request.HasField("search_aggregation"):
            raise Unimplemented(
                f"{Unimplemented.base_message}: search aggregations are not supported by Sluice"
            )


#: ``PlaceholderType`` -> how each query's bytes read: numpy dtype and bytes per element.
_PLACEHOLDERS: dict[int, np.dtype[Any]] = {
    int(DataType.BINARY_VECTOR): np.dtype(np.uint8),
    int(DataType.FLOAT_VECTOR): np.dtype("<f4"),
    int(DataType.FLOAT16_VECTOR): np.dtype(np.uint8),
    int(DataType.BFLOAT16_VECTOR): np.dtype(np.uint8),
    int(DataType.INT8_VECTOR): np.dtype(np.uint8),
}
_SPARSE_PLACEHOLDER = int(DataType.SPARSE_FLOAT_VECTOR)
_EMB_LIST_FLOAT_PLACEHOLDER = common_pb2.EmbListFloatVector
_EMB_LIST_PLACEHOLDERS = frozenset(
    {
        common_pb2.EmbListBinaryVector,
        common_pb2.EmbListFloat16Vector,
        common_pb2.EmbListBFloat16Vector,
        common_pb2.EmbListSparseFloatVector,
        common_pb2.EmbListInt8Vector,
    }
)


def query_vectors(
    raw: bytes,
) -> np.ndarray | scipy.sparse.csr_matrix | QueryTexts | EmbeddingLists:
    """The placeholder group's query vectors, one per row (no copy of a dense payload).

    Float vectors come back as float32 ``(nq, dim)``; byte vectors (binary,
    float16, bfloat16, int8) as their raw bytes ``(nq, bytes)``, which the
    engine views as the field's element type; sparse vectors as CSR rows.
    Texts (a VarChar placeholder) are queries for a field a function computes.
    """
    group = common_pb2.PlaceholderGroup()
    try:
        group.ParseFromString(raw)
    except Exception:
        raise ParameterInvalid.msg("failed to parse placeholder group") from None
    if not group.placeholders:
        raise ParameterInvalid.msg("placeholder group is empty")
    holder = group.placeholders[0]
    if holder.type == _VARCHAR_PLACEHOLDER:
        try:
            return QueryTexts(tuple(v.decode("utf-8") for v in holder.values))
        except UnicodeDecodeError:
            raise ParameterInvalid.msg("query texts must be UTF-8") from None
    values = holder.values
    if not values:
        raise ParameterInvalid.msg("nq (number of search vector per search request) is 0")
    if holder.type == _SPARSE_PLACEHOLDER:
        return csr(pa.array(list(values), type=pa.binary()))
    if holder.type == _EMB_LIST_FLOAT_PLACEHOLDER:
        return _embedding_lists(values)
    if holder.type in _EMB_LIST_PLACEHOLDERS:
        raise Unimplemented(
            f"{Unimplemented.base_message}: embedding lists of "
            f"{common_pb2.PlaceholderType.Name(holder.type)[len('EmbList') :]} are not "
            "supported by Sluice (an array of structs holds float vectors only)"
        )
    dtype = _PLACEHOLDERS.get(holder.type)
    if dtype is None:
        raise ParameterInvalid.msg(f"unsupported placeholder type {holder.type}")
    if len(values) == 1:
        payload = values[0]
    else:
        if len({len(v) for v in values}) != 1:
            raise ParameterInvalid.msg("query vectors have inconsistent sizes")
        payload = b"".join(values)
    if len(payload) % (dtype.itemsize * len(values)):
        raise ParameterInvalid.msg("query vectors have inconsistent sizes")
    return np.frombuffer(payload, dtype=dtype).reshape(len(values), -1)


def _embedding_lists(values: Any) -> EmbeddingLists:
    """EmbList placeholders: each value one list's float32 vectors, back to back."""
    sizes = np.fromiter((len(v) for v in values), dtype=np.int64, count=len(values))
    if (sizes % 4).any():
        raise ParameterInvalid.msg("query vectors have inconsistent sizes")
    flat = np.frombuffer(b"".join(values), dtype="<f4")
    return EmbeddingLists(flat, sizes // 4)


def query_count(
    vectors: np.ndarray | scipy.sparse.csr_matrix | QueryTexts | EmbeddingLists,
) -> int:
    """How many queries a search carries (``len`` is ambiguous for a sparse matrix)."""
    return len(vectors) if isinstance(vectors, QueryTexts) else int(vectors.shape[0])


def search_keys(request: milvus_pb2.SearchRequest) -> list[int] | list[str] | None:
    """Primary keys to search by (``ids=`` instead of vectors), or ``None``."""
    if not request.HasField("ids"):
        return None
    ids = request.ids
    if ids.WhichOneof("id_field") == "str_id":
        return list(ids.str_id.data)
    return list(ids.int_id.data)


def search_results(
    request: milvus_pb2.SearchRequest | milvus_pb2.HybridSearchRequest,
    result: SearchResult,
    nq: int,
) -> milvus_pb2.SearchResults:
    """The engine's hits as Milvus's SearchResults, built in place (no sub-message copies)."""
    search, hits, schema = result.request, result.hits, result.schema
    response = milvus_pb2.SearchResults(
        status=SUCCESS, collection_name=request.collection_name, session_ts=result.read_ts
    )
    data = response.results
    data.num_queries = nq
    data.top_k = search.limit
    data.topks.extend(hits.topks)
    data.output_fields.extend(result.output.names)
    data.primary_field_name = schema.primary.name
    data.ids.CopyFrom(ids_message(hits.pks, schema.primary.dtype))
    data.scores.extend(hits.scores.tolist())
    if hits.fields.num_columns:
        data.fields_data.extend(fields_data_from_table(schema, hits.fields))
    if hits.group_values is not None and search.group_by_field:
        group_field = schema.get(search.group_by_field)
        assert group_field is not None
        data.group_by_field_value.CopyFrom(field_data_from_column(group_field, hits.group_values))
    if search.iterator and isinstance(request, milvus_pb2.SearchRequest):
        data.search_iterator_v2_results.token = _iterator_token(request)
        data.search_iterator_v2_results.last_bound = hits.last_scores[0]
    return response


def flag(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("true", "1")


def _round_decimal(params: dict[str, str]) -> int:
    value = int_param(params, "round_decimal", -1)
    return -1 if value is None else value


def _iterator_token(request: milvus_pb2.SearchRequest) -> str:
    """The iterator's ID: the client's once it has one, else a new one."""
    params = key_values(request.search_params)
    return params.get("search_iter_id") or uuid.uuid4().hex


def _search_extra(raw: str) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        decoded = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ParameterInvalid.msg(f"search params must be a JSON object, got {raw}") from None
    if not isinstance(decoded, dict):
        raise ParameterInvalid.msg(f"search params must be a JSON object, got {raw}")
    return decoded
