"""Write RPCs: Insert and Delete."""

from __future__ import annotations

import grpc
from pymilvus.grpc_gen import milvus_pb2

from sluice.api.base import db_name, rpc
from sluice.api.convert_fields import column_from_field_data, ids_message
from sluice.api.convert_request import template_values
from sluice.api.status import SUCCESS
from sluice.engine import Engine


class DataRpcs:
    engine: Engine

    @rpc
    def Insert(
        self, request: milvus_pb2.InsertRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.MutationResult:
        return self._write(request, context, upsert=False)

    @rpc
    def Upsert(
        self, request: milvus_pb2.UpsertRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.MutationResult:
        return self._write(request, context, upsert=True)

    def _write(
        self,
        request: milvus_pb2.InsertRequest | milvus_pb2.UpsertRequest,
        context: grpc.ServicerContext,
        *,
        upsert: bool,
    ) -> milvus_pb2.MutationResult:
        db = db_name(request.db_name, context)
        info = self.engine.describe(db, request.collection_name)
        num_rows = request.num_rows
        columns = [column_from_field_data(fd, num_rows) for fd in request.fields_data]
        if upsert:
            assert isinstance(request, milvus_pb2.UpsertRequest)
            result = self.engine.upsert(
                db,
                request.collection_name,
                request.partition_name,
                columns,
                num_rows,
                partial=request.partial_update,
            )
        else:
            result = self.engine.insert(
                db, request.collection_name, request.partition_name, columns, num_rows
            )
        n = len(result.ids)
        response = milvus_pb2.MutationResult(
            status=SUCCESS,
            IDs=ids_message(result.ids, info.schema.primary.dtype),
            succ_index=range(n),
            timestamp=result.timestamp,
        )
        if upsert:
            response.upsert_cnt = n
        else:
            response.insert_cnt = n
        return response

    @rpc
    def Delete(
        self, request: milvus_pb2.DeleteRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.MutationResult:
        db = db_name(request.db_name, context)
        result = self.engine.delete(
            db,
            request.collection_name,
            request.partition_name,
            request.expr,
            template_values(request.expr_template_values),
        )
        # Milvus (since 2.3.2) reports only the count; pymilvus turns filled IDs into a key list.
        return milvus_pb2.MutationResult(
            status=SUCCESS, delete_cnt=result.count, timestamp=result.timestamp
        )
