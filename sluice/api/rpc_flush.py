"""Flush and segment RPCs: Flush, GetFlushState, FlushAll and segment listings."""

from __future__ import annotations

import grpc
from pymilvus.grpc_gen import milvus_pb2, msg_pb2, schema_pb2

from sluice.api.base import db_name, remaining_seconds, rpc
from sluice.api.status import SUCCESS
from sluice.engine import Engine

#: Milvus reports every loaded segment as Sealed, whatever its data-side state.
_SEALED = 3


class FlushRpcs:
    engine: Engine

    @rpc
    def Flush(
        self, request: milvus_pb2.FlushRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.FlushResponse:
        db = db_name(request.db_name, context)
        result = self.engine.flush(db, list(request.collection_names))
        response = milvus_pb2.FlushResponse(status=SUCCESS, db_name=db)
        for name, flushed in result.collections.items():
            response.coll_segIDs[name].CopyFrom(schema_pb2.LongArray(data=flushed.sealed))
            response.flush_coll_segIDs[name].CopyFrom(schema_pb2.LongArray(data=flushed.flushed))
            response.coll_seal_times[name] = flushed.seal_time
            response.coll_flush_ts[name] = flushed.flush_ts
        for channel, position in result.checkpoints.items():
            response.channel_cps[channel].CopyFrom(
                msg_pb2.MsgPosition(
                    channel_name=position.channel,
                    msgID=position.msg_id,
                    timestamp=position.timestamp,
                )
            )
        return response

    @rpc
    def GetFlushState(
        self, request: milvus_pb2.GetFlushStateRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.GetFlushStateResponse:
        db = db_name(request.db_name, context)
        wait = remaining_seconds(context, self.engine.settings.flush.state_wait_ms / 1000)
        flushed = self.engine.flush_state(
            db, request.collection_name, list(request.segmentIDs), request.flush_ts, wait
        )
        return milvus_pb2.GetFlushStateResponse(status=SUCCESS, flushed=flushed)

    @rpc
    def FlushAll(
        self, request: milvus_pb2.FlushAllRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.FlushAllResponse:
        result = self.engine.flush_all()
        info = milvus_pb2.ClusterInfo(
            cluster_id=self.engine.settings.cluster_prefix, pchannels=result.pchannels
        )
        return milvus_pb2.FlushAllResponse(
            status=SUCCESS, flush_all_ts=result.flush_all_ts, cluster_info=info
        )

    @rpc
    def GetFlushAllState(
        self, request: milvus_pb2.GetFlushAllStateRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.GetFlushAllStateResponse:
        wait = remaining_seconds(context, self.engine.settings.flush.state_wait_ms / 1000)
        flushed = self.engine.flush_all_state(
            request.flush_all_ts, dict(request.flush_all_tss), wait
        )
        return milvus_pb2.GetFlushAllStateResponse(status=SUCCESS, flushed=flushed)

    @rpc
    def GetQuerySegmentInfo(
        self, request: milvus_pb2.GetQuerySegmentInfoRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.GetQuerySegmentInfoResponse:
        db = db_name(request.dbName, context)
        response = milvus_pb2.GetQuerySegmentInfoResponse(status=SUCCESS)
        for info in self.engine.loaded_segments(db, request.collectionName):
            response.infos.append(
                milvus_pb2.QuerySegmentInfo(
                    segmentID=info.segment_id,
                    collectionID=info.collection_id,
                    partitionID=info.partition_id,
                    mem_size=info.mem_size,
                    num_rows=info.num_rows,
                    index_name=info.index_name,
                    indexID=info.index_id,
                    nodeID=1,
                    state=_SEALED,
                    nodeIds=[1],
                    level=int(info.level),
                    is_sorted=info.is_sorted,
                )
            )
        return response

    @rpc
    def GetPersistentSegmentInfo(
        self, request: milvus_pb2.GetPersistentSegmentInfoRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.GetPersistentSegmentInfoResponse:
        db = db_name(request.dbName, context)
        infos = self.engine.persistent_segments(db, request.collectionName)
        response = milvus_pb2.GetPersistentSegmentInfoResponse(status=SUCCESS)
        for info in infos:
            response.infos.append(
                milvus_pb2.PersistentSegmentInfo(
                    segmentID=info.segment_id,
                    collectionID=info.collection_id,
                    partitionID=info.partition_id,
                    num_rows=info.num_rows,
                    state=int(info.state),
                    level=int(info.level),
                    is_sorted=info.is_sorted,
                    storage_version=0,
                    insert_channel=info.channel,
                    compaction_from=list(info.compacted_from),
                )
            )
        return response
