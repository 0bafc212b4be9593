"""A live collection: its shards, the write path, and consistent snapshots for reads.

Write path (insert and delete):

1. rows are validated and their WAL payloads encoded, with no lock held;
2. the target channels' locks are taken in shard order (flush takes them in
   the same global order, so there is no deadlock), one timestamp is
   allocated for the whole request, and each channel appends its record and
   applies it to memory;
3. the locks are released and the caller waits for the fsyncs, which
   concurrent writers share.

An insert is acknowledged only after step 3.  Reads never take channel
locks: they work on immutable segment views and a timestamp.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from sluice.engine.catalog import CollectionMeta
from sluice.engine.channel import Channel, PendingDelete, Position
from sluice.engine.columns import SegmentView
from sluice.engine.context import EngineContext
from sluice.engine.deletes import ALL_PARTITIONS, DeleteLog, DeleteSnapshot
from sluice.engine.manifest import Manifest
from sluice.engine.records import (
    RecordKind,
    encode_batch,
    encode_delete,
    encode_json,
    insert_header,
)
from sluice.engine.routing import shard_of
from sluice.engine.segment import Segment, SegmentLevel, SegmentLoader, SegmentState
from sluice.engine.text_match import TextMatchIndexes
from sluice.errors import CollectionNotFound, PartitionNotFound
from sluice.query.key_ranges import KeyRange, meets_any
from sluice.schema import CollectionSchema, DataType
from sluice.storage.wal import Record

if TYPE_CHECKING:
    from sluice.engine.prepared_search import PreparedSearch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """What a read at ``read_ts`` may look at."""

    read_ts: int
    segments: tuple[SegmentView, ...]
    deletes: DeleteSnapshot
    #: Rows inserted before this timestamp have outlived the collection's TTL (0: no TTL).
    expire_before: int = 0


@dataclass(frozen=True)
class SealResult:
    """One collection's part of a flush barrier."""

    sealed: list[int]
    flushed: list[int]
    checkpoints: dict[str, tuple[int, int]]


