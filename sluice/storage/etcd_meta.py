"""The metadata store on etcd: one etcd transaction per commit.

Keys under ``<root>``::

    <root>/kv/<key>              a tagged value: 0x00 + the value itself, or
                                 0x01 + a pointer to a blob (id, chunk count, length)
    <root>/blob/<id>/<chunk>     the chunks of a value too large to go inline

etcd refuses requests over ``--max-request-bytes`` (1.5 MiB by default) and
transactions over ``--max-txn-ops`` operations (128).  Values larger than
:data:`INLINE_BYTES`, and the largest values of a commit whose inline total
would pass :data:`TXN_BYTES`, are written first as blobs of
:data:`CHUNK_BYTES` chunks under a fresh id; the commit's transaction then
writes only small pointers.  A blob no committed key points at is invisible,
so a crash between the two steps leaves garbage, never a half-applied commit;
the next open sweeps it.  A commit with more puts and deletes than
``max_txn_ops`` is refused with an error naming the limit.

Fencing: given a :class:`WriterGuard` (the key this node created under its
writer lease, and that key's create revision), every commit's transaction
compares the guard key's create revision first.  Once the lease is gone the
key is deleted or re-created by another node, the comparison fails and the
commit raises :class:`~sluice.errors.WriterFencedError` without changing
anything.

Every call returns or raises within ``timeout`` seconds: a service that is
down or unreachable surfaces as :class:`~sluice.errors.StorageUnavailable`
naming etcd and the endpoint.  A commit that timed out may or may not have
been applied (as with any remote write); applying the same commit again is
harmless.
"""

from __future__ import annotations

import logging
import struct
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import aetcd
import aetcd.rpc as rpc

from sluice.errors import StorageError, StorageUnavailable, WriterFencedError
from sluice.storage.loop_thread import LoopThread

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Values above this size are stored as blobs.
INLINE_BYTES = 256 * 1024
#: One blob chunk; one etcd put each.
CHUNK_BYTES = 512 * 1024
#: Inline bytes one commit's transaction may carry (etcd's default limit is 1.5 MiB).
TXN_BYTES = 1024 * 1024
#: etcd's default ``--max-txn-ops``.
MAX_TXN_OPS = 128
#: Keys per page when scanning.
_PAGE_KEYS = 512

_INLINE = b"\x00"
_BLOB = b"\x01"
_POINTER = struct.Struct("<16sIQ")

_CHANNEL_OPTIONS = {
    "grpc.max_receive_message_length": -1,
    "grpc.max_send_message_length": -1,
    # Reconnect quickly once etcd is back instead of gRPC's 120 s maximum back-off.
    "grpc.initial_reconnect_backoff_ms": 200,
    "grpc.min_reconnect_backoff_ms": 200,
    "grpc.max_reconnect_backoff_ms": 1000,
}
_UNAVAILABLE = {rpc.StatusCode.UNAVAILABLE, rpc.StatusCode.DEADLINE_EXCEEDED}


@dataclass(frozen=True)
class WriterGuard:
    """The writer lease's key (full etcd key) and the revision that created it."""

    key: str
    create_revision: int


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    """``host:port`` or ``http://host:port`` -> (host, port); etcd's port 2379 by default."""
    text = endpoint.split("://", 1)[-1].rstrip("/")
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return text, 2379
    return host.strip("[]"), int(port)


