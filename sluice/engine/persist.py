"""Background persistence: from memory + WAL into segment files.

The persister runs a few worker threads over a queue of channels.  For a
channel it, in order:

1. final-syncs every Sealed segment (state Flushing while it works; Flushed
   afterwards, or Dropped if it holds no rows);
2. syncs growing segments whose unpersisted buffer passed
   ``sync_buffer_bytes`` or is older than ``sync_period_seconds``;
3. writes pending deletes as a delta log in a new L0 segment, when a flush
   asked for it or they pile up;
4. commits the collection manifest, which moves the channel checkpoint.

Crash safety, per segment file: (a) the WAL is fsynced up to the last record
the file will contain, (b) the Parquet file is written and fsynced, (c) the
manifest naming it is committed.  A crash after (a) or (b) leaves a file no
manifest names: recovery replays those rows from the WAL.  A crash after (c)
finds the rows in the file and skips their WAL records (they are older than
the segment's ``synced_end``).

A ticker thread applies the time-based policies (idle seal, stale buffers)
and wakes channels that need it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

import numpy as np
import pyarrow as pa

from sluice import telemetry
from sluice.engine.channel import Channel, PendingDelete
from sluice.engine.collection import Collection
from sluice.engine.context import EngineContext
from sluice.engine.segment import Binlog, Segment, SegmentLevel, SegmentState
from sluice.engine.tso import RENEW_AHEAD_MS
from sluice.errors import SluiceError, StorageError, StorageWriteError

log = logging.getLogger(__name__)

#: Seconds between attempts while persisting a channel keeps failing.
RETRY_SECONDS = 1.0
#: Failed attempts in a row after which Flush and GetFlushState report the error.
FAILURES_BEFORE_REPORT = 2
#: The ticker wakes at least this often, so the timestamp window is renewed in time.
TSO_RENEW_SECONDS = RENEW_AHEAD_MS / 2000
#: Write pending deletes once this many keys are buffered on a channel.
DELETE_BUFFER_KEYS = 100_000


def insert_log_path(collection_id: int, partition_id: int, segment_id: int, log_id: int) -> str:
    return f"insert_log/{collection_id}/{partition_id}/{segment_id}/{log_id}.parquet"


def delta_log_path(collection_id: int, partition_id: int, segment_id: int, log_id: int) -> str:
    return f"delta_log/{collection_id}/{partition_id}/{segment_id}/{log_id}.parquet"


class Persister:
    def __init__(self, ctx: EngineContext, threads: int) -> None:
        self._ctx = ctx
        self._queue: queue.Queue[tuple[Collection, Channel] | None] = queue.Queue()
        self._queued: dict[tuple[int, str], bool] = {}
        #: The error each (collection, channel) last failed with and how many attempts in a
        #: row failed, while it keeps failing.
        self._failures: dict[tuple[int, str], tuple[SluiceError, int]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._workers = [
            threading.Thread(target=self._work, name=f"sluice-persist-{i}", daemon=True)
            for i in range(max(1, threads))
        ]
        for worker in self._workers:
            worker.start()

    def request(self, collection: Collection, channel: Channel, urgent: bool) -> None:
        """Queue ``channel`` (once); ``urgent`` also forces pending deletes out."""
        key = (collection.id, channel.name)
        with self._lock:
            if key in self._queued:
                self._queued[key] = self._queued[key] or urgent
                return
            self._queued[key] = urgent
        self._queue.put((collection, channel))

    def failure(self, collection: Collection) -> SluiceError | None:
        """Why persisting ``collection`` keeps failing (``None``: it does not).

        Flush and GetFlushState answer with this error instead of waiting for a
        persistence that cannot happen.  One failed attempt is not reported:
        the retry a second later usually succeeds (a transient error), and a
        flush waiting meanwhile only takes a little longer.
        """
        with self._lock:
            for (collection_id, _), (err, attempts) in self._failures.items():
                if collection_id == collection.id and attempts >= FAILURES_BEFORE_REPORT:
                    return err
        return None

    def stop(self) -> None:
        """Finish queued work, then stop the workers."""
        self._stopping.set()
        for _ in self._workers:
            self._queue.put(None)
        for worker in self._workers:
            worker.join()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            collection, channel = item
            key = (collection.id, channel.name)
            with self._lock:
                urgent = self._queued.pop(key, False)
            try:
                persist_channel(self._ctx, collection, channel, force_deletes=urgent)
            except Exception as exc:
                self._failed(collection, channel, exc)
                self._stopping.wait(RETRY_SECONDS)
                if not self._stopping.is_set():
                    self.request(collection, channel, urgent)
            else:
                with self._lock:
                    recovered = self._failures.pop(key, None) is not None
                if recovered:
                    log.info("persisting channel %s works again", channel.name)

    def _failed(self, collection: Collection, channel: Channel, exc: Exception) -> None:
        err = as_storage_error(exc)
        key = (collection.id, channel.name)
        with self._lock:
            attempts = self._failures.get(key, (err, 0))[1] + 1
            self._failures[key] = (err, attempts)
        if attempts == 1:
            log.error(
                "persisting channel %s failed; retrying every %.0f s (the WAL keeps the rows): %s",
                channel.name,
                RETRY_SECONDS,
                err.message,
                exc_info=not isinstance(exc, OSError | SluiceError),
            )
        else:
            log.warning("persisting channel %s still fails: %s", channel.name, err.message)
        if attempts >= FAILURES_BEFORE_REPORT:
            # Flush waiters re-check, and now answer with the error instead of waiting.
            with collection.persisted:
                collection.persisted.notify_all()


def as_storage_error(exc: BaseException) -> SluiceError:
    """A persistence failure as the error a client is told."""
    if isinstance(exc, SluiceError):
        return exc
    if isinstance(exc, OSError):
        return StorageWriteError.from_os_error(exc)
    return StorageError(f"{StorageError.base_message}: persisting segments failed: {exc}")


def persist_channel(
    ctx: EngineContext,
    collection: Collection,
    channel: Channel,
    *,
    force_deletes: bool,
    force_growing: bool = False,
) -> None:
    """One pass of the persistence steps above over ``channel``.

    ``force_deletes`` writes pending deletes whatever their size (a flush
    needs them); ``force_growing`` persists every growing buffer (shutdown).
    """
    settings = ctx.settings.segments
    with channel.persist_lock:
        if collection.dropped:
            return
        with channel.lock:
            # A segment still Flushing here is one whose last attempt failed.
            unfinished = (SegmentState.SEALED, SegmentState.FLUSHING)
            sealed = [s for s in channel.data_segments() if s.state in unfinished]
            for segment in sealed:
                segment.state = SegmentState.FLUSHING
            growing = list(channel.growing.values())
            has_deletes = bool(channel.pending_deletes)
            delete_keys = sum(len(p.pks) for p in channel.pending_deletes)
        for segment in sealed:
            sync_segment(ctx, collection, channel, segment, final=True)
        now = time.monotonic()
        for segment in growing:
            due = _needs_sync(
                segment, now, settings.sync_buffer_bytes, settings.sync_period_seconds
            )
            if due or (force_growing and segment.unsynced_rows):
                sync_segment(ctx, collection, channel, segment, final=False)
        stale_deletes = has_deletes and _deletes_stale(channel, now, settings.sync_period_seconds)
        if has_deletes and (force_deletes or delete_keys >= DELETE_BUFFER_KEYS or stale_deletes):
            sync_deletes(ctx, collection, channel)
        with channel.lock:
            moved = channel.current_checkpoint() != channel.persisted
        if sealed or moved:
            collection.save_manifest()
        for segment in sealed:
            ctx.request_index(collection, segment)


def _needs_sync(segment: Segment, now: float, buffer_bytes: int, period: float) -> bool:
    if segment.unsynced_rows == 0:
        return False
    rows = segment.num_rows
    unsynced = segment.nbytes * segment.unsynced_rows // max(rows, 1)
    since = segment.unsynced_since
    return unsynced >= buffer_bytes or (since is not None and now - since >= period)


def _deletes_stale(channel: Channel, now: float, period: float) -> bool:
    since = channel.deletes_since
    return since is not None and now - since >= period


def sync_segment(
    ctx: EngineContext, collection: Collection, channel: Channel, segment: Segment, *, final: bool
) -> None:
    """Persist a segment's unpersisted rows as one binlog (and finish it if ``final``)."""
    started = time.perf_counter()
    with segment.sync_lock:
        with channel.lock:
            view = segment.view()
            rows = view.num_rows
            start = segment.synced_rows
            covered = [p.end for p in segment.pending if p.row_end <= rows]
            wal_end = covered[-1] if covered else segment.synced_end
        binlog = None
        if rows > start:
            channel.wal.sync(wal_end)
            table = view.table_range(start, rows)
            rel = insert_log_path(
                collection.id, segment.partition_id, segment.id, ctx.ids.allocate()
            )
            binlog = Binlog.written(rel, rows - start, ctx.files.write_table(rel, table))
        with channel.lock:
            segment.mark_synced(rows, wal_end, binlog)
            if final:
                segment.state = SegmentState.FLUSHED if segment.num_rows else SegmentState.DROPPED
    if final:
        telemetry.FLUSH_SECONDS.observe(time.perf_counter() - started)


