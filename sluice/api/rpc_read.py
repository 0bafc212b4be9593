"""Read RPCs: Query and Search."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import numpy as np
import orjson
from pymilvus.grpc_gen import common_pb2, milvus_pb2, schema_pb2

from sluice.api.base import db_name, rpc
from sluice.api.convert_fields import field_data_from_column, fields_data_from_table, ids_message
from sluice.api.convert_request import int_param, key_values, template_values
from sluice.api.status import SUCCESS
from sluice.engine.data import SearchRequest
from sluice.engine.engine import Engine
from sluice.engine.output import COUNT_STAR
from sluice.errors import ParameterInvalid, RequestError
from sluice.schema import DataType

_FLOAT_VECTOR_PLACEHOLDER = 101


class ReadRpcs:
    engine: Engine

    @rpc
    def Query(
        self, request: milvus_pb2.QueryRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.QueryResults:
        db = db_name(request.db_name, context)
        collection = self.engine.get(db, request.collection_name)
        params = key_values(request.query_params)
        limit = int_param(params, "limit", None)
        offset = int_param(params, "offset", 0) or 0
        if limit is None:
            offset = 0
        # Query iterators pin the first page's timestamp for every later page.
        pinned = request.guarantee_timestamp if _flag(params.get("iterator")) else None
        result = self.engine.query(
            db,
            request.collection_name,
            request.expr,
            list(request.output_fields),
            limit=limit,
            offset=offset,
            params=template_values(request.expr_template_values),
            read_ts=pinned,
            ignore_growing=_flag(params.get("ignore_growing")),
        )
        schema = collection.schema
        response = milvus_pb2.QueryResults(
            status=SUCCESS,
            collection_name=collection.name,
            primary_field_name=schema.primary.name,
            session_ts=result.read_ts,
        )
        if result.count is not None:
            fd = response.fields_data.add(field_name=COUNT_STAR, type=int(DataType.INT64))
            fd.scalars.long_data.data.append(result.count)
            response.output_fields.append(COUNT_STAR)
            return response
        response.fields_data.extend(fields_data_from_table(schema, result.table))
        response.output_fields.extend(result.output.names)
        return response

    @rpc
    def Search(
        self, request: milvus_pb2.SearchRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.SearchResults:
        db = db_name(request.db_name, context)
        search = search_request(request)
        result = self.engine.search(db, request.collection_name, search)
        hits = result.hits
        schema = result.schema
        data = schema_pb2.SearchResultData(
            num_queries=len(search.vectors),
            top_k=search.limit,
            topks=hits.topks,
            output_fields=list(result.output.names),
            primary_field_name=schema.primary.name,
        )
        data.ids.CopyFrom(ids_message(hits.pks, schema.primary.dtype))
        data.scores.extend(hits.scores.tolist())
        if hits.fields.num_columns:
            data.fields_data.extend(fields_data_from_table(schema, hits.fields))
        if hits.group_values is not None and search.group_by_field:
            group_field = schema.get(search.group_by_field)
            assert group_field is not None
            data.group_by_field_value.CopyFrom(
                field_data_from_column(group_field, hits.group_values)
            )
        if search.iterator:
            data.search_iterator_v2_results.token = _iterator_token(request)
            data.search_iterator_v2_results.last_bound = hits.last_scores[0]
        return milvus_pb2.SearchResults(
            status=SUCCESS,
            results=data,
            collection_name=request.collection_name,
            session_ts=result.read_ts,
        )


def search_request(request: milvus_pb2.SearchRequest) -> SearchRequest:
    """Milvus's search request, key/value parameters and all, as the engine's request."""
    params = key_values(request.search_params)
    extra = _search_extra(params.get("params", ""))
    limit = int_param(params, "topk", None)
    if limit is None:
        raise RequestError("topk is required")
    iterator = _flag(params.get("iterator")) and _flag(params.get("search_iter_v2"))
    if iterator:
        limit = int_param(params, "search_iter_batch_size", limit) or limit
    last_bound = params.get("search_iter_last_bound")
    return SearchRequest(
        anns_field=params.get("anns_field") or None,
        vectors=_query_vectors(request.placeholder_group),
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
        strict_group_size=_flag(params.get("strict_group_size")),
        iterator=iterator,
        iterator_last_bound=float(last_bound) if iterator and last_bound else None,
        read_ts=request.guarantee_timestamp if iterator else None,
        ignore_growing=_flag(params.get("ignore_growing")),
    )


def _flag(value: str | None) -> bool:
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


def _query_vectors(raw: bytes) -> np.ndarray:
    group = common_pb2.PlaceholderGroup()
    try:
        group.ParseFromString(raw)
    except Exception:
        raise ParameterInvalid.msg("failed to parse placeholder group") from None
    if not group.placeholders:
        raise ParameterInvalid.msg("placeholder group is empty")
    holder = group.placeholders[0]
    if holder.type != _FLOAT_VECTOR_PLACEHOLDER:
        raise ParameterInvalid.msg(
            f"Sluice searches FloatVector data only; got placeholder type {holder.type}"
        )
    values = list(holder.values)
    if not values:
        raise ParameterInvalid.msg("nq (number of search vector per search request) is 0")
    sizes = {len(v) for v in values}
    if len(sizes) != 1 or next(iter(sizes)) % 4:
        raise ParameterInvalid.msg("query vectors have inconsistent sizes")
    flat = np.frombuffer(b"".join(values), dtype="<f4")
    return flat.reshape(len(values), -1)