class EtcdConnection:
    """gRPC clients for a list of etcd endpoints on a private loop, failing over between them.

    Shared by the metadata store and the writer lease so one node keeps one
    connection.
    """

    def __init__(self, endpoints: Sequence[str], *, timeout: float = 5.0) -> None:
        if not endpoints:
            raise ValueError("at least one etcd endpoint is required")
        self.endpoints = [f"{h}:{p}" for h, p in map(parse_endpoint, endpoints)]
        self.timeout = timeout
        self._loop = LoopThread("sluice-etcd")
        self._clients = [
            aetcd.Client(h, p, timeout=None, options=dict(_CHANNEL_OPTIONS))
            for h, p in map(parse_endpoint, endpoints)
        ]
        self._current = 0
        self._lock = threading.Lock()
        self._closed = False

    @property
    def endpoint(self) -> str:
        return self.endpoints[self._current]

    def call(self, what: str, fn: Callable[[aetcd.Client], Awaitable[T]]) -> T:
        """Run ``fn(client)`` on the loop, trying each endpoint once within ``timeout``."""
        if self._closed:
            raise StorageError("etcd connection is closed")
        last: BaseException | None = None
        for _ in range(len(self._clients)):
            with self._lock:
                index = self._current
            client = self._clients[index]
            try:
                return self._loop.run(_connected(client, fn), self.timeout)
            except TimeoutError as exc:
                last = exc
            except rpc.AioRpcError as exc:
                if exc.code() not in _UNAVAILABLE:
                    raise StorageError(
                        f"etcd at {self.endpoints[index]} refused to {what}: {exc.details()}"
                    ) from exc
                last = exc
            except aetcd.exceptions.ConnectionFailedError as exc:
                last = exc
            with self._lock:
                if self._current == index:
                    self._current = (index + 1) % len(self._clients)
        why = last.details() if isinstance(last, rpc.AioRpcError) else str(last)
        raise StorageUnavailable.for_service(
            "etcd", ",".join(self.endpoints), f"cannot {what}: {why}"
        ) from last

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True

        async def close_all() -> None:
            for client in self._clients:
                await client.close()

        self._loop.stop(close_all())


async def _connected(client: aetcd.Client, fn: Callable[[aetcd.Client], Awaitable[T]]) -> T:
    await client.connect()
    return await fn(client)


