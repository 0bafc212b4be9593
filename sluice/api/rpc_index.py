"""Index RPCs: CreateIndex, DescribeIndex, AlterIndex, DropIndex and build progress."""

from __future__ import annotations

import grpc
from pymilvus.grpc_gen import common_pb2, milvus_pb2

from sluice.api.base import db_name, remaining_seconds, rpc
from sluice.api.convert_request import key_values
from sluice.api.status import SUCCESS
from sluice.engine import Engine, IndexInfo

_FINISHED = 3
_IN_PROGRESS = 2


class IndexRpcs:
    engine: Engine

    @rpc
    def CreateIndex(
        self, request: milvus_pb2.CreateIndexRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        self.engine.create_index(
            db_name(request.db_name, context),
            request.collection_name,
            request.field_name,
            request.index_name,
            key_values(request.extra_params),
        )
        return SUCCESS

    @rpc
    def DescribeIndex(
        self, request: milvus_pb2.DescribeIndexRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.DescribeIndexResponse:
        infos = self._indexes(request, context)
        return milvus_pb2.DescribeIndexResponse(
            status=SUCCESS, index_descriptions=[_description(i) for i in infos]
        )

    @rpc
    def GetIndexStatistics(
        self, request: milvus_pb2.GetIndexStatisticsRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.GetIndexStatisticsResponse:
        infos = self.engine.describe_indexes(
            db_name(request.db_name, context), request.collection_name, request.index_name
        )
        return milvus_pb2.GetIndexStatisticsResponse(
            status=SUCCESS, index_descriptions=[_description(i) for i in infos]
        )

    @rpc
    def GetIndexState(
        self, request: milvus_pb2.GetIndexStateRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.GetIndexStateResponse:
        infos = self._indexes(request, context)
        done = all(i.finished for i in infos)
        return milvus_pb2.GetIndexStateResponse(
            status=SUCCESS, state=_FINISHED if done else _IN_PROGRESS
        )

    @rpc
    def GetIndexBuildProgress(
        self, request: milvus_pb2.GetIndexBuildProgressRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.GetIndexBuildProgressResponse:
        infos = self._indexes(request, context)
        return milvus_pb2.GetIndexBuildProgressResponse(
            status=SUCCESS,
            indexed_rows=sum(i.indexed_rows for i in infos),
            total_rows=sum(i.total_rows for i in infos),
        )

    def _indexes(
        self,
        request: milvus_pb2.DescribeIndexRequest
        | milvus_pb2.GetIndexStateRequest
        | milvus_pb2.GetIndexBuildProgressRequest,
        context: grpc.ServicerContext,
    ) -> list[IndexInfo]:
        """The indexes a request names by index and/or field name (Milvus's matching rules).

        Like GetFlushState, an answer that would say "in progress" may wait up to
        ``flush.state_wait_ms`` for running builds (never past the client's deadline):
        pymilvus polls index state every 0.5 s, so a build finishing just after a
        poll would otherwise cost the client another half second.
        """
        wait = remaining_seconds(context, self.engine.settings.flush.state_wait_ms / 1000)
        return self.engine.describe_indexes(
            db_name(request.db_name, context),
            request.collection_name,
            request.index_name,
            request.field_name,
            wait_seconds=wait,
        )

    @rpc
    def AlterIndex(
        self, request: milvus_pb2.AlterIndexRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        self.engine.alter_index(
            db_name(request.db_name, context),
            request.collection_name,
            request.index_name,
            key_values(request.extra_params),
            list(request.delete_keys),
        )
        return SUCCESS

    @rpc
    def DropIndex(
        self, request: milvus_pb2.DropIndexRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        self.engine.drop_index(
            db_name(request.db_name, context),
            request.collection_name,
            request.field_name,
            request.index_name,
        )
        return SUCCESS


def _description(info: IndexInfo) -> milvus_pb2.IndexDescription:
    return milvus_pb2.IndexDescription(
        index_name=info.index_name,
        indexID=info.index_id,
        field_name=info.field_name,
        params=[common_pb2.KeyValuePair(key=k, value=v) for k, v in info.params.items()],
        indexed_rows=info.indexed_rows,
        total_rows=info.total_rows,
        pending_index_rows=info.pending_rows,
        state=_FINISHED if info.finished else _IN_PROGRESS,
    )
