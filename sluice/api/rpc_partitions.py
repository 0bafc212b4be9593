"""Partition RPCs: create, drop, has, show, statistics, load and release."""

from __future__ import annotations

import grpc
from pymilvus.grpc_gen import common_pb2, milvus_pb2

from sluice.api.base import db_name, rpc
from sluice.api.status import SUCCESS
from sluice.engine import Engine
from sluice.errors import ParameterInvalid

#: ``milvus.ShowType.InMemory``: only partitions that are loaded, by name.
_SHOW_IN_MEMORY = 1


class PartitionRpcs:
    engine: Engine

    @rpc
    def CreatePartition(
        self, request: milvus_pb2.CreatePartitionRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        db = db_name(request.db_name, context)
        self.engine.create_partition(db, request.collection_name, request.partition_name)
        return SUCCESS

    @rpc
    def DropPartition(
        self, request: milvus_pb2.DropPartitionRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        db = db_name(request.db_name, context)
        self.engine.drop_partition(db, request.collection_name, request.partition_name)
        return SUCCESS

    @rpc
    def HasPartition(
        self, request: milvus_pb2.HasPartitionRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.BoolResponse:
        db = db_name(request.db_name, context)
        found = self.engine.has_partition(db, request.collection_name, request.partition_name)
        return milvus_pb2.BoolResponse(status=SUCCESS, value=found)

    @rpc
    def ShowPartitions(
        self, request: milvus_pb2.ShowPartitionsRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.ShowPartitionsResponse:
        db = db_name(request.db_name, context)
        partitions = self.engine.list_partitions(db, request.collection_name)
        if request.type == _SHOW_IN_MEMORY and request.partition_names:
            by_name = {p.name: p for p in partitions}
            for name in request.partition_names:
                if name not in by_name:
                    raise ParameterInvalid.msg(f"partition name {name} not found")
            partitions = [by_name[name] for name in request.partition_names]
        return milvus_pb2.ShowPartitionsResponse(
            status=SUCCESS,
            partition_names=[p.name for p in partitions],
            partitionIDs=[p.id for p in partitions],
            created_timestamps=[p.created_ts for p in partitions],
            created_utc_timestamps=[p.created_utc_ms for p in partitions],
            inMemory_percentages=[100 if p.loaded else 0 for p in partitions],
        )

    @rpc
    def GetPartitionStatistics(
        self, request: milvus_pb2.GetPartitionStatisticsRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.GetPartitionStatisticsResponse:
        db = db_name(request.db_name, context)
        stats = self.engine.partition_stats(db, request.collection_name, request.partition_name)
        return milvus_pb2.GetPartitionStatisticsResponse(
            status=SUCCESS,
            stats=[common_pb2.KeyValuePair(key=k, value=v) for k, v in stats.items()],
        )

    @rpc
    def LoadPartitions(
        self, request: milvus_pb2.LoadPartitionsRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        db = db_name(request.db_name, context)
        self.engine.load_partitions(db, request.collection_name, list(request.partition_names))
        return SUCCESS

    @rpc
    def ReleasePartitions(
        self, request: milvus_pb2.ReleasePartitionsRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        db = db_name(request.db_name, context)
        self.engine.release_partitions(db, request.collection_name, list(request.partition_names))
        return SUCCESS