class EtcdMetaStore:
    """:class:`~sluice.storage.meta_store.MetaStore` on etcd.  Thread-safe."""

    def __init__(
        self,
        connection: EtcdConnection,
        root: str,
        *,
        guard: WriterGuard | None = None,
        max_txn_ops: int = MAX_TXN_OPS,
        own_connection: bool = False,
    ) -> None:
        self._conn = connection
        self._root = root.rstrip("/")
        self._kv = f"{self._root}/kv/".encode()
        self._blobs = f"{self._root}/blob/".encode()
        self._guard = guard
        self._max_ops = max_txn_ops
        self._own = own_connection
        self._closed = False

    @classmethod
    def connect(
        cls,
        endpoints: Sequence[str],
        root: str,
        *,
        timeout: float = 5.0,
        guard: WriterGuard | None = None,
    ) -> EtcdMetaStore:
        """A store with its own connection (closed with the store)."""
        conn = EtcdConnection(endpoints, timeout=timeout)
        return cls(conn, root, guard=guard, own_connection=True)

    def set_guard(self, guard: WriterGuard | None) -> None:
        """Make every later commit conditional on ``guard`` (the writer lease's key)."""
        self._guard = guard

    # --- MetaStore --------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        def fetch(client: aetcd.Client) -> Awaitable[bytes | None]:
            return self._get(client, self._kv + key.encode())

        return self._conn.call(f"read {key!r}", fetch)

    def scan(self, prefix: str) -> dict[str, bytes]:
        def fetch(client: aetcd.Client) -> Awaitable[dict[str, bytes]]:
            return self._scan(client, self._kv + prefix.encode())

        return self._conn.call(f"scan {prefix!r}", fetch)

    def commit(self, puts: Mapping[str, bytes], deletes: Iterable[str] = ()) -> None:
        if self._closed:
            raise StorageError("metadata store is closed")
        deleted = [k for k in dict.fromkeys(deletes) if k not in puts]
        if len(puts) + len(deleted) > self._max_ops:
            raise StorageError(
                f"a metadata commit of {len(puts) + len(deleted)} keys exceeds etcd's "
                f"max-txn-ops ({self._max_ops})"
            )
        inline, blobs = _place_values(puts)
        written: list[bytes] = []
        for key, value in blobs.items():
            blob_id = uuid.uuid4().bytes
            written.append(blob_id)
            self._write_blob(blob_id, value)
            inline[key] = _BLOB + _POINTER.pack(blob_id, _chunk_count(len(value)), len(value))
        ops = [rpc.RequestOp(request_put=_put(self._kv + k.encode(), v)) for k, v in inline.items()]
        ops += [
            rpc.RequestOp(
                request_delete_range=rpc.DeleteRangeRequest(key=self._kv + k.encode(), prev_kv=True)
            )
            for k in deleted
        ]
        compare = []
        if self._guard is not None:
            compare.append(
                rpc.Compare(
                    key=self._guard.key.encode(),
                    result=rpc.Compare.EQUAL,
                    target=rpc.Compare.CREATE,
                    create_revision=self._guard.create_revision,
                )
            )
        request = rpc.TxnRequest(compare=compare, success=ops, failure=[])

        async def txn(client: aetcd.Client) -> Any:
            return await client.kvstub.Txn(request)

        response = self._conn.call("commit metadata", txn)
        if not response.succeeded:
            self._drop_blobs(written)
            raise WriterFencedError(
                f"{WriterFencedError.base_message}: metadata commit refused by etcd at "
                f"{self._conn.endpoint} (writer key {self._guard.key if self._guard else '?'})"
            )
        self._drop_blobs(_replaced_blobs(response))

    def close(self) -> None:
        self._closed = True
        if self._own:
            self._conn.close()

    # --- maintenance ---------------------------------------------------------------

    def sweep_blobs(self) -> int:
        """Delete blobs no key points at (left by a crash mid-commit); return how many."""

        async def referenced(client: aetcd.Client) -> tuple[set[bytes], set[bytes]]:
            pointers: set[bytes] = set()
            async for kv, _ in _range_pages(client, self._kv, keys_only=False):
                if kv.value[:1] == _BLOB:
                    pointers.add(_POINTER.unpack(kv.value[1:])[0].hex().encode())
            present: set[bytes] = set()
            async for kv, _ in _range_pages(client, self._blobs, keys_only=True):
                present.add(kv.key[len(self._blobs) :].split(b"/", 1)[0])
            return pointers, present

        pointers, present = self._conn.call("list blobs", referenced)
        orphans = [bytes.fromhex(b.decode()) for b in present - pointers]
        self._drop_blobs(orphans)
        return len(orphans)

    # --- internals -----------------------------------------------------------------

    async def _get(self, client: aetcd.Client, key: bytes) -> bytes | None:
        response = await client.kvstub.Range(rpc.RangeRequest(key=key))
        if not response.kvs:
            return None
        return await self._resolve(client, response.kvs[0].value, response.header.revision)

    async def _scan(self, client: aetcd.Client, prefix: bytes) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        revision = 0
        async for kv, read_at in _range_pages(client, prefix, keys_only=False):
            out[kv.key[len(self._kv) :].decode()] = kv.value
            revision = read_at
        for key, tagged in out.items():
            out[key] = await self._resolve(client, tagged, revision)
        return out

    async def _resolve(self, client: aetcd.Client, tagged: bytes, revision: int) -> bytes:
        tag, body = tagged[:1], tagged[1:]
        if tag == _INLINE:
            return bytes(body)
        if tag != _BLOB:
            raise StorageError(f"etcd metadata under {self._root!r} has an unknown value tag")
        blob_id, chunks, length = _POINTER.unpack(body)
        prefix = self._blob_prefix(blob_id)
        request = rpc.RangeRequest(key=prefix, range_end=_prefix_end(prefix), revision=revision)
        response = await client.kvstub.Range(request)
        data = b"".join(kv.value for kv in sorted(response.kvs, key=lambda kv: kv.key))
        if len(response.kvs) != chunks or len(data) != length:
            raise StorageError(
                f"etcd metadata blob {blob_id.hex()} under {self._root!r} is incomplete "
                f"({len(response.kvs)} of {chunks} chunks)"
            )
        return data

    def _blob_prefix(self, blob_id: bytes) -> bytes:
        return self._blobs + blob_id.hex().encode() + b"/"

    def _write_blob(self, blob_id: bytes, value: bytes) -> None:
        prefix = self._blob_prefix(blob_id)
        for index in range(_chunk_count(len(value))):
            chunk = value[index * CHUNK_BYTES : (index + 1) * CHUNK_BYTES]
            request = _put(prefix + b"%06d" % index, chunk)

            async def put(client: aetcd.Client, request: Any = request) -> Any:
                return await client.kvstub.Put(request)

            self._conn.call("write a metadata blob", put)

    def _drop_blobs(self, blob_ids: Iterable[bytes]) -> None:
        """Best effort: a blob left behind is swept at the next open."""
        for blob_id in blob_ids:
            prefix = self._blob_prefix(blob_id)
            request = rpc.DeleteRangeRequest(key=prefix, range_end=_prefix_end(prefix))

            async def delete(client: aetcd.Client, request: Any = request) -> Any:
                return await client.kvstub.DeleteRange(request)

            try:
                self._conn.call("delete a metadata blob", delete)
            except StorageError as exc:
                log.warning("leaving metadata blob %s for the next sweep: %s", blob_id.hex(), exc)


