"""Connection, version, health, timestamp and probe RPCs."""

from __future__ import annotations

import itertools
import threading

import grpc
import orjson
from pymilvus.grpc_gen import common_pb2, milvus_pb2

from sluice import __version__
from sluice.api.base import db_name, rpc
from sluice.api.status import SUCCESS
from sluice.engine import COUNT_STAR, DEFAULT_DB, Engine
from sluice.errors import SluiceError

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
        # pymilvus connects again on use_database; Milvus answers for the database it names.
        self.engine.describe_database(db_name("", context))
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
    def Dummy(
        self, request: milvus_pb2.DummyRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.DummyResponse:
        """Milvus's probe RPC: a ``{"request_type": "query", ...}`` JSON runs a count query.

        Anything else, or a failed query, answers ``{"status": "fail"}`` as Milvus does;
        DummyResponse has no status field, so that text is the whole answer.
        """
        try:
            probe = orjson.loads(request.request_type or "{}")
        except orjson.JSONDecodeError:
            return milvus_pb2.DummyResponse(response=_DUMMY_FAIL)
        if not isinstance(probe, dict) or probe.get("request_type") != "query":
            return milvus_pb2.DummyResponse(response=_DUMMY_FAIL)
        try:
            self.engine.query(
                str(probe.get("dbname") or DEFAULT_DB),
                str(probe.get("collection_name") or ""),
                "",
                [COUNT_STAR],
                partition_names=[str(p) for p in probe.get("partition_names") or []],
            )
        except SluiceError:
            return milvus_pb2.DummyResponse(response=_DUMMY_FAIL)
        return milvus_pb2.DummyResponse(response='{"status": "success"}')

    @rpc
    def GetReplicateInfo(
        self, request: milvus_pb2.GetReplicateInfoRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.GetReplicateInfoResponse:
        """Sluice replicates to no other cluster, so there is no checkpoint to report.

        The response type has no status field: an empty one is the answer.
        """
        return milvus_pb2.GetReplicateInfoResponse()


_DUMMY_FAIL = '{"status": "fail"}'
