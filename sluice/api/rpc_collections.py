"""Collection lifecycle RPCs: create, describe, list, drop, statistics, load state."""

from __future__ import annotations

import grpc
from pymilvus.grpc_gen import common_pb2, milvus_pb2

from sluice.api.base import db_name, rpc
from sluice.api.convert_schema import schema_from_proto, schema_to_proto
from sluice.api.status import SUCCESS, error_status
from sluice.engine import Engine
from sluice.errors import CollectionNotFound, LegacyCode, ParameterInvalid
from sluice.schema import ConsistencyLevel


class CollectionRpcs:
    engine: Engine

    @rpc
    def CreateCollection(
        self, request: milvus_pb2.CreateCollectionRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        db = db_name(request.db_name, context)
        schema = schema_from_proto(request.schema, request.collection_name)
        try:
            level = ConsistencyLevel(request.consistency_level)
        except ValueError:
            raise ParameterInvalid.msg(
                f"invalid consistency level {request.consistency_level}"
            ) from None
        self.engine.create_collection(
            db,
            schema,
            shards_num=request.shards_num,
            consistency=level,
            properties={kv.key: kv.value for kv in request.properties},
        )
        return SUCCESS

    @rpc
    def DescribeCollection(
        self, request: milvus_pb2.DescribeCollectionRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.DescribeCollectionResponse:
        db = db_name(request.db_name, context)
        try:
            if request.collection_name:
                meta = self.engine.describe(db, request.collection_name)
            else:
                meta = self.engine.describe_by_id(db, request.collectionID)
        except CollectionNotFound as err:
            # Milvus rewrites this one "for compatibility with PyMilvus": code 100,
            # legacy UnexpectedError, "can't find collection[...]".
            status = error_status(err)
            status.error_code = LegacyCode.UNEXPECTED_ERROR
            status.reason = err.message.replace("collection not found", "can't find collection", 1)
            return milvus_pb2.DescribeCollectionResponse(status=status)
        response = milvus_pb2.DescribeCollectionResponse(
            status=SUCCESS,
            schema=schema_to_proto(meta.schema, meta.properties.get("timezone", "UTC")),
            collectionID=meta.id,
            virtual_channel_names=meta.vchannels,
            physical_channel_names=meta.pchannels,
            created_timestamp=meta.created_ts,
            created_utc_timestamp=meta.created_utc_ms,
            shards_num=meta.shards_num,
            consistency_level=int(meta.consistency_level),
            collection_name=meta.name,
            db_name=meta.db,
            num_partitions=len(meta.partitions),
            update_timestamp=meta.created_ts,
        )
        for key, value in meta.properties.items():
            response.properties.append(common_pb2.KeyValuePair(key=key, value=value))
        return response

    @rpc
    def HasCollection(
        self, request: milvus_pb2.HasCollectionRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.BoolResponse:
        db = db_name(request.db_name, context)
        return milvus_pb2.BoolResponse(
            status=SUCCESS, value=self.engine.has_collection(db, request.collection_name)
        )

    @rpc
    def ShowCollections(
        self, request: milvus_pb2.ShowCollectionsRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.ShowCollectionsResponse:
        db = db_name(request.db_name, context)
        metas = self.engine.list_collections(db)
        if request.collection_names:
            wanted = set(request.collection_names)
            metas = [m for m in metas if m.name in wanted]
            for name in request.collection_names:
                if name not in {m.name for m in metas}:
                    raise CollectionNotFound.named(db, name)
        return milvus_pb2.ShowCollectionsResponse(
            status=SUCCESS,
            collection_names=[m.name for m in metas],
            collection_ids=[m.id for m in metas],
            created_timestamps=[m.created_ts for m in metas],
            created_utc_timestamps=[m.created_utc_ms for m in metas],
            inMemory_percentages=[100 if m.loaded else 0 for m in metas],
            query_service_available=[m.loaded for m in metas],
            shards_num=[m.shards_num for m in metas],
        )

    @rpc
    def DropCollection(
        self, request: milvus_pb2.DropCollectionRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        self.engine.drop_collection(db_name(request.db_name, context), request.collection_name)
        return SUCCESS

    @rpc
    def GetCollectionStatistics(
        self, request: milvus_pb2.GetCollectionStatisticsRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.GetCollectionStatisticsResponse:
        db = db_name(request.db_name, context)
        stats = self.engine.collection_stats(db, request.collection_name)
        return milvus_pb2.GetCollectionStatisticsResponse(
            status=SUCCESS,
            stats=[common_pb2.KeyValuePair(key=k, value=v) for k, v in stats.items()],
        )

    @rpc
    def LoadCollection(
        self, request: milvus_pb2.LoadCollectionRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        self.engine.load(db_name(request.db_name, context), request.collection_name)
        return SUCCESS

    @rpc
    def ReleaseCollection(
        self, request: milvus_pb2.ReleaseCollectionRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        self.engine.release(db_name(request.db_name, context), request.collection_name)
        return SUCCESS

    @rpc
    def GetLoadState(
        self, request: milvus_pb2.GetLoadStateRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.GetLoadStateResponse:
        state = self.engine.load_state(db_name(request.db_name, context), request.collection_name)
        return milvus_pb2.GetLoadStateResponse(status=SUCCESS, state=int(state))

    @rpc
    def GetLoadingProgress(
        self, request: milvus_pb2.GetLoadingProgressRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.GetLoadingProgressResponse:
        info = self.engine.describe(db_name(request.db_name, context), request.collection_name)
        progress = 100 if info.loaded else 0
        return milvus_pb2.GetLoadingProgressResponse(
            status=SUCCESS, progress=progress, refresh_progress=progress
        )
