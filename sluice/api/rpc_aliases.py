"""Alias RPCs: CreateAlias, AlterAlias, DropAlias, DescribeAlias, ListAliases."""

from __future__ import annotations

import grpc
from pymilvus.grpc_gen import common_pb2, milvus_pb2

from sluice.api.base import db_name, rpc
from sluice.api.status import SUCCESS
from sluice.engine import Engine


class AliasRpcs:
    engine: Engine

    @rpc
    def CreateAlias(
        self, request: milvus_pb2.CreateAliasRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        db = db_name(request.db_name, context)
        self.engine.create_alias(db, request.collection_name, request.alias)
        return SUCCESS

    @rpc
    def AlterAlias(
        self, request: milvus_pb2.AlterAliasRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        db = db_name(request.db_name, context)
        self.engine.alter_alias(db, request.collection_name, request.alias)
        return SUCCESS

    @rpc
    def DropAlias(
        self, request: milvus_pb2.DropAliasRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        self.engine.drop_alias(db_name(request.db_name, context), request.alias)
        return SUCCESS

    @rpc
    def DescribeAlias(
        self, request: milvus_pb2.DescribeAliasRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.DescribeAliasResponse:
        info = self.engine.describe_alias(db_name(request.db_name, context), request.alias)
        return milvus_pb2.DescribeAliasResponse(
            status=SUCCESS, db_name=info.db, alias=info.alias, collection=info.collection
        )

    @rpc
    def ListAliases(
        self, request: milvus_pb2.ListAliasesRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.ListAliasesResponse:
        db = db_name(request.db_name, context)
        aliases = self.engine.list_aliases(db, request.collection_name)
        return milvus_pb2.ListAliasesResponse(
            status=SUCCESS, db_name=db, collection_name=request.collection_name, aliases=aliases
        )
