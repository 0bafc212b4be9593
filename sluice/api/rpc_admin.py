"""Connection, version, health and timestamp RPCs."""

from __future__ import annotations

import itertools
import threading

import grpc
from pymilvus.grpc_gen import common_pb2, milvus_pb2

from sluice import __version__
from sluice.api.base import db_name, rpc
from sluice.api.status import SUCCESS
from sluice.engine import Engine

#: The Milvus release whose API Sluice serves; SDKs gate features on it.
MILVUS_API_VERSION = "v2.6.0"


class AdminRpcs:
    engine: Engine

    def __init__(self) -> None:
        self._identifiers = itertools.count(1)
        self._identifier_lock = threading.Lock()

    @rpc
    def Connect(
        self, request: milvus_pb2.ConnectRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.ConnectResponse:
        with self._identifier_lock:
            identifier = next(self._identifiers)
        info = common_pb2.ServerInfo(
            build_tags=f"sluice-{__version__}",
            deploy_mode="STANDALONE",
            reserved={"server": "sluice", "sluice_version": __version__},
        )
        return milvus_pb2.ConnectResponse(status=SUCCESS, server_info=info, identifier=identifier)

    @rpc
    def GetVersion(
        self, request: milvus_pb2.GetVersionRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.GetVersionResponse:
        return milvus_pb2.GetVersionResponse(status=SUCCESS, version=MILVUS_API_VERSION)

    @rpc
    def CheckHealth(
        self, request: milvus_pb2.CheckHealthRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.CheckHealthResponse:
        return milvus_pb2.CheckHealthResponse(status=SUCCESS, isHealthy=True)

    @rpc
    def AllocTimestamp(
        self, request: milvus_pb2.AllocTimestampRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.AllocTimestampResponse:
        return milvus_pb2.AllocTimestampResponse(
            status=SUCCESS, timestamp=self.engine.alloc_timestamp()
        )

    @rpc
    def ListDatabases(
        self, request: milvus_pb2.ListDatabasesRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.ListDatabasesResponse:
        names = self.engine.list_databases()
        return milvus_pb2.ListDatabasesResponse(status=SUCCESS, db_names=names)

    @rpc
    def DescribeDatabase(
        self, request: milvus_pb2.DescribeDatabaseRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.DescribeDatabaseResponse:
        name = db_name(request.db_name, context)
        self.engine.list_collections(name)
        return milvus_pb2.DescribeDatabaseResponse(status=SUCCESS, db_name=name, dbID=1)
