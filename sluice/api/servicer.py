"""The MilvusService servicer: every RPC group, plus an honest answer for the rest.

RPCs Sluice does not serve answer with a Milvus status (code 10, "service
unimplemented: <RPC> is not supported by Sluice") in their own response
type — never an empty success, never a transport error that SDKs would retry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.message import Message
from pymilvus.grpc_gen import milvus_pb2_grpc

from sluice.api.base import SERVICE, NoStatusField, error_response
from sluice.api.rpc_admin import AdminRpcs
from sluice.api.rpc_analyzer import AnalyzerRpcs
from sluice.api.rpc_collections import CollectionRpcs
from sluice.api.rpc_data import DataRpcs
from sluice.api.rpc_flush import FlushRpcs
from sluice.api.rpc_grants import GrantRpcs
from sluice.api.rpc_index import IndexRpcs
from sluice.api.rpc_ops import OpsRpcs
from sluice.api.rpc_read import ReadRpcs
from sluice.api.rpc_users import UserRpcs
from sluice.engine import Engine
from sluice.errors import Unimplemented


class SluiceServicer(
    AdminRpcs,
    CollectionRpcs,
    DataRpcs,
    ReadRpcs,
    IndexRpcs,
    FlushRpcs,
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


def _unsupported(name: str, streaming: bool) -> Callable[..., Any]:
    def handler(self: SluiceServicer, request: Any, context: grpc.ServicerContext) -> Message:
        try:
            return error_response(name, Unimplemented.for_rpc(name))
        except NoStatusField as missing:
            # Dummy, GetReplicateInfo: no status field, so the gRPC status says it (as Milvus's does).
            context.abort(grpc.StatusCode.UNIMPLEMENTED, missing.error.message)
            raise

    def stream_handler(self: SluiceServicer, request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, Unimplemented.for_rpc(name).message)

    chosen = stream_handler if streaming else handler
    chosen.__name__ = name
    return chosen


for _method in SERVICE.methods:
    if _method.name not in _SERVED:
        streaming = _method.client_streaming or _method.server_streaming
        setattr(SluiceServicer, _method.name, _unsupported(_method.name, streaming))
