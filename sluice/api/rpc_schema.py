"""Schema and property changes: AlterCollection, AlterCollectionField, AddCollectionField,
AlterCollectionSchema.

pymilvus 3.0's ``add_collection_field`` sends AlterCollectionSchema (an
``add_request`` carrying one field) and only falls back to AddCollectionField
when told the operation is unsupported; both add the field here.  Adding
functions (BM25 and the like) and dropping fields are refused by name.
"""

from __future__ import annotations

import grpc
from pymilvus.grpc_gen import common_pb2, milvus_pb2, schema_pb2

from sluice.api.base import db_name, rpc
from sluice.api.convert_request import key_values
from sluice.api.convert_schema import field_from_proto
from sluice.api.status import SUCCESS
from sluice.engine import Engine
from sluice.errors import ParameterInvalid


class SchemaRpcs:
    engine: Engine

    @rpc
    def AlterCollection(
        self, request: milvus_pb2.AlterCollectionRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        self.engine.alter_collection(
            db_name(request.db_name, context),
            request.collection_name,
            key_values(request.properties),
            list(request.delete_keys),
        )
        return SUCCESS

    @rpc
    def AlterCollectionField(
        self, request: milvus_pb2.AlterCollectionFieldRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        self.engine.alter_collection_field(
            db_name(request.db_name, context),
            request.collection_name,
            request.field_name,
            key_values(request.properties),
            list(request.delete_keys),
        )
        return SUCCESS

    @rpc
    def AddCollectionField(
        self, request: milvus_pb2.AddCollectionFieldRequest, context: grpc.ServicerContext
    ) -> common_pb2.Status:
        proto = schema_pb2.FieldSchema()
        try:
            proto.ParseFromString(request.schema)
        except Exception:
            raise ParameterInvalid.msg("failed to unmarshal field schema") from None
        self.engine.add_collection_field(
            db_name(request.db_name, context), request.collection_name, field_from_proto(proto)
        )
        return SUCCESS

    @rpc
    def AlterCollectionSchema(
        self, request: milvus_pb2.AlterCollectionSchemaRequest, context: grpc.ServicerContext
    ) -> milvus_pb2.AlterCollectionSchemaResponse:
        action = request.action
        kind = action.WhichOneof("op") if request.HasField("action") else None
        if kind is None:
            raise ParameterInvalid.msg("action is nil in alter schema task")
        if kind != "add_request":
            raise ParameterInvalid.msg(
                "drop_request is not supported by Sluice: only adding fields is supported"
            )
        add = action.add_request
        if len(add.func_schema):
            raise ParameterInvalid.msg(
                "adding a function is not supported by Sluice: only adding fields is supported"
            )
        if not len(add.field_infos):
            raise ParameterInvalid.msg("fieldInfos is empty, function output fields are required")
        if len(add.field_infos) != 1:
            raise ParameterInvalid.msg(
                "For now, only one field info is supported in alter schema task"
            )
        field = field_from_proto(add.field_infos[0].field_schema)
        self.engine.add_collection_field(
            db_name(request.db_name, context), request.collection_name, field
        )
        return milvus_pb2.AlterCollectionSchemaResponse(alter_status=SUCCESS)
