"""The log store on NATS JetStream: one stream (and one subject) per channel.

Stream ``<prefix>_<channel>`` holds subject ``<prefix>.<channel>`` (the channel
name escaped to NATS's allowed characters), file storage.  A record's offset
is the stream sequence number of its first message (``nats_frames``), so a
checkpoint's position is a JetStream sequence and replay starts there.

Publishing is pipelined: :meth:`NatsChannelLog.append` hands the message to a
writer task on the store's private event loop and returns at once;
:meth:`NatsChannelLog.sync` waits for JetStream's acknowledgements, so many
appends share the round trip.  Offsets are handed out before the server
assigns them; every message carries ``Nats-Expected-Last-Sequence`` so the
server stores it only at the sequence it was given, and never out of order.

A record, once appended, is never given up: if a publish fails (the server is
down, an acknowledgement times out) the log stops publishing, and as soon as
the service answers it reads the stream's last sequence, keeps the messages
that did arrive (recognised by content) and publishes the rest again, in
order.  Meanwhile :meth:`append` refuses new records at once and
:meth:`sync` raises :class:`~sluice.errors.StorageUnavailable` within the
timeout.  So a write that was reported as failed may still be applied once
the service is back (as with any remote write whose answer was lost), but the
stream never holds a record in part and never a hole, and what this node
holds in memory is what the stream will hold.  Replay returns whole records.

Fencing: given ``fence`` (the writer lease's check), the log refuses to publish
or acknowledge once the lease may be lost, and a stream that holds sequences
it did not hand out (another node wrote) stops the log with
:class:`~sluice.errors.WriterFencedError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.js import api

from sluice.errors import StorageError, StorageUnavailable, WriterFencedError
from sluice.storage import nats_frames
from sluice.storage.loop_thread import LoopThread
from sluice.storage.nats_frames import decode_channel, encode_channel
from sluice.storage.wal import Record

log = logging.getLogger(__name__)

#: Anything exporting the buffer protocol (bytes, memoryview, pyarrow.Buffer).
Buffer = Any

_PREFIX = re.compile(r"^[A-Za-z0-9_-]+$")
#: Room left in a message for the frame header, NATS headers and the subject.
_MESSAGE_OVERHEAD = 1024
_REPLAY_BATCH = 256
_EXPECTED_LAST = "Nats-Expected-Last-Sequence"


class NatsLogStore:
    """:class:`~sluice.storage.log_store.LogStore` on JetStream.  One connection per store."""

    def __init__(
        self,
        servers: Sequence[str],
        stream_prefix: str = "sluice",
        *,
        timeout: float = 5.0,
        replicas: int = 1,
        fence: Callable[[], None] | None = None,
    ) -> None:
        if not _PREFIX.match(stream_prefix):
            raise ValueError(
                f"stream_prefix {stream_prefix!r} may hold only letters, digits, '-' and '_'"
            )
        self.servers = list(servers)
        self.endpoint = ",".join(self.servers)
        self.prefix = stream_prefix
        self.timeout = timeout
        self.replicas = replicas
        self.fence = fence
        self.loop = LoopThread("sluice-nats")
        self._logs: dict[int, NatsChannelLog] = {}
        self._next_id = 0
        self._lock = threading.Lock()
        self.nc: Any = None
        self.js: Any = None
        self.inbox = ""
        try:
            self.call("connect", self._connect())
        except BaseException:
            self.loop.stop()
            raise

    async def _connect(self) -> None:
        self.nc = await nats.connect(
            servers=self.servers,
            name="sluice",
            connect_timeout=max(1, int(self.timeout)),
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.25,
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnect,
            reconnected_cb=self._on_reconnect,
        )
        self.js = self.nc.jetstream(timeout=self.timeout)
        self.inbox = self.nc.new_inbox()
        await self.nc.subscribe(f"{self.inbox}.>", cb=self._on_ack)

    async def _on_error(self, exc: Exception) -> None:
        log.debug("NATS at %s: %s", self.endpoint, exc)

    async def _on_disconnect(self) -> None:
        if self.nc is None or self.nc.is_closed:
            return
        log.warning("lost the connection to NATS at %s; reconnecting", self.endpoint)

    async def _on_reconnect(self) -> None:
        log.warning("reconnected to NATS at %s", self.endpoint)

    async def _on_ack(self, msg: Any) -> None:
        _, log_id, attempt, seq = msg.subject.rsplit(".", 3)
        target = self._logs.get(int(log_id))
        if target is not None:
            target.on_ack(attempt, int(seq), msg.data)

    def call(self, what: str, coro: Any, timeout: float | None = None) -> Any:
        """Run ``coro`` on the loop within the timeout; name NATS and the endpoint on failure."""
        try:
            return self.loop.run(coro, timeout or self.timeout)
        except nats.js.errors.NotFoundError:
            raise
        except nats.js.errors.APIError as exc:
            raise StorageError(
                f"NATS JetStream at {self.endpoint} refused to {what}: {exc}"
            ) from exc
        except (TimeoutError, nats.errors.Error, OSError) as exc:
            raise StorageUnavailable.for_service(
                "NATS JetStream", self.endpoint, f"cannot {what}: {exc or type(exc).__name__}"
            ) from exc

    def stream(self, channel: str) -> tuple[str, str]:
        token = encode_channel(channel)
        return f"{self.prefix}_{token}", f"{self.prefix}.{token}"

    # --- LogStore -------------------------------------------------------------------

    def open(self, channel: str, *, start_offset: int = 0) -> NatsChannelLog:
        """The channel's stream, created if new; a new stream starts at ``start_offset``.

        Offsets are stream sequences; a stream re-created after its records were
        all persisted must keep them growing, so a new stream is purged up to
        ``start_offset``, which moves its first sequence there.
        """
        name, subject = self.stream(channel)
        config = api.StreamConfig(
            name=name,
            subjects=[subject],
            storage=api.StorageType.FILE,
            retention=api.RetentionPolicy.LIMITS,
            num_replicas=self.replicas,
            allow_direct=True,
            duplicate_window=0,
        )

        async def ensure() -> Any:
            try:
                return await self.js.stream_info(name)
            except nats.js.errors.NotFoundError:
                info = await self.js.add_stream(config)
                if start_offset > 1:
                    await self.js.purge_stream(name, seq=start_offset)
                    info = await self.js.stream_info(name)
                return info

        info = self.call(f"open stream {name}", ensure())
        with self._lock:
            log_id = self._next_id
            self._next_id += 1
            channel_log = NatsChannelLog(self, log_id, channel, name, subject, info.state)
            self._logs[log_id] = channel_log
        return channel_log

    def drop(self, channel: str) -> None:
        name, _ = self.stream(channel)

        async def delete() -> None:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await self.js.delete_stream(name)

        self.call(f"delete stream {name}", delete())

    def channels(self) -> list[str]:
        async def names() -> list[str]:
            found = []
            offset = 0
            while True:
                page = await self.js.streams_info(offset=offset)
                for info in page:
                    subjects = info.config.subjects or []
                    if len(subjects) == 1 and subjects[0].startswith(f"{self.prefix}."):
                        found.append(subjects[0][len(self.prefix) + 1 :])
                if len(page) == 0:
                    return found
                offset += len(page)

        tokens = self.call("list streams", names())
        decoded = [decode_channel(t) for t in tokens if "." not in t]
        return sorted(c for c in decoded if c is not None)

    def forget(self, log_id: int) -> None:
        with self._lock:
            self._logs.pop(log_id, None)

    def close(self) -> None:
        for channel_log in list(self._logs.values()):
            channel_log.close()

        async def drain() -> None:
            if self.nc is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.nc.close(), self.timeout)

        self.loop.stop(drain())


class _Pending:
    __slots__ = ("end", "frames", "left", "sent_at", "seq")

    def __init__(self, seq: int, frames: list[bytes]) -> None:
        self.seq = seq
        self.end = seq + len(frames)
        self.frames = frames
        #: Sequences of this record not yet known to be stored.
        self.left = set(range(seq, self.end))
        self.sent_at = 0.0


class NatsChannelLog:
    """One channel's log on its JetStream stream.  Thread-safe."""

    def __init__(
        self, store: NatsLogStore, log_id: int, channel: str, stream: str, subject: str, state: Any
    ) -> None:
        self._store = store
        self._id = log_id
        self.channel = channel
        self.stream = stream
        self.subject = subject
        max_payload = int(getattr(store.nc, "max_payload", 1 << 20))
        self._chunk = max(4096, max_payload - _MESSAGE_OVERHEAD)
        self._cond = threading.Condition()
        self._next = int(state.last_seq) + 1
        self._queue: list[_Pending] = []
        #: Records handed out and not yet stored, in sequence order (loop thread writes).
        self._unstored: OrderedDict[int, _Pending] = OrderedDict()
        #: Every record ending at or before this is stored in the stream.
        self._stored = self._next
        #: Why publishing stopped (the log republishes from the first unstored record).
        self._broken: BaseException | None = None
        #: Set when republishing found the service unreachable: waiting syncs give up.
        self._unreachable: BaseException | None = None
        self._fatal: BaseException | None = None
        #: Acknowledgements of older attempts are ignored after a republish.
        self._attempt = 0
        self._closed = False
        self._wake = asyncio.Event()
        self._writer = store.loop.submit(self._write_loop())

    # --- ChannelLog -------------------------------------------------------------------

    @property
    def end_offset(self) -> int:
        return self._next

    @property
    def first_offset(self) -> int:
        state = self._state()
        # Sequences start at 1: a stream that still holds (or never lost) its first
        # message misses nothing before it, so it covers every checkpoint from 0.
        first = int(state.first_seq) if state.messages else int(state.last_seq) + 1
        return first if first > 1 else 0

    def where(self, offset: int) -> str:
        return f"stream {self.stream} sequence {offset}"

    def append(self, kind: int, timestamp: int, *payload: Buffer) -> Record:
        data = b"".join(payload)
        frames = nats_frames.record_frames(kind, timestamp, data, self._chunk)
        with self._cond:
            if self._closed:
                raise StorageError(f"channel log {self.channel} is closed")
            if self._fatal is not None:
                raise type(self._fatal)(str(self._fatal))
            if self._broken is not None:
                raise self._unavailable(f"publishing is interrupted: {self._broken}")
            pending = _Pending(self._next, frames)
            self._next = pending.end
            self._queue.append(pending)
        self._store.loop.call_soon(self._wake.set)
        return Record(pending.seq, pending.end, kind, timestamp, b"")

    def sync(self, upto: int) -> None:
        """Wait until every record ending at or before ``upto`` is stored.

        Raises when the service stays unreachable or the wait passes the
        timeout; the records stay queued and are published again once the
        service answers, so a write reported as failed may still be applied.
        """
        deadline = time.monotonic() + self._store.timeout
        with self._cond:
            while self._stored < upto and upto <= self._next:
                if self._fatal is not None:
                    raise type(self._fatal)(str(self._fatal))
                if self._unreachable is not None:
                    raise self._unavailable(f"not stored yet: {self._unreachable}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._unavailable("no acknowledgement in time")
                self._cond.wait(remaining)
        if self._store.fence is not None:
            self._store.fence()

    def replay(self, start: int = 0) -> Iterator[Record]:
        state = self._state()
        last = int(state.last_seq)
        first = max(start, int(state.first_seq), 1)
        if not state.messages or first > last:
            return
        yield from nats_frames.assemble(self._messages(first, last))

    def truncate_before(self, offset: int) -> int:
        before = self._state()

        async def purge() -> None:
            await self._store.js.purge_stream(self.stream, seq=offset)

        self._store.call(f"purge stream {self.stream}", purge())
        return max(0, int(before.bytes) - int(self._state().bytes))

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            target = self._next
        with contextlib.suppress(StorageError):
            self.sync(target)
        with self._cond:
            self._closed = True
        self._store.loop.call_soon(self._wake.set)
        with contextlib.suppress(Exception):
            self._writer.result(self._store.timeout)
        self._store.forget(self._id)

    # --- internals: state and replay ---------------------------------------------------

    def _unavailable(self, why: str) -> StorageUnavailable:
        return StorageUnavailable.for_service(
            "NATS JetStream", self._store.endpoint, f"stream {self.stream}: {why}"
        )

    def _state(self) -> Any:
        async def info() -> Any:
            return (await self._store.js.stream_info(self.stream)).state

        return self._store.call(f"read the state of stream {self.stream}", info())

    def _messages(self, first: int, last: int) -> Iterator[tuple[int, bytes]]:
        store = self._store
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=first,
            ack_policy=api.AckPolicy.NONE,
            inactive_threshold=60.0,
            mem_storage=True,
        )

        async def subscribe() -> Any:
            return await store.js.pull_subscribe(
                self.subject, durable=None, stream=self.stream, config=config
            )

        sub = store.call(f"read stream {self.stream}", subscribe())
        try:
            seq = first - 1
            while seq < last:

                async def fetch() -> list[Any]:
                    return await sub.fetch(_REPLAY_BATCH, timeout=store.timeout)

                for msg in store.call(f"read stream {self.stream}", fetch(), store.timeout + 1):
                    seq = int(msg.metadata.sequence.stream)
                    if seq > last:
                        break
                    yield seq, msg.data
        finally:

            async def unsubscribe() -> None:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()

            with contextlib.suppress(StorageError):
                store.call("close a stream reader", unsubscribe())

    # --- internals: the writer task (runs on the store's loop) --------------------------

    def on_ack(self, attempt: str, seq: int, data: bytes) -> None:
        """An acknowledgement from JetStream (on the loop)."""
        if attempt != str(self._attempt):
            return  # a publish the log has since sent again
        try:
            reply = json.loads(data) if data else {"error": {"description": "no responders"}}
        except ValueError:
            reply = {"error": {"description": "unreadable acknowledgement"}}
        if "error" in reply:
            self._interrupt(f"publish refused: {reply['error'].get('description')}")
        else:
            self._stored_seq(seq)

    def _stored_seq(self, seq: int) -> None:
        with self._cond:
            for pending in self._unstored.values():
                if pending.seq <= seq < pending.end:
                    pending.left.discard(seq)
                    break
            while self._unstored:
                first = next(iter(self._unstored.values()))
                if first.left:
                    break
                self._unstored.popitem(last=False)
                self._stored = first.end
            self._cond.notify_all()

    def _interrupt(self, why: str) -> None:
        with self._cond:
            if self._broken is None:
                self._broken = self._unavailable(why)
                self._cond.notify_all()

    async def _write_loop(self) -> None:
        store = self._store
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.25)
            self._wake.clear()
            with self._cond:
                batch, self._queue = self._queue, []
                closed = self._closed
                for pending in batch:
                    self._unstored[pending.seq] = pending
            if self._broken is None and self._fatal is None:
                for pending in batch:
                    await self._publish(pending)
                self._expire(time.monotonic() - store.timeout)
            if self._broken is not None and self._fatal is None:
                await self._republish()
            if closed and (not self._unstored or self._fatal is not None):
                return

    async def _publish(self, pending: _Pending) -> None:
        store = self._store
        pending.sent_at = time.monotonic()
        if store.fence is not None:
            try:
                store.fence()
            except WriterFencedError as exc:
                with self._cond:
                    self._fatal = exc
                    self._cond.notify_all()
                return
        for seq in sorted(pending.left):
            if not store.nc.is_connected:
                # A message buffered while disconnected would go out on reconnect behind
                # the log's back; the log republishes it itself instead.
                self._interrupt("not connected")
                return
            try:
                await store.nc.publish(
                    self.subject,
                    pending.frames[seq - pending.seq],
                    reply=f"{store.inbox}.{self._id}.{self._attempt}.{seq}",
                    headers={_EXPECTED_LAST: str(seq - 1)},
                )
            except Exception as exc:  # the connection closed or its buffer is full
                self._interrupt(f"cannot publish: {exc or type(exc).__name__}")
                return

    def _expire(self, older_than: float) -> None:
        """Interrupt publishing when an acknowledgement is overdue."""
        with self._cond:
            overdue = any(p.sent_at and p.sent_at < older_than for p in self._unstored.values())
        if overdue:
            self._interrupt("no acknowledgement in time")

    async def _republish(self) -> None:
        """Publish every unstored record again from the stream's last sequence.

        Runs when publishing was interrupted.  Messages that did reach the stream
        (their acknowledgement was lost) are recognised by content and kept; a
        message this log did not write means another node writes the channel.
        """
        store = self._store
        self._attempt += 1  # answers to earlier publishes no longer count
        try:
            info = await asyncio.wait_for(store.js.stream_info(self.stream), store.timeout)
            last = int(info.state.last_seq)
            foreign = await self._adopt_stored(last)
        except Exception as exc:
            with self._cond:
                self._unreachable = exc
                self._cond.notify_all()
            log.warning("stream %s: cannot republish yet: %s", self.stream, exc)
            await asyncio.sleep(0.25)
            return
        if foreign is not None:
            with self._cond:
                self._fatal = WriterFencedError(
                    f"{WriterFencedError.base_message}: stream {self.stream} holds a message "
                    f"at sequence {foreign} that this node did not write"
                )
                self._cond.notify_all()
            return
        with self._cond:
            self._broken = None
            self._unreachable = None
            pendings = list(self._unstored.values())
        for pending in pendings:
            await self._publish(pending)
        if pendings:
            log.warning("stream %s: published again from sequence %d", self.stream, pendings[0].seq)

    async def _adopt_stored(self, last: int) -> int | None:
        """Mark unstored records the stream holds after all; return a foreign sequence if any."""
        with self._cond:
            handed_out = self._next - 1
            frames = {p.seq + i: f for p in self._unstored.values() for i, f in enumerate(p.frames)}
            known_stored = self._stored - 1
        if last > handed_out:
            return last
        for seq in range(known_stored + 1, last + 1):
            ours = frames.get(seq)
            if ours is None:
                return seq
            stored = await self._store.js.get_msg(self.stream, seq, direct=True)
            if stored.data != ours:
                return seq
            self._stored_seq(seq)
        return None
