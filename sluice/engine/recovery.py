"""Opening a collection after a restart or a crash.

1. Load the manifest: segments, their binlogs, each channel's checkpoint.
2. Read every L0 delta log into the delete log, then every live data
   segment of a loaded partition (a few at once, on a small pool): its
   binlogs, its index files (an index that stores the raw vectors supplies
   them, so that column is not decoded) and its placement (memory-mapped
   where ``mmap.enabled`` says), see :mod:`sluice.engine.segment_loading`.
   A Flushed segment of a partition that is not loaded is not read: it
   stays non-resident until LoadCollection (:mod:`sluice.engine.residency`).
   Segments that were Sealed or Flushing go back to Sealed (and are read):
   their final sync runs again.
3. Replay each channel's WAL from its checkpoint.  An INSERT record older
   than its segment's ``synced_end`` is already in a binlog and is skipped;
   a DELETE older than the channel's ``deletes_synced_end`` likewise.
   Records of a partition that has since been dropped are skipped too
   (partition IDs are never reused).
   SEAL and FLUSH records re-seal what they sealed, so a flush that was
   acknowledged before the crash still completes after it.

Before replaying, each channel's log must hold every record from its
checkpoint on: a log that starts after the checkpoint (its oldest file was
deleted) or ends before it (its newest files are gone) has lost acknowledged
records, and start-up stops with :class:`~sluice.errors.WALCorruptedError`
before any file is changed.  ``wal_recovery = "truncate"`` accepts the loss
instead and logs it; so does ``wal_sync = "none"`` for a log that ends early,
since that mode never promised the tail would survive a machine crash.

Nothing persisted is replayed, and nothing acknowledged is lost: an
acknowledged record was fsynced, and every checkpoint in a manifest points
at or before the first record not yet in segment files.
"""

from __future__ import annotations

import functools
import logging
import os
from concurrent.futures import ThreadPoolExecutor

from sluice.config import WalRecovery, WalSync
from sluice.engine.catalog import CollectionMeta
from sluice.engine.channel import Channel, PendingDelete
from sluice.engine.collection import Collection
from sluice.engine.context import EngineContext
from sluice.engine.deletes import ALL_PARTITIONS
from sluice.engine.freed_memory import release_freed_memory
from sluice.engine.manifest import ChannelState, Manifest
from sluice.engine.records import RecordKind, decode_delete, decode_insert, decode_json
from sluice.engine.segment import Segment, SegmentLevel
from sluice.engine.segment_loading import deferrable, estimated_bytes, load_segment, restore_segment
from sluice.errors import WALCorruptedError
from sluice.storage.log_store import ChannelLog
from sluice.storage.wal import Record

log = logging.getLogger(__name__)

#: Data segments loaded at once at start-up (one per core, at least two: file reads overlap).
RECOVERY_THREADS = max(2, os.cpu_count() or 1)


def open_collection(meta: CollectionMeta, ctx: EngineContext) -> Collection:
    manifest = Manifest.load(ctx.meta, meta.id)
    # A channel that never persisted anything is checkpointed at its creation.
    initial = ChannelState(checkpoint_ts=meta.created_ts)
    channels: list[Channel] = []
    try:
        for shard, name in enumerate(meta.vchannels):
            state = manifest.channels.get(name, initial)
            channels.append(Channel(name, shard, open_channel_log(ctx, name, state), state))
    except BaseException:
        for channel in channels:
            channel.wal.close()
        raise
    collection = Collection(meta, ctx, channels)
    collection.segment_loader = functools.partial(load_segment, ctx, collection)
    by_name = {c.name: c for c in channels}
    live_partitions = {*meta.partition_ids, ALL_PARTITIONS}
    raws = [r for r in manifest.segments if int(r["partition"]) in live_partitions]
    # Delete segments first, in manifest order (they fill the delete log); data segments
    # then load in parallel: reading, checksumming and index loading release the GIL.
    deletes = [r for r in raws if SegmentLevel(int(r["level"])) == SegmentLevel.L0]
    data = [r for r in raws if SegmentLevel(int(r["level"])) != SegmentLevel.L0]
    for raw in deletes:
        by_name[str(raw["channel"])].add_segment(restore_segment(ctx, collection, raw))
    restored = [restore_segment(ctx, collection, raw) for raw in data]
    loaded = meta.loaded_partition_ids
    to_load = []
    for segment in restored:
        if deferrable(segment) and segment.partition_id not in loaded:
            # A released partition's segment: read when a load (or a reader) asks.
            segment.defer_rows(collection.segment_loader, estimated_bytes(collection, segment))
        else:
            to_load.append(segment)
    workers = max(1, min(RECOVERY_THREADS, len(to_load)))
    with ThreadPoolExecutor(workers, thread_name_prefix="sluice-recover") as pool:
        list(pool.map(lambda segment: load_segment(ctx, collection, segment), to_load))
    for segment in restored:
        by_name[segment.channel].add_segment(segment)
    if to_load:
        release_freed_memory()  # what the finished workers' allocators kept
    _remove_unreferenced_files(ctx, collection)
    for channel in channels:
        replayed = _replay(collection, channel)
        if replayed:
            log.info(
                "collection %s: replayed %d WAL records on %s", meta.name, replayed, channel.name
            )
    return collection


