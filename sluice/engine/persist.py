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

from sluice.engine.channel import Channel, PendingDelete
from sluice.engine.collection import Collection
from sluice.engine.context import EngineContext
from sluice.engine.segment import Binlog, Segment, SegmentLevel, SegmentState

log = logging.getLogger(__name__)

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
            with self._lock:
                urgent = self._queued.pop((collection.id, channel.name), False)
            try:
                persist_channel(self._ctx, collection, channel, force_deletes=urgent)
            except Exception:
                log.exception("persisting channel %s failed; will retry", channel.name)
                time.sleep(1.0)
                if not self._stopping.is_set():
                    self.request(collection, channel, urgent)


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
            size = ctx.files.write_table(rel, table)
            binlog = Binlog(rel, rows - start, size)
        with channel.lock:
            segment.mark_synced(rows, wal_end, binlog)
            if final:
                segment.state = SegmentState.FLUSHED if segment.num_rows else SegmentState.DROPPED


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
        size = ctx.files.write_table(rel, table)
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
        l0.binlogs.append(Binlog(rel, len(keys), size))
        written.append(l0)
    with channel.lock:
        for _ in pending:
            channel.pending_deletes.popleft()
        channel.deletes_since = time.monotonic() if channel.pending_deletes else None
        channel.deletes_synced_end = pending[-1].end
        for l0 in written:
            channel.segments[l0.id] = l0


class Ticker:
    """Applies time-based policies every ``tick_seconds``."""

    def __init__(self, ctx: EngineContext, collections: dict[int, Collection]) -> None:
        self._ctx = ctx
        self._collections = collections
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sluice-ticker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        settings = self._ctx.settings
        while not self._stop.wait(settings.tick_seconds):
            try:
                self.tick(time.monotonic())
            except Exception:
                log.exception("background tick failed")

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
