"""The MilvusService servicer: every RPC group, plus an honest answer for the rest.

RPCs Sluice does not serve answer with a Milvus status (code 10, "service
unimplemented: <RPC> is not supported by Sluice") in their own response
type — never an empty success, never a transport error that SDKs would retry.
Every one of the service's RPCs answers in its own response type; the two
whose response types carry no status (Dummy, GetReplicateInfo) are served
(see :mod:`sluice.api.rpc_admin`).  Of the streaming RPCs, DumpMessages
streams one response carrying the status; CreateReplicateStream's messages
have no status field, so it ends the stream with gRPC's ``UNIMPLEMENTED``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.protobuf.message import Message
from pymilvus.grpc_gen import milvus_pb2_grpc

from sluice.api.base import SERVICE, error_response, response_class, status_field
from sluice.api.rpc_admin import AdminRpcs
from sluice.api.rpc_aliases import AliasRpcs
from sluice.api.rpc_analyzer import AnalyzerRpcs
from sluice.api.rpc_collections import CollectionRpcs
from sluice.api.rpc_compaction import CompactionRpcs
from sluice.api.rpc_data import DataRpcs
from sluice.api.rpc_databases import DatabaseRpcs
from sluice.api.rpc_flush import FlushRpcs
from sluice.api.rpc_grants import GrantRpcs
from sluice.api.rpc_index import IndexRpcs
from sluice.api.rpc_ops import OpsRpcs
from sluice.api.rpc_partitions import PartitionRpcs
from sluice.api.rpc_read import ReadRpcs
from sluice.api.rpc_schema import SchemaRpcs
from sluice.api.rpc_users import UserRpcs
from sluice.api.status import error_status
from sluice.engine import Engine
from sluice.errors import Unimplemented


class SluiceServicer(
    AdminRpcs,
    DatabaseRpcs,
    CollectionRpcs,
    SchemaRpcs,
    PartitionRpcs,
    AliasRpcs,
    DataRpcs,
    ReadRpcs,
    IndexRpcs,
    FlushRpcs,
    CompactionRpcs,
    UserRpcs,
    GrantRpcs,
    AnalyzerRpcs,
    OpsRpcs,
    milvus_pb2_grpc.MilvusServiceServicer,
):
    def __init__(self, engine: Engine) -> None:
        AdminRpcs.__init__(self)
        self.engine = engine


_SERVED = {
    name
    for cls in SluiceServicer.__mro__
    if cls.__module__.startswith("sluice.")
    for name in vars(cls)
    if name[:1].isupper()
}


def _unsupported(name: str, client_streaming: bool, server_streaming: bool) -> Callable[..., Any]:
    def handler(self: SluiceServicer, request: Any, context: grpc.ServicerContext) -> Message:
        return error_response(name, Unimplemented.for_rpc(name))

    def stream_handler(
        self: SluiceServicer, request: Any, context: grpc.ServicerContext
    ) -> Iterator[Message]:
        err = Unimplemented.for_rpc(name)
        field = status_field(name)
        if field is None:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, err.message)
            return
        yield response_class(name)(**{field: error_status(err)})

    chosen = stream_handler if server_streaming else handler
    if client_streaming and not server_streaming:
        chosen = handler
    chosen.__name__ = name
    return chosen


for _method in SERVICE.methods:
    if _method.name not in _SERVED:
        setattr(
            SluiceServicer,
            _method.name,
            _unsupported(_method.name, _method.client_streaming, _method.server_streaming),
        )