def open_channel_log(ctx: EngineContext, name: str, state: ChannelState) -> ChannelLog:
    """The channel's log, checked to hold every record from the checkpoint on.

    A log that starts after the checkpoint, ends before it, or is missing
    while the checkpoint says it held records has lost acknowledged writes:
    start-up stops and names what is missing, unless the operator chose
    ``--wal-recovery truncate`` (or writes were never fsynced, so a lost tail
    is expected).
    """
    needed = state.checkpoint_offset
    truncate = ctx.settings.wal_recovery == WalRecovery.TRUNCATE
    tail_may_be_lost = truncate or ctx.settings.wal_sync == WalSync.NONE
    logs = ctx.stores.logs
    if needed > 0 and name not in logs.channels() and not tail_may_be_lost:
        raise WALCorruptedError(
            f"WAL of channel {name} is missing, but its checkpoint is at offset {needed}. "
            "Nothing was changed: restore it, or start with --wal-recovery truncate to "
            "continue without it"
        )
    wal = logs.open(name, start_offset=needed)
    if wal.first_offset > needed:
        first = wal.first_offset
        where = wal.where(first)
        if not truncate:
            wal.close()
            raise WALCorruptedError(
                f"WAL {where}: the log starts at offset {first}, after channel "
                f"{name}'s checkpoint at offset {needed}: the file holding offset {needed} is "
                "missing. Nothing was changed: restore it, or start with --wal-recovery "
                "truncate to skip the missing records"
            )
        log.warning(
            "WAL %s: records from offset %d to %d are missing; --wal-recovery truncate skips them",
            where,
            needed,
            first,
        )
    if wal.end_offset < needed:
        end = wal.end_offset
        where = wal.where(end)
        if not tail_may_be_lost:
            wal.close()
            raise WALCorruptedError(
                f"WAL {where}: the log ends at offset {end}, before channel {name}'s "
                f"checkpoint at offset {needed}: its newest records are missing. Nothing was "
                "changed: restore them, or start with --wal-recovery truncate to continue "
                "without them"
            )
        # Every record left is older than the checkpoint, hence persisted: start the log
        # afresh at the checkpoint so offsets keep growing.
        log.warning(
            "WAL %s ends at offset %d, before the checkpoint at %d; records after the "
            "checkpoint are lost and the log restarts there",
            where,
            end,
            needed,
        )
        wal.close()
        logs.drop(name)
        wal = logs.open(name, start_offset=needed)
    return wal


def _remove_unreferenced_files(ctx: EngineContext, collection: Collection) -> None:
    """Delete files a crash left written but never named by a committed manifest."""
    referenced: set[str] = set()
    for segment in collection.segments():
        referenced.update(b.path for b in segment.binlogs)
        referenced.update(segment.index_files.values())
        referenced.update(segment.text_index_files.values())
    for kind in ("insert_log", "delta_log", "index_files"):
        for rel in ctx.files.list_files(f"{kind}/{collection.id}"):
            if rel not in referenced:
                log.info("removing unreferenced file %s", rel)
                ctx.files.delete_file(rel)


def _replay(collection: Collection, channel: Channel) -> int:
    count = 0
    partitions = set(collection.meta.partition_ids)
    for record in channel.wal.replay(channel.persisted.offset):
        _apply(collection, channel, record, partitions)
        channel.advance_tick(record.end, record.timestamp)
        count += 1
    return count


def _apply(collection: Collection, channel: Channel, record: Record, partitions: set[int]) -> None:
    kind = RecordKind(record.kind)
    if kind == RecordKind.INSERT:
        insert = decode_insert(record.payload)
        if insert.partition_id not in partitions:
            return
        segment = channel.segments.get(insert.segment_id)
        if segment is None:
            segment = Segment(
                insert.segment_id,
                collection_id=collection.id,
                partition_id=insert.partition_id,
                channel=channel.name,
                schema=collection.schema,
                created_ts=record.timestamp,
            )
            channel.add_segment(segment)
        if record.offset >= segment.synced_end:
            segment.append(insert.rows, record.timestamp, record.offset, record.end)
    elif kind == RecordKind.DELETE:
        if record.offset >= channel.deletes_synced_end:
            delete = decode_delete(record.payload, ALL_PARTITIONS)
            pid = delete.partition_id
            if pid != ALL_PARTITIONS and pid not in partitions:
                return
            keys = delete.keys.to_numpy(zero_copy_only=False)
            channel.add_pending_delete(
                PendingDelete(record.offset, record.end, record.timestamp, keys, pid)
            )
            collection.deletes.add(keys, record.timestamp, pid)
    elif kind in (RecordKind.SEAL, RecordKind.FLUSH):
        ids = decode_json(record.payload)["segments"]
        assert isinstance(ids, list)
        for segment_id in ids:
            segment = channel.segments.get(int(segment_id))
            if segment is not None:
                channel.seal(segment)