def _put(key: bytes, value: bytes) -> Any:
    return rpc.PutRequest(key=key, value=value, prev_kv=True)


def _chunk_count(length: int) -> int:
    return max(1, -(-length // CHUNK_BYTES))


def _place_values(puts: Mapping[str, bytes]) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Split puts into inline (tagged) values and values to store as blobs."""
    inline: dict[str, bytes] = {}
    blobs: dict[str, bytes] = {}
    for key, value in puts.items():
        data = bytes(value)
        if len(data) > INLINE_BYTES:
            blobs[key] = data
        else:
            inline[key] = data
    total = sum(len(k) + len(v) for k, v in inline.items())
    for key in sorted(inline, key=lambda k: len(inline[k]), reverse=True):
        if total <= TXN_BYTES:
            break
        total -= len(key) + len(inline[key])
        blobs[key] = inline.pop(key)
    return {k: _INLINE + v for k, v in inline.items()}, blobs


def _replaced_blobs(response: Any) -> list[bytes]:
    """Blob ids the committed transaction replaced or deleted (from the ops' previous values)."""
    old: list[bytes] = []
    for op in response.responses:
        kind = op.WhichOneof("response")
        if kind == "response_put":
            prev = [op.response_put.prev_kv] if op.response_put.HasField("prev_kv") else []
        elif kind == "response_delete_range":
            prev = list(op.response_delete_range.prev_kvs)
        else:
            prev = []
        for kv in prev:
            if kv.value[:1] == _BLOB:
                old.append(_POINTER.unpack(kv.value[1:])[0])
    return old


def _prefix_end(prefix: bytes) -> bytes:
    """The first key after every key starting with ``prefix`` (etcd's range_end)."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\x00"


async def _range_pages(
    client: aetcd.Client, prefix: bytes, *, keys_only: bool
) -> AsyncIterator[tuple[Any, int]]:
    """Every key under ``prefix`` in key order with the revision read at, a page at a time."""
    start = prefix
    end = _prefix_end(prefix)
    revision = 0
    while True:
        request = rpc.RangeRequest(
            key=start, range_end=end, limit=_PAGE_KEYS, keys_only=keys_only, revision=revision
        )
        response = await client.kvstub.Range(request)
        revision = revision or response.header.revision
        for kv in response.kvs:
            yield kv, revision
        if not response.more or not response.kvs:
            return
        start = response.kvs[-1].key + b"\x00"
