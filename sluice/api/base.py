"""What every RPC handler shares: error translation, database resolution, logging.

``@rpc`` wraps a handler so that a :class:`~sluice.errors.SluiceError` (or any
unexpected exception) becomes the handler's own response type with a filled
``status`` — Milvus answers failures in-band, never as gRPC errors, and
pymilvus retries gRPC errors it should not retry.  An ``OSError`` that
escapes the engine is the data folder refusing a write (full, read-only,
failing disk): it is answered as a :class:`~sluice.errors.StorageWriteError`
naming the file, and logged without a traceback.  What a client sent is
logged escaped (:mod:`sluice.api.logsafe`), so it cannot forge log lines.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from time import perf_counter
from typing import Any, TypeVar

import grpc
from google.protobuf import message_factory
from google.protobuf.message import Message
from pymilvus.grpc_gen import common_pb2, milvus_pb2

from sluice.api.logsafe import escape_control
from sluice.api.status import error_status
from sluice.engine import DEFAULT_DB
from sluice.errors import SluiceError, StorageWriteError
from sluice.telemetry import RPC_LATENCY

log = logging.getLogger("sluice.api")

SERVICE = milvus_pb2.DESCRIPTOR.services_by_name["MilvusService"]

Handler = TypeVar("Handler", bound=Callable[..., Any])


def response_class(method_name: str) -> type[Message]:
    descriptor = SERVICE.methods_by_name[method_name].output_type
    return message_factory.GetMessageClass(descriptor)


def status_field(method_name: str) -> str | None:
    """The name of the ``common.Status`` field of a response type (``None``: it has none).

    Most responses call it ``status``; AlterCollectionSchema's calls it
    ``alter_status``; a few (Dummy, GetReplicateInfo) have none at all.
    """
    descriptor = SERVICE.methods_by_name[method_name].output_type
    for fld in descriptor.fields:
        if fld.message_type is common_pb2.Status.DESCRIPTOR:
            return str(fld.name)
    return None


def error_response(method_name: str, err: SluiceError) -> Message:
    """``err`` in the response type of ``method_name`` (see :func:`status_field`)."""
    status = error_status(err)
    cls = response_class(method_name)
    if cls is common_pb2.Status:
        return status
    name = status_field(method_name)
    if name is None:
        raise NoStatusField(err)
    return cls(**{name: status})


class NoStatusField(Exception):
    """A response type that cannot carry a status: the error must travel as a gRPC status."""

    def __init__(self, err: SluiceError) -> None:
        super().__init__(err.message)
        self.error = err


def metadata(context: grpc.ServicerContext, key: str) -> str:
    for k, v in context.invocation_metadata() or ():
        if k == key:
            return str(v)
    return ""


def db_name(request_db: str, context: grpc.ServicerContext) -> str:
    """``db_name`` from the request, else the ``dbname`` header, else ``default``."""
    return request_db or metadata(context, "dbname") or DEFAULT_DB


def remaining_seconds(context: grpc.ServicerContext, default: float) -> float:
    """How long a handler may block without outliving the client's deadline."""
    left = context.time_remaining()
    if left is None:
        return default
    return max(0.0, min(default, left - 0.05))


def _request_id(context: grpc.ServicerContext) -> str:
    return escape_control(metadata(context, "client-request-id"))


def _safe(err: SluiceError) -> str:
    return escape_control(err.message)


def rpc(handler: Handler) -> Handler:
    """Answer errors in-band, and count the call and its latency by status code."""
    name = handler.__name__
    ok = (name, "0")
    observe = RPC_LATENCY.observe

    @functools.wraps(handler)
    def wrapper(self: Any, request: Message, context: grpc.ServicerContext) -> Message:
        started = perf_counter()
        try:
            response: Message = handler(self, request, context)
            observe(ok, perf_counter() - started)
            return response
        except SluiceError as err:
            log.info("%s failed (request %s): %s", name, _request_id(context), _safe(err))
            failed: SluiceError = err
        except OSError as exc:
            failed = StorageWriteError.from_os_error(exc)
            log.warning("%s failed (request %s): %s", name, _request_id(context), _safe(failed))
        except Exception as exc:
            log.exception("%s crashed (request %s)", name, _request_id(context))
            failed = SluiceError(f"unexpected error: {exc}")
        observe((name, str(failed.code)), perf_counter() - started)
        return _answer(name, failed, context)

    return wrapper  # type: ignore[return-value]


def _answer(name: str, err: SluiceError, context: grpc.ServicerContext) -> Message:
    try:
        return error_response(name, err)
    except NoStatusField:
        # Only Dummy and GetReplicateInfo lack a status field, and they do not fail this way;
        # should one ever, the gRPC status is the only place left for the error.
        context.abort(grpc.StatusCode.INTERNAL, err.message)
        raise