def sync_deletes(ctx: EngineContext, collection: Collection, channel: Channel) -> None:
    """Write a channel's pending deletes as delta logs of new L0 segments, one per scope.

    A delete scoped to a partition goes to an L0 segment of that partition;
    the others to one of partition ``-1`` (every partition), as in Milvus.
    The segments are published together, after every file is written.
    """
    with channel.lock:
        pending = list(channel.pending_deletes)
    if not pending:
        return
    channel.wal.sync(pending[-1].end)
    scopes: dict[int, list[PendingDelete]] = {}
    for item in pending:
        scopes.setdefault(item.partition_id, []).append(item)
    written = []
    for partition_id, items in scopes.items():
        keys = np.concatenate([p.pks for p in items])
        stamps = np.concatenate([np.full(len(p.pks), p.timestamp, dtype=np.uint64) for p in items])
        segment_id = ctx.ids.allocate()
        rel = delta_log_path(collection.id, partition_id, segment_id, ctx.ids.allocate())
        table = pa.table({"pk": pa.array(keys), "ts": pa.array(stamps)})
        stored = ctx.files.write_table(rel, table)
        l0 = Segment(
            segment_id,
            collection_id=collection.id,
            partition_id=partition_id,
            channel=channel.name,
            schema=collection.schema,
            level=SegmentLevel.L0,
            state=SegmentState.FLUSHED,
            created_ts=items[0].timestamp,
        )
        l0.binlogs.append(Binlog.written(rel, len(keys), stored))
        written.append(l0)
    with channel.lock:
        for _ in pending:
            channel.pending_deletes.popleft()
        channel.deletes_since = time.monotonic() if channel.pending_deletes else None
        channel.deletes_synced_end = pending[-1].end
        for l0 in written:
            channel.segments[l0.id] = l0


