"""Read RPCs: Query and Search."""

from __future__ import annotations

import grpc
from pymilvus.grpc_gen import milvus_pb2

from sluice.api.base import db_name, rpc
from sluice.api.convert_fields import fields_data_from_table
from sluice.api.convert_hybrid import hybrid_request, hybrid_vectors
from sluice.api.convert_request import int_param, key_values, template_values
from sluice.api.convert_search import (
    flag,
    plan_key,
    query_count,
    query_vectors,
    search_keys,
    search_request,
    search_results,
)
from sluice.api.status import SUCCESS
from sluice.engine import COUNT_STAR, Engine
from sluice.errors import SluiceError
from sluice.schema import DataType


class ReadRpcs:
    engine: Engine

    @rpc
    def Query(
        self, request: milvus_pb2.QueryRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.QueryResults:
        db = db_name(request.db_name, context)
        params = key_values(request.query_params)
        try:
            limit = int_param(params, "limit", None)
            offset = int_param(params, "offset", 0) or 0
        except SluiceError:
            # Milvus finds the collection before it reads the parameters.
            self.engine.describe(db, request.collection_name)
            raise
        if limit is None:
            offset = 0
        # Query iterators pin the first page's timestamp for every later page.
        pinned = request.guarantee_timestamp if flag(params.get("iterator")) else None
        result = self.engine.query(
            db,
            request.collection_name,
            request.expr,
            list(request.output_fields),
            limit=limit,
            offset=offset,
            params=template_values(request.expr_template_values),
            read_ts=pinned,
            ignore_growing=flag(params.get("ignore_growing")),
            partition_names=list(request.partition_names),
            timezone=params.get("timezone", ""),
            order_by=params.get("order_by_fields", ""),
        )
        schema = result.schema
        response = milvus_pb2.QueryResults(
            status=SUCCESS,
            collection_name=result.collection_name,
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
        keys = search_keys(request)
        if keys is not None and not request.placeholder_group:
            anns_field = key_values(request.search_params).get("anns_field") or None
            vectors = self.engine.vectors_of_keys(db, request.collection_name, anns_field, keys)
        else:
            vectors = query_vectors(request.placeholder_group)
        result = self.engine.search_by_key(
            db,
            request.collection_name,
            plan_key(request),
            lambda: search_request(request),
            vectors,
            # Search iterators pin their first page's timestamp for every later page.
            iterator_ts=request.guarantee_timestamp,
        )
        return search_results(request, result, query_count(vectors))

    @rpc
    def HybridSearch(
        self, request: milvus_pb2.HybridSearchRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.SearchResults:
        db = db_name(request.db_name, context)
        vectors = hybrid_vectors(request)
        result = self.engine.hybrid_search(
            db, request.collection_name, hybrid_request(request), vectors
        )
        nq = query_count(vectors[0]) if vectors else 0
        return search_results(request, result, nq)
