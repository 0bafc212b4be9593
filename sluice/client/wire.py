"""Remote mode, the raw half: Flush, flush state and segment RPCs on a plain gRPC stub.

pymilvus's ``MilvusClient.flush`` blocks until persisted and throws the
``FlushResponse`` away; a :class:`~sluice.client.flush_task.FlushTask` needs
every field of it (sealed and already-flushed segment IDs, ``flush_ts``,
channel checkpoints, seal time).  So these RPCs go through
``MilvusServiceStub`` on a channel of our own, sending what pymilvus sends:
the database in the ``dbname`` metadata header (requests leave ``db_name``
empty), the token base64-encoded in ``authorization``.

Failures become the :class:`~sluice.errors.SluiceError` subclass the embedded
engine would have raised: a failed ``common.Status`` by its ``code``
(:func:`sluice.client.errors.error_from_status`), a transport error by its
gRPC status.  pymilvus exceptions from the ``MilvusClient`` half
(:mod:`sluice.client.remote`) are translated here too, so the rules live in
one module.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
from pymilvus import exceptions as milvus_errors
from pymilvus.grpc_gen import common_pb2, milvus_pb2, milvus_pb2_grpc

from sluice.client.base import PersistentSegment
from sluice.client.connection import Endpoint
from sluice.client.convert import segment_level_name, segment_state_name
from sluice.client.errors import UNEXPECTED_CODE, classes_by_code, error_from_status
from sluice.client.flush_task import Checkpoint, FlushAllTask, FlushTask
from sluice.errors import (
    LegacyCode,
    ParameterInvalid,
    ServiceUnavailable,
    SluiceError,
    legacy_code_for,
)

#: Shortest deadline given to a flush-state poll, so a nearly spent budget still gets an answer.
_MIN_POLL_DEADLINE = 0.2


# --- error translation ----------------------------------------------------------------


@functools.cache
def _codes_by_legacy() -> dict[int, int]:
    """Old servers fill only the legacy ``error_code``: map it back to a ``code``."""
    table: dict[int, int] = {}
    for code in classes_by_code():
        legacy = legacy_code_for(code)
        if legacy not in (LegacyCode.SUCCESS, LegacyCode.UNEXPECTED_ERROR):
            table.setdefault(legacy, code)
    return table


def check_status(status: common_pb2.Status) -> None:
    """Raise the matching :class:`SluiceError` for a failed status; return for success."""
    if status.code == 0 and status.error_code == 0:
        return
    code = status.code or _codes_by_legacy().get(status.error_code, UNEXPECTED_CODE)
    raise error_from_status(
        code, status.reason, input_error=status.extra_info.get("is_input_error") == "true"
    )


#: pymilvus raises these itself, before sending anything: the caller's input is wrong.
_CLIENT_SIDE = (
    milvus_errors.ParamError,
    milvus_errors.DataTypeNotMatchException,
    milvus_errors.DataNotMatchException,
    milvus_errors.DataTypeNotSupportException,
    milvus_errors.PrimaryKeyException,
    milvus_errors.PartitionKeyException,
    milvus_errors.ClusteringKeyException,
    milvus_errors.FieldsTypeException,
    milvus_errors.FieldTypeException,
    milvus_errors.AutoIDException,
    milvus_errors.SchemaNotReadyException,
    milvus_errors.CannotInferSchemaException,
    milvus_errors.InvalidConsistencyLevel,
    milvus_errors.AmbiguousIndexName,
)


def from_milvus_exception(exc: milvus_errors.MilvusException) -> SluiceError:
    if isinstance(exc, _CLIENT_SIDE):
        return ParameterInvalid.msg(exc.message)
    if exc.code == 1 and exc.compatible_code != LegacyCode.NOT_READY_SERVE:
        # pymilvus's own "unexpected error" (code 1), not the server's ServiceNotReady.
        return SluiceError(exc.message)
    return error_from_status(exc.code, exc.message, input_error=exc.is_input_error)


def from_rpc_error(exc: grpc.RpcError) -> SluiceError:
    code = exc.code() if isinstance(exc, grpc.Call) else None
    details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
    if code == grpc.StatusCode.UNAVAILABLE:
        return ServiceUnavailable(f"{ServiceUnavailable.base_message}: {details}")
    return SluiceError(f"rpc failed ({code.name if code else 'unknown'}): {details}")


@contextmanager
def translated() -> Iterator[None]:
    """Re-raise pymilvus and gRPC failures as :class:`SluiceError` subclasses."""
    try:
        yield
    except milvus_errors.MilvusException as exc:
        raise from_milvus_exception(exc) from exc
    except grpc.RpcError as exc:
        raise from_rpc_error(exc) from exc


# --- the stub -------------------------------------------------------------------------


class FlushRpcs:
    """Flush, GetFlushState, FlushAll, GetFlushAllState and GetPersistentSegmentInfo."""

    def __init__(self, endpoint: Endpoint, *, db_name: str, token: str | None) -> None:
        if endpoint.secure:
            self._channel = grpc.secure_channel(endpoint.address, grpc.ssl_channel_credentials())
        else:
            self._channel = grpc.insecure_channel(endpoint.address)
        self._stub = milvus_pb2_grpc.MilvusServiceStub(self._channel)
        self._token = token
        self.db_name = db_name

    @property
    def _metadata(self) -> tuple[tuple[str, str], ...]:
        """The headers pymilvus sends: the connection's database, and the token."""
        metadata = [("dbname", self.db_name)]
        if self._token:
            metadata.append(("authorization", base64.b64encode(self._token.encode()).decode()))
        return tuple(metadata)

    def close(self) -> None:
        self._channel.close()

    def flush(self, name: str) -> FlushTask:
        with translated():
            response = self._stub.Flush(
                milvus_pb2.FlushRequest(collection_names=[name]), metadata=self._metadata
            )
        check_status(response.status)
        segment_ids = list(response.coll_segIDs[name].data)
        flush_ts = int(response.coll_flush_ts[name])

        def poll(budget: float | None) -> bool:
            return self.flush_state(name, segment_ids, flush_ts, budget)

        return FlushTask(
            collection_name=name,
            segment_ids=segment_ids,
            flushed_segment_ids=list(response.flush_coll_segIDs[name].data),
            flush_ts=flush_ts,
            checkpoints={
                channel: Checkpoint(pos.channel_name, bytes(pos.msgID), int(pos.timestamp))
                for channel, pos in response.channel_cps.items()
            },
            seal_time=int(response.coll_seal_times[name]),
            poll=poll,
        )

    def flush_state(
        self, name: str, segment_ids: list[int], flush_ts: int, budget: float | None
    ) -> bool:
        request = milvus_pb2.GetFlushStateRequest(
            segmentIDs=segment_ids, flush_ts=flush_ts, collection_name=name
        )
        return self._poll(self._stub.GetFlushState, request, budget)

    def flush_all(self) -> FlushAllTask:
        with translated():
            response = self._stub.FlushAll(milvus_pb2.FlushAllRequest(), metadata=self._metadata)
        check_status(response.status)
        flush_all_ts = int(response.flush_all_ts)

        def poll(budget: float | None) -> bool:
            request = milvus_pb2.GetFlushAllStateRequest(flush_all_ts=flush_all_ts)
            return self._poll(self._stub.GetFlushAllState, request, budget)

        return FlushAllTask(
            flush_all_ts=flush_all_ts,
            pchannels=list(response.cluster_info.pchannels),
            poll=poll,
        )

    def _poll(
        self, method: grpc.UnaryUnaryMultiCallable, request: object, budget: float | None
    ) -> bool:
        """One state RPC whose deadline is the caller's remaining budget.

        The server may hold a state request open briefly before answering
        "not yet"; bounding the deadline keeps it from holding the caller past
        its timeout.  A deadline hit counts as "not yet" so the task reports a
        timeout, not a transport error.
        """
        timeout = None if budget is None else max(budget, _MIN_POLL_DEADLINE)
        try:
            response = method(request, metadata=self._metadata, timeout=timeout)
        except grpc.RpcError as exc:
            if isinstance(exc, grpc.Call) and exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                return False
            raise from_rpc_error(exc) from exc
        check_status(response.status)
        return bool(response.flushed)

    def persistent_segments(self, name: str) -> list[PersistentSegment]:
        with translated():
            response = self._stub.GetPersistentSegmentInfo(
                milvus_pb2.GetPersistentSegmentInfoRequest(collectionName=name),
                metadata=self._metadata,
            )
        check_status(response.status)
        return [
            PersistentSegment(
                segment_id=info.segmentID,
                collection_id=info.collectionID,
                partition_id=info.partitionID,
                num_rows=info.num_rows,
                state=segment_state_name(info.state),
                level=segment_level_name(info.level),
                channel=info.insert_channel,
            )
            for info in response.infos
        ]