class Ticker:
    """Applies time-based policies every ``tick_seconds``, and renews the timestamp window.

    Renewing the window here, before it runs out, keeps writers from waiting for
    the disk; reads never need it (see :mod:`sluice.engine.tso`).
    """

    def __init__(self, ctx: EngineContext, collections: dict[int, Collection]) -> None:
        self._ctx = ctx
        self._collections = collections
        self._stop = threading.Event()
        self._tso_failing = False
        self._thread = threading.Thread(target=self._run, name="sluice-ticker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        settings = self._ctx.settings
        next_tick = time.monotonic() + settings.tick_seconds
        while not self._stop.wait(min(settings.tick_seconds, TSO_RENEW_SECONDS)):
            self._renew_timestamps()
            now = time.monotonic()
            if now < next_tick:
                continue
            next_tick = now + settings.tick_seconds
            try:
                self.tick(now)
            except Exception:
                log.exception("background tick failed")

    def _renew_timestamps(self) -> None:
        try:
            self._ctx.tso.renew_ahead()
        except StorageError as err:
            if not self._tso_failing:
                log.error("cannot renew the timestamp window (writes will fail): %s", err)
            self._tso_failing = True
            return
        if self._tso_failing:
            log.info("the timestamp window is being saved again")
        self._tso_failing = False

    def tick(self, now: float) -> None:
        seg = self._ctx.settings.segments
        for collection in list(self._collections.values()):
            if collection.dropped:
                continue
            collection.seal_idle(seg.idle_seconds, seg.idle_min_bytes, now)
            for channel in collection.channels:
                with channel.lock:
                    stale = any(
                        _needs_sync(s, now, seg.sync_buffer_bytes, seg.sync_period_seconds)
                        for s in channel.growing.values()
                    ) or (
                        bool(channel.pending_deletes)
                        and _deletes_stale(channel, now, seg.sync_period_seconds)
                    )
                if stale:
                    self._ctx.request_persist(collection, channel, False)
