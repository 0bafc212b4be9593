"""``common.Status`` messages from Sluice errors: the one place codes reach the wire."""

from __future__ import annotations

from pymilvus.grpc_gen import common_pb2

from sluice.errors import SluiceError

SUCCESS = common_pb2.Status()


def error_status(err: SluiceError) -> common_pb2.Status:
    status = common_pb2.Status(
        code=err.code,
        error_code=err.legacy_code,
        reason=err.message,
        detail=err.message,
        retriable=err.retriable,
    )
    if err.input_error:
        status.extra_info["is_input_error"] = "true"
    return status
