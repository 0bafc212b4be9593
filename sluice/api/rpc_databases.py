"""Database RPCs: CreateDatabase, DropDatabase, ListDatabases, DescribeDatabase, AlterDatabase.

Creating, dropping and altering a database name it in ``db_name``; describing
one falls back to the connection's database (the ``dbname`` header) when the
request leaves it empty.
"""

from __future__ import annotations

import grpc
from pymilvus.grpc_gen import common_pb2, milvus_pb2

from sluice.api.access import current_user
from sluice.api.base import db_name, rpc
from sluice.api.convert_request import key_values
from sluice.api.status import SUCCESS
from sluice.engine import Engine


def _pairs(values: dict[str, str]) -> list[common_pb2.KeyValuePair]:
    return [common_pb2.KeyValuePair(key=k, value=v) for k, v in values.items()]


class DatabaseRpcs:
    engine: Engine

    @rpc
    def CreateDatabase(
        self, request: milvus_pb2.CreateDatabaseRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        self.engine.create_database(request.db_name, key_values(request.properties))
        return SUCCESS

    @rpc
    def DropDatabase(
        self, request: milvus_pb2.DropDatabaseRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        self.engine.drop_database(request.db_name)
        return SUCCESS

    @rpc
    def ListDatabases(
        self, request: milvus_pb2.ListDatabasesRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.ListDatabasesResponse:
        databases = self.engine.databases()
        user = current_user()
        if user is not None:
            visible = set(self.engine.access.visible_databases(user, [d.name for d in databases]))
            databases = [d for d in databases if d.name in visible]
        return milvus_pb2.ListDatabasesResponse(
            status=SUCCESS,
            db_names=[d.name for d in databases],
            db_ids=[d.id for d in databases],
            created_timestamp=[d.created_ts for d in databases],
        )

    @rpc
    def DescribeDatabase(
        self, request: milvus_pb2.DescribeDatabaseRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.DescribeDatabaseResponse:
        info = self.engine.describe_database(db_name(request.db_name, context))
        return milvus_pb2.DescribeDatabaseResponse(
            status=SUCCESS,
            db_name=info.name,
            dbID=info.id,
            created_timestamp=info.created_ts,
            properties=_pairs(dict(info.properties)),
        )

    @rpc
    def AlterDatabase(
        self, request: milvus_pb2.AlterDatabaseRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        self.engine.alter_database(
            request.db_name, key_values(request.properties), list(request.delete_keys)
        )
        return SUCCESS