class Collection:
    def __init__(self, meta: CollectionMeta, ctx: EngineContext, channels: list[Channel]) -> None:
        self.meta = meta
        self.ctx = ctx
        self.channels = channels
        pk_dtype: type = np.int64 if meta.schema.primary.dtype == DataType.INT64 else object
        self.deletes = DeleteLog(pk_dtype)
        self.manifest_lock = threading.Lock()
        #: Notified whenever a manifest (and so a persisted checkpoint) is committed.
        self.persisted = threading.Condition()
        self.dropped = False
        #: Bumped when an index is declared or dropped: prepared searches planned
        #: before then must be planned again.
        self.index_epoch = 0
        #: Prepared searches by the caller's key for a request shape (see prepared_search).
        self.search_plans: dict[Hashable, PreparedSearch] = {}
        #: Token indexes answering ``text_match``/``phrase_match`` per segment.
        self.text_match = TextMatchIndexes(meta.schema)
        #: Reads an evicted segment back (see :mod:`sluice.engine.residency`).
        self.segment_loader: SegmentLoader | None = None

    @property
    def id(self) -> int:
        return self.meta.id

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def schema(self) -> CollectionSchema:
        return self.meta.schema

    # --- segments -----------------------------------------------------------

    def segments(self) -> Iterator[Segment]:
        for channel in self.channels:
            yield from list(channel.segments.values())

    def find_segment(self, segment_id: int) -> Segment | None:
        for channel in self.channels:
            segment = channel.segments.get(segment_id)
            if segment is not None:
                return segment
        return None

    def _growing(self, channel: Channel, partition_id: int, ts: int) -> Segment:
        segment = channel.growing.get(partition_id)
        if segment is None:
            segment = Segment(
                self.ctx.ids.allocate(),
                collection_id=self.id,
                partition_id=partition_id,
                channel=channel.name,
                schema=self.schema,
                created_ts=ts,
            )
            channel.add_segment(segment)
        return segment

    # --- writes -------------------------------------------------------------

    def _split(self, keys: np.ndarray) -> list[tuple[Channel, np.ndarray | None]]:
        """Rows per channel, in shard order (``None``: every row)."""
        if len(self.channels) == 1:
            return [(self.channels[0], None)]
        shards = shard_of(keys, len(self.channels))
        parts: list[tuple[Channel, np.ndarray | None]] = []
        for channel in self.channels:
            rows = np.flatnonzero(shards == channel.shard)
            if len(rows):
                parts.append((channel, rows))
        return parts

    def insert(
        self,
        rows: pa.Table,
        pks: np.ndarray,
        partitions: int | np.ndarray,
        *,
        replace: bool = False,
        replace_scope: int = ALL_PARTITIONS,
        replaced: np.ndarray | None = None,
    ) -> int:
        """Append ``rows`` durably; return the insert timestamp.

        ``partitions`` is the partition ID of every row (one ID: all rows);
        each (shard, partition) part becomes one WAL record in that
        partition's growing segment, all stamped with one timestamp.  With
        ``replace`` (upsert), the channels first log a delete of the keys
        ``replaced`` (default: the rows' own keys; an auto-ID upsert gives its
        rows new keys) scoped to ``replace_scope``, at the same timestamp: the
        tombstone hides every older row of those keys, and the new rows stay
        visible.
        """
        victims = pks if replaced is None else replaced
        deletes = (
            [(ch, victims if idx is None else victims[idx]) for ch, idx in self._split(victims)]
            if replace
            else []
        )
        parts = []
        for channel, idx in self._split(pks):
            sub = rows if idx is None else rows.take(pa.array(idx))
            keys = pks if idx is None else pks[idx]
            if isinstance(partitions, int):
                split = [(partitions, sub)]
            else:
                owners = partitions if idx is None else partitions[idx]
                split = [
                    (int(pid), sub.take(pa.array(np.flatnonzero(owners == pid))))
                    for pid in np.unique(owners)
                ]
            parts.append((channel, keys, [(pid, g, encode_batch(g)) for pid, g in split]))
        targets = (
            {partitions} if isinstance(partitions, int) else set(np.unique(partitions).tolist())
        )
        settings = self.ctx.settings.segments
        written: list[tuple[Channel, Record]] = []
        to_persist: list[Channel] = []
        locked = {id(c): c for c in [*(p[0] for p in parts), *(d[0] for d in deletes)]}
        with ExitStack() as stack:
            # Shard order, as every writer takes them: no two writers wait on each other.
            for channel in sorted(locked.values(), key=lambda c: c.shard):
                stack.enter_context(channel.lock)
            self._check_live(targets)
            ts = self.ctx.tso.allocate()
            for channel, keys in deletes:
                written.append((channel, self._delete_locked(channel, keys, ts, replace_scope)))
            for channel, _keys, groups in parts:
                for partition_id, sub, payload in groups:
                    segment = self._growing(channel, partition_id, ts)
                    header = insert_header(segment.id, partition_id, sub.num_rows)
                    record = channel.wal.append(RecordKind.INSERT, ts, header, payload)
                    segment.append(sub, ts, record.offset, record.end)
                    channel.advance_tick(record.end, ts)
                    written.append((channel, record))
                    if segment.nbytes >= settings.max_bytes:
                        self._seal_locked(channel, [segment])
                        to_persist.append(channel)
                    elif _unsynced_bytes(segment) >= settings.sync_buffer_bytes:
                        to_persist.append(channel)
        synced: dict[int, tuple[Channel, int]] = {}
        for channel, record in written:  # one sync per channel, to its last record
            synced[id(channel)] = (
                channel,
                max(record.end, synced.get(id(channel), (channel, 0))[1]),
            )
        for channel, end in synced.values():
            channel.wal.sync(end)
        for channel in to_persist:
            self.ctx.request_persist(self, channel, False)
        return ts

    def delete(self, pks: np.ndarray, partition_id: int = ALL_PARTITIONS) -> int:
        """Write tombstones for ``pks`` durably; return the delete timestamp.

        With a ``partition_id`` the tombstones hide rows of that partition only.
        """
        parts = [(channel, pks if idx is None else pks[idx]) for channel, idx in self._split(pks)]
        written: list[tuple[Channel, Record]] = []
        with ExitStack() as stack:
            for channel, _ in parts:
                stack.enter_context(channel.lock)
            self._check_live({partition_id} if partition_id != ALL_PARTITIONS else set())
            ts = self.ctx.tso.allocate()
            for channel, keys in parts:
                written.append((channel, self._delete_locked(channel, keys, ts, partition_id)))
        for channel, record in written:
            channel.wal.sync(record.end)
        return ts

    def _delete_locked(
        self, channel: Channel, keys: np.ndarray, ts: int, partition_id: int = ALL_PARTITIONS
    ) -> Record:
        record = channel.wal.append(RecordKind.DELETE, ts, encode_delete(keys, partition_id))
        channel.add_pending_delete(PendingDelete(record.offset, record.end, ts, keys, partition_id))
        self.deletes.add(keys, ts, partition_id)
        channel.advance_tick(record.end, ts)
        return record

    def _check_live(self, partitions: set[int]) -> None:
        """Raise if the collection (or a target partition) was dropped while the caller
        waited for its locks: DDL publishes its changes while holding them."""
        if self.dropped:
            raise CollectionNotFound.named(self.meta.db, self.meta.name)
        known = self.meta.partition_ids
        for partition_id in partitions:
            if partition_id not in known:
                raise PartitionNotFound.named(str(partition_id))

    def _seal_locked(self, channel: Channel, segments: Iterable[Segment]) -> list[int]:
        """Seal ``segments`` and log it (caller holds ``channel.lock``)."""
        sealed = [s.id for s in segments if s.state == SegmentState.GROWING]
        if not sealed:
            return []
        for segment in list(segments):
            channel.seal(segment)
        ts = self.ctx.tso.allocate()
        record = channel.wal.append(RecordKind.SEAL, ts, encode_json({"segments": sealed}))
        channel.advance_tick(record.end, ts)
        return sealed

    def seal_idle(self, idle_seconds: float, min_bytes: int, now: float) -> None:
        """Seal growing segments nobody wrote to for ``idle_seconds`` (the idle policy)."""
        for channel in self.channels:
            with channel.lock:
                idle = [
                    s
                    for s in channel.growing.values()
                    if now - s.last_write >= idle_seconds and s.nbytes >= min_bytes
                ]
                if idle:
                    self._seal_locked(channel, idle)
            if idle:
                channel.wal.sync(channel.wal.end_offset)
                self.ctx.request_persist(self, channel, False)

    def flush_barrier_locked(self, flush_ts: int) -> tuple[SealResult, list[tuple[Channel, int]]]:
        """Seal every growing segment and log a flush at ``flush_ts``.

        The caller holds every channel lock of this collection (and allocated
        ``flush_ts`` while holding them).  Returns what the Flush response
        needs, plus the WAL ends to sync before answering.
        """
        sealed: list[int] = []
        checkpoints: dict[str, tuple[int, int]] = {}
        ends: list[tuple[Channel, int]] = []
        for channel in self.channels:
            checkpoints[channel.name] = (channel.persisted.offset, channel.persisted.timestamp)
            growing = list(channel.growing.values())
            for segment in growing:
                channel.seal(segment)
            newly = [s.id for s in growing]
            waiting = [
                s.id
                for s in channel.data_segments()
                if s.state == SegmentState.SEALED and s.id not in newly
            ]
            payload = encode_json({"flush_ts": flush_ts, "segments": newly})
            record = channel.wal.append(RecordKind.FLUSH, flush_ts, payload)
            channel.advance_tick(record.end, flush_ts)
            sealed.extend(newly + waiting)
            ends.append((channel, record.end))
        flushed = [
            s.id
            for s in self.segments()
            if s.level != SegmentLevel.L0
            and s.state in (SegmentState.FLUSHING, SegmentState.FLUSHED)
            and s.id not in sealed
        ]
        return SealResult(sorted(sealed), sorted(flushed), checkpoints), ends

    # --- reads --------------------------------------------------------------

    def snapshot(
        self,
        read_ts: int,
        *,
        ignore_growing: bool = False,
        partitions: frozenset[int] | None = None,
        expire_before: int = 0,
        segment_ids: frozenset[int] | None = None,
        key_ranges: list[KeyRange] | None = None,
    ) -> Snapshot:
        """What a read at ``read_ts`` sees.

        ``ignore_growing`` leaves out growing segments; ``partitions`` keeps
        only segments of those partitions (``None``: every partition), and
        ``segment_ids`` only those segments; ``key_ranges`` leaves out clustered
        segments whose clustering-key range meets none of them (the read's
        filter can match no row there); ``expire_before`` hides rows older
        than the collection's TTL.  Segments not in memory are read (see
        :mod:`sluice.engine.residency`).
        """
        skipped = (SegmentState.DROPPED, SegmentState.GROWING if ignore_growing else None)
        views = tuple(
            s.view()
            for s in self.segments()
            if s.level != SegmentLevel.L0
            and s.state not in skipped
            and s.num_rows
            and (partitions is None or s.partition_id in partitions)
            and (segment_ids is None or s.id in segment_ids)
            and (
                key_ranges is None
                or s.cluster_range is None
                or meets_any(key_ranges, *s.cluster_range)
            )
        )
        return Snapshot(read_ts, views, self.deletes.snapshot(read_ts), expire_before)

    def persisted_rows(self, partitions: frozenset[int] | None = None) -> int:
        """Rows in segment files, as Milvus's ``row_count`` counts them (deletes included)."""
        return sum(
            s.synced_rows
            for s in self.segments()
            if s.level != SegmentLevel.L0
            and s.state != SegmentState.DROPPED
            and (partitions is None or s.partition_id in partitions)
        )

    # --- namespace changes (the caller holds every channel lock) -------------------

    def detach_partitions_locked(self, partition_ids: set[int]) -> list[Segment]:
        """Remove the segments (and pending deletes) of dropped partitions; return the segments.

        Their rows disappear from the next snapshot on; the caller commits the
        manifest without them and then deletes their files.
        """
        removed: list[Segment] = []
        for channel in self.channels:
            for segment in list(channel.segments.values()):
                if segment.partition_id in partition_ids:
                    removed.append(segment)
                    del channel.segments[segment.id]
                    if channel.growing.get(segment.partition_id) is segment:
                        del channel.growing[segment.partition_id]
            kept = [p for p in channel.pending_deletes if p.partition_id not in partition_ids]
            if len(kept) != len(channel.pending_deletes):
                channel.pending_deletes.clear()
                channel.pending_deletes.extend(kept)
                if not kept:
                    channel.deletes_since = None
        self.deletes.forget(partition_ids)
        self.search_plans.clear()
        return removed

    def clear_locked(self) -> list[Segment]:
        """Remove every segment and tombstone (TruncateCollection); return the segments."""
        removed = [s for channel in self.channels for s in channel.segments.values()]
        for channel in self.channels:
            channel.segments.clear()
            channel.growing.clear()
            channel.pending_deletes.clear()
            channel.deletes_since = None
        self.deletes.forget()
        self.search_plans.clear()
        return removed

    def adopt_schema_locked(self, schema: CollectionSchema) -> None:
        """Give every segment the columns of ``schema`` (a field was added).

        Rows already stored read the new field as its default value, or null.
        """
        for segment in self.segments():
            segment.adopt_schema(schema)
        self.index_epoch += 1

    # --- persistence bookkeeping ------------------------------------------------

    def save_manifest(
        self,
        adding: Mapping[str, Sequence[Segment]] | None = None,
        also: Mapping[str, bytes] | None = None,
    ) -> bool:
        """Commit segment state and checkpoints; then trim WALs and wake flush waiters.

        ``adding`` (channel name -> segments whose files are written) joins
        segments in the same commit, and they become readable only after it;
        ``also`` commits more metadata keys with it (a bulk import's job record).
        Returns ``False`` when the collection was dropped (nothing committed).
        """
        adding = adding or {}
        with self.manifest_lock:
            if self.dropped:
                return False
            manifest = Manifest()
            positions = []
            for channel in self.channels:
                with channel.lock:
                    adds = adding.get(channel.name, ())
                    checkpoint = self._describe_channel(channel, manifest, adds)
                # A checkpoint must never point past the durable end of its WAL.
                channel.wal.sync(checkpoint.offset)
                positions.append((channel, checkpoint))
            manifest.save(self.ctx.meta, self.id, also)
            for channel, _ in positions:
                with channel.lock:
                    for segment in adding.get(channel.name, ()):
                        channel.add_segment(segment)
            self.manifest_committed(positions)
        return True

    def swap_segments(
        self, channel: Channel, old: Sequence[Segment], new: Sequence[Segment]
    ) -> bool:
        """Replace ``old`` segments of ``channel`` by ``new`` in one manifest commit (compaction).

        Taken with every channel lock, in shard order, so no DDL or flush
        interleaves.  ``False`` (nothing changed) when the collection was
        dropped or ``channel`` no longer holds exactly the ``old`` segments.
        Readers see the swap in one step: the shard's segment table is
        replaced, never edited in place.
        """
        with self.manifest_lock, ExitStack() as stack:
            for ch in sorted(self.channels, key=lambda c: c.shard):
                stack.enter_context(ch.lock)
            if self.dropped or any(channel.segments.get(s.id) is not s for s in old):
                return False
            before = channel.segments
            table = {k: v for k, v in before.items() if k not in {s.id for s in old}}
            table.update((s.id, s) for s in new)
            channel.segments = table
            try:
                manifest, positions = self.manifest_locked()
                manifest.save(self.ctx.meta, self.id)
            except BaseException:
                channel.segments = before
                raise
            self.manifest_committed(positions)
        return True

    def manifest_locked(self) -> tuple[Manifest, list[tuple[Channel, Position]]]:
        """The manifest of the current state, for a caller holding every lock of the collection.

        The caller commits it (possibly with other keys) and then calls
        :meth:`manifest_committed` with the returned positions.
        """
        manifest = Manifest()
        positions = []
        for channel in self.channels:
            checkpoint = self._describe_channel(channel, manifest)
            channel.wal.sync(checkpoint.offset)
            positions.append((channel, checkpoint))
        return manifest, positions

    def _describe_channel(
        self, channel: Channel, manifest: Manifest, adding: Sequence[Segment] = ()
    ) -> Position:
        checkpoint = channel.current_checkpoint()
        manifest.segments.extend(
            s.to_dict()
            for s in channel.segments.values()
            if s.binlogs or s.state not in (SegmentState.GROWING, SegmentState.DROPPED)
        )
        manifest.segments.extend(s.to_dict() for s in adding)
        manifest.channels[channel.name] = channel.state(checkpoint)
        return checkpoint

    def manifest_committed(self, positions: list[tuple[Channel, Position]]) -> None:
        """A manifest naming ``positions`` is durable: publish checkpoints, trim WALs, wake waiters."""
        for channel, checkpoint in positions:
            channel.persisted = checkpoint
            channel.wal.truncate_before(checkpoint.offset)
        with self.persisted:
            self.persisted.notify_all()

    def flushed(self, segment_ids: Sequence[int], flush_ts: int) -> bool:
        """Milvus's GetFlushState test: listed segments persisted, every checkpoint past ``flush_ts``."""
        for segment_id in segment_ids:
            segment = self.find_segment(segment_id)
            if segment is not None and segment.state in (
                SegmentState.GROWING,
                SegmentState.SEALED,
                SegmentState.IMPORTING,
            ):
                return False
        return all(channel.persisted.timestamp >= flush_ts for channel in self.channels)


def _unsynced_bytes(segment: Segment) -> int:
    rows = segment.num_rows
    return 0 if rows == 0 else segment.nbytes * segment.unsynced_rows // rows
