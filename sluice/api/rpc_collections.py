"""Collection lifecycle RPCs: create, describe, list, drop, rename, truncate, statistics, load state."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
from pymilvus.grpc_gen import common_pb2, milvus_pb2

from sluice.api.access import current_user
from sluice.api.base import db_name, rpc
from sluice.api.convert_schema import schema_from_proto, schema_to_proto
from sluice.api.status import SUCCESS, error_status
from sluice.engine import CollectionInfo, Engine
from sluice.errors import CollectionNotFound, LegacyCode, ParameterInvalid, SluiceError
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
            num_partitions=request.num_partitions,
        )
        return SUCCESS

    @rpc
    def DescribeCollection(
        self, request: milvus_pb2.DescribeCollectionRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.DescribeCollectionResponse:
        db = db_name(request.db_name, context)
        return self._describe(db, request.collection_name, request.collectionID)

    def _describe(
        self, db: str, name: str, collection_id: int = 0
    ) -> milvus_pb2.DescribeCollectionResponse:
        try:
            if name or not collection_id:
                info = self.engine.describe(db, name)
            else:
                info = self.engine.describe_by_id(db, collection_id)
        except CollectionNotFound as err:
            # Milvus rewrites this one "for compatibility with PyMilvus": code 100,
            # legacy UnexpectedError, "can't find collection[...]".
            status = error_status(err)
            status.error_code = LegacyCode.UNEXPECTED_ERROR
            status.reason = err.message.replace("collection not found", "can't find collection", 1)
            return milvus_pb2.DescribeCollectionResponse(status=status)
        return describe_response(info)

    @rpc
    def BatchDescribeCollection(
        self, request: milvus_pb2.BatchDescribeCollectionRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.BatchDescribeCollectionResponse:
        db = db_name(request.db_name, context)
        response = milvus_pb2.BatchDescribeCollectionResponse(status=SUCCESS)
        for name in request.collection_name:
            response.responses.append(self._answer_one(db, name, 0))
        for collection_id in request.collectionID:
            response.responses.append(self._answer_one(db, "", collection_id))
        return response

    def _answer_one(
        self, db: str, name: str, collection_id: int
    ) -> milvus_pb2.DescribeCollectionResponse:
        """One entry of a batch: a failure is that entry's status, not the whole call's."""
        try:
            return self._describe(db, name, collection_id)
        except SluiceError as err:
            return milvus_pb2.DescribeCollectionResponse(status=error_status(err))

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
        user = current_user()
        if user is not None:
            visible = set(self.engine.access.visible_collections(user, db, [m.name for m in metas]))
            metas = [m for m in metas if m.name in visible]
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
        state = self.engine.load_state(
            db_name(request.db_name, context),
            request.collection_name,
            list(request.partition_names),
        )
        return milvus_pb2.GetLoadStateResponse(status=SUCCESS, state=int(state))

    @rpc
    def GetLoadingProgress(
        self, request: milvus_pb2.GetLoadingProgressRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.GetLoadingProgressResponse:
        progress = self.engine.loading_progress(
            db_name(request.db_name, context),
            request.collection_name,
            list(request.partition_names),
        )
        return milvus_pb2.GetLoadingProgressResponse(
            status=SUCCESS, progress=progress, refresh_progress=progress
        )

    @rpc
    def RenameCollection(
        self, request: milvus_pb2.RenameCollectionRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        db = db_name(request.db_name, context)
        self.engine.rename_collection(db, request.oldName, request.newName, request.newDBName)
        return SUCCESS

    @rpc
    def TruncateCollection(
        self, request: milvus_pb2.TruncateCollectionRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.TruncateCollectionResponse:
        self.engine.truncate_collection(db_name(request.db_name, context), request.collection_name)
        return milvus_pb2.TruncateCollectionResponse(status=SUCCESS)


def describe_response(info: CollectionInfo) -> milvus_pb2.DescribeCollectionResponse:
    """DescribeCollection's answer for one collection (by name, alias or ID)."""
    response = milvus_pb2.DescribeCollectionResponse(
        status=SUCCESS,
        schema=schema_to_proto(info.schema, info.properties.get("timezone", "UTC")),
        collectionID=info.id,
        virtual_channel_names=info.vchannels,
        physical_channel_names=info.pchannels,
        created_timestamp=info.created_ts,
        created_utc_timestamp=info.created_utc_ms,
        shards_num=info.shards_num,
        aliases=info.aliases,
        consistency_level=int(info.consistency_level),
        collection_name=info.name,
        db_name=info.db,
        db_id=info.db_id,
        num_partitions=len(info.partitions),
        update_timestamp=info.updated_ts,
        update_timestamp_str=_timestamp_text(info.updated_ts),
    )
    for key, value in info.properties.items():
        response.properties.append(common_pb2.KeyValuePair(key=key, value=value))
    return response


def _timestamp_text(ts: int) -> str:
    """A hybrid timestamp's wall-clock time as Milvus prints it (RFC 3339, UTC)."""
    seconds = (ts >> 18) / 1000
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat()
