"""Mix compaction: a shard's small Flushed segments of one partition merged into one.

Every flush leaves a segment, so a collection written in small batches ends up
with many small segments, each searched and merged separately.  A mix
compaction reads the rows of several Flushed segments of one (shard,
partition) as they are at a compaction timestamp ``T`` -- rows deleted or
expired by ``T`` are left out, every other row keeps its insert timestamp --
sorts them by primary key and writes them as new Flushed segments, cut at
``segments.max_bytes`` as imports are.  The new segments' declared indexes
are built before they replace anything, so searches never lose an index.

The swap is one manifest commit taken with every channel lock held: the
sources must still be exactly the segments their shard holds (a dropped
partition, a truncate or a dropped collection abandons the compaction and
its files), and the shard's segment table is replaced by a new dict in one
assignment, so a reader sees either the old segments or the new ones.
Readers that took a snapshot before keep the old segments' rows in memory;
the old files are deleted after the commit (a crash before it leaves the new
files unreferenced, a crash after it the old ones: start-up removes either).

Deletes are kept in the collection's delete log whatever compaction does: a
delete that arrives while a compaction runs hides the row in the new segment
as it did in the old (rows keep their keys and timestamps).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sluice.engine.channel import Channel
from sluice.engine.collection import Collection
from sluice.engine.index_builds import build_index_file
from sluice.engine.indexes import is_emb_list_index
from sluice.engine.persist import delta_log_path, insert_log_path
from sluice.engine.placement import forget_segment
from sluice.engine.reader import visible
from sluice.engine.residency import evict_unserved
from sluice.engine.segment import Binlog, Segment, SegmentLevel, SegmentState
from sluice.engine.ttl import expire_before
from sluice.schema import TS_COLUMN, FieldSchema

log = logging.getLogger(__name__)

#: A segment below this share of ``segments.max_bytes`` is small: merging it pays.
SMALL_SHARE = 0.5
#: Automatic compaction merges this many small segments (Milvus: dataCoord.compaction.min.segment)...
AUTO_MIN_SEGMENTS = 3
#: ... or fewer (two at least) that fill this share of a segment (Milvus: compactableProportion).
COMPACTABLE_SHARE = 0.85
#: ... or rewrites one segment whose deleted/expired rows reach this share.
DELETED_SHARE = 0.2
#: The smallest size tier (see :func:`tier`) ends at three times this share of a segment.
TIER_FLOOR_SHARE = 1 / 1024


@dataclass
class CompactionPlan:
    """One merge: source segments into targets (none when every row was deleted)."""

    plan_id: int
    sources: tuple[int, ...]
    partition_id: int
    channel: str
    #: ``mix`` (data segments), ``l0`` (delete segments) or ``clustering``.
    kind: str = "mix"
    targets: tuple[int, ...] = ()
    done: bool = False
    failed: bool = False


def groups(collection: Collection) -> list[tuple[Channel, list[Segment]]]:
    """Flushed data segments by (shard, partition), each group oldest first."""
    found: list[tuple[Channel, list[Segment]]] = []
    for channel in collection.channels:
        by_partition: dict[int, list[Segment]] = {}
        for segment in list(channel.segments.values()):
            if (
                segment.state == SegmentState.FLUSHED
                and segment.level != SegmentLevel.L0
                and segment.num_rows
            ):
                by_partition.setdefault(segment.partition_id, []).append(segment)
        for segments in by_partition.values():
            found.append((channel, sorted(segments, key=lambda s: s.id)))
    return found


def l0_groups(collection: Collection) -> list[tuple[Channel, list[Segment]]]:
    """Level-0 (delete) segments by (shard, delete scope), each group oldest first."""
    found: list[tuple[Channel, list[Segment]]] = []
    for channel in collection.channels:
        by_scope: dict[int, list[Segment]] = {}
        for segment in list(channel.segments.values()):
            if segment.level == SegmentLevel.L0 and segment.state == SegmentState.FLUSHED:
                by_scope.setdefault(segment.partition_id, []).append(segment)
        for segments in by_scope.values():
            found.append((channel, sorted(segments, key=lambda s: s.id)))
    return found


def l0_compact(collection: Collection, channel: Channel, sources: Sequence[Segment]) -> int | None:
    """Merge delete segments into one (their deletes unchanged); the new ID, or ``None``."""
    ctx = collection.ctx
    tables = [
        ctx.files.read_table(binlog.path, binlog.expected)
        for segment in sources
        for binlog in segment.binlogs
    ]
    merged = pa.concat_tables(tables).combine_chunks()
    scope = sources[0].partition_id
    target = Segment(
        ctx.ids.allocate(),
        collection_id=collection.id,
        partition_id=scope,
        channel=channel.name,
        schema=collection.schema,
        level=SegmentLevel.L0,
        state=SegmentState.FLUSHED,
        created_ts=min(s.created_ts for s in sources),
    )
    target.compacted_from = tuple(s.id for s in sources)
    rel = delta_log_path(collection.id, scope, target.id, ctx.ids.allocate())
    stored = ctx.files.write_table(rel, merged)
    target.binlogs.append(Binlog.written(rel, merged.num_rows, stored))
    if not collection.swap_segments(channel, sources, [target]):
        _delete_files(collection, [target])
        return None
    _delete_files(collection, sources)
    return target.id


def plan_group(
    collection: Collection, segments: Sequence[Segment], *, forced: bool, quiet: bool = True
) -> list[list[Segment]]:
    """The merges worth running now in one group (``forced``: a manual compaction).

    ``quiet``: nothing has been written to the group's shard for a while.  The
    background pass first merges segments of one size tier (:func:`_tiered`):
    cheap merges that cut the segment count fast and rewrite a row about once
    per tier while writes go on.  Only a quiet group (or a forced one) then
    has its small segments packed, oldest first, into merges of at most
    ``segments.max_bytes`` each, so one merge writes (and indexes) about one
    full segment however far behind compaction is; a merge of one segment is
    no merge, and a background merge needs ``AUTO_MIN_SEGMENTS`` segments or
    ``COMPACTABLE_SHARE`` of a full one (Milvus's trigger), and underfull
    segments that would fit in fewer are consolidated (:func:`_consolidation`).
    Without any of these, the first segment whose deleted or expired rows reach
    ``DELETED_SHARE`` (any, when forced) is rewritten alone.  Merges run
    smallest first.  Clustered (L2) segments are only ever rewritten alone:
    clustering compaction (:mod:`sluice.engine.clustering`) owns their ranges.
    """
    max_bytes = collection.ctx.settings.segments.max_bytes
    # Clustered (L2) segments each hold one key range: merging would blur the ranges.
    unclustered = [s for s in segments if s.level != SegmentLevel.L2]
    small = [s for s in unclustered if s.nbytes < max_bytes * SMALL_SHARE]
    merges = [] if forced else _tiered(small, max_bytes)
    if not merges and (forced or quiet):
        merges = _packed(small, max_bytes, forced)
    if merges:
        return sorted(merges, key=lambda m: sum(s.nbytes for s in m))
    consolidate = _consolidation(unclustered, max_bytes) if forced or quiet else []
    if consolidate:
        return [consolidate]
    ts = collection.ctx.tso.allocate()
    for segment in segments:
        dead = _dead_rows(collection, segment, ts, forced)
        if dead and (forced or dead >= DELETED_SHARE * segment.num_rows):
            return [[segment]]
    return []


def _packed(small: Sequence[Segment], max_bytes: int, forced: bool) -> list[list[Segment]]:
    """Small segments packed oldest first into merges of one segment's worth at most."""
    merges = _pack(small, max_bytes)
    return [m for m in merges if len(m) >= 2 and (forced or _worth(m, max_bytes))]


def _pack(segments: Sequence[Segment], max_bytes: int) -> list[list[Segment]]:
    merges: list[list[Segment]] = [[]]
    filled = 0
    for segment in segments:
        if merges[-1] and filled + segment.nbytes > max_bytes:
            merges.append([])
            filled = 0
        merges[-1].append(segment)
        filled += segment.nbytes
    return [m for m in merges if m]


def tier(nbytes: int, max_bytes: int) -> int:
    """A small segment's size tier: tier ``k`` spans ``TIER_FLOOR * 3**k`` up to ``3**(k+1)``.

    The base is ``AUTO_MIN_SEGMENTS``, so a merge of that many segments of one
    tier always lands in a higher tier.
    """
    floor = max_bytes * TIER_FLOOR_SHARE
    if nbytes < floor * AUTO_MIN_SEGMENTS:
        return 0
    return int(math.log(nbytes / floor, AUTO_MIN_SEGMENTS))


def _tiered(small: Sequence[Segment], max_bytes: int) -> list[list[Segment]]:
    """Merges for a group still being written: segments of similar size only.

    Packing every small segment would merge a merge's output again with each
    new flush, re-indexing the same rows pass after pass while writes go on.
    Merging ``AUTO_MIN_SEGMENTS`` or more segments of one size tier instead
    moves rows up one tier per merge, so a row is rewritten (and re-indexed)
    about once per tier, a logarithmic number of times.  Small segments that
    fill ``COMPACTABLE_SHARE`` of a segment together are merged whatever their
    tiers: the output is not small and is never merged again for size.
    """
    by_tier: dict[int, list[Segment]] = {}
    for segment in small:
        by_tier.setdefault(tier(segment.nbytes, max_bytes), []).append(segment)
    merges = [
        merge
        for members in by_tier.values()
        for merge in _pack(members, max_bytes)
        if len(merge) >= AUTO_MIN_SEGMENTS
    ]
    if merges:
        return merges
    largest_first = sorted(small, key=lambda s: s.nbytes, reverse=True)
    return [
        merge
        for merge in _pack(largest_first, max_bytes)
        if len(merge) >= 2 and sum(s.nbytes for s in merge) >= COMPACTABLE_SHARE * max_bytes
    ]


def _consolidation(segments: Sequence[Segment], max_bytes: int) -> list[Segment]:
    """Underfull segments that fit in fewer: the largest ones until one full segment's worth.

    Segments between half and ``COMPACTABLE_SHARE`` of ``max_bytes`` are not
    small, so Milvus's policy leaves them; after churn a shard can keep three
    or four of them where two would hold the rows, and every extra segment
    costs each search another index probe.  When the underfull segments would
    fit in fewer, the largest are merged until they fill one segment (at most
    two segments' worth): the merge writes one full segment and a remainder,
    so each merge leaves one underfull segment fewer.
    """
    underfull = sorted(
        (s for s in segments if s.nbytes < COMPACTABLE_SHARE * max_bytes),
        key=lambda s: s.nbytes,
        reverse=True,
    )
    total = sum(s.nbytes for s in underfull)
    if len(underfull) < 2 or math.ceil(total / max_bytes) >= len(underfull):
        return []
    merge: list[Segment] = []
    filled = 0
    for segment in underfull:
        if merge and filled + segment.nbytes > 2 * max_bytes:
            continue
        merge.append(segment)
        filled += segment.nbytes
        if filled >= max_bytes:
            break
    return merge if len(merge) >= 2 else []


def _worth(merge: Sequence[Segment], max_bytes: int) -> bool:
    """Milvus's trigger for a background merge: enough segments, or enough bytes."""
    return (
        len(merge) >= AUTO_MIN_SEGMENTS
        or sum(s.nbytes for s in merge) >= COMPACTABLE_SHARE * max_bytes
    )


def mix_compact(
    collection: Collection,
    channel: Channel,
    sources: Sequence[Segment],
    cancelled: Callable[[], bool] = lambda: False,
) -> tuple[int, ...] | None:
    """Merge ``sources``; return the new segments' IDs, or ``None`` when abandoned."""
    rows = live_rows(collection, sources)
    if rows is None:
        return None
    merged = by_primary_key(collection, rows)
    if all(s.level == SegmentLevel.L2 for s in sources):
        # A clustered segment rewritten for its deletes stays clustered.
        key = collection.schema.clustering_key
        chunks = [(merged, key_range(merged, key))] if merged.num_rows else []
        level = SegmentLevel.L2
    else:
        max_bytes = collection.ctx.settings.segments.max_bytes
        chunks = [(chunk, None) for chunk in cut(merged, max_bytes)]
        level = SegmentLevel.L1
    return commit_rewrite(collection, channel, sources, chunks, level, cancelled)


def live_rows(collection: Collection, sources: Sequence[Segment]) -> pa.Table | None:
    """The rows of ``sources`` live now (not deleted, not expired), in schema order.

    Every row keeps its insert timestamp.  ``None`` when a source is gone.
    """
    ts = collection.ctx.tso.allocate()
    snapshot = collection.snapshot(
        ts,
        partitions=frozenset({sources[0].partition_id}),
        expire_before=expire_before(collection.meta.properties, ts),
        segment_ids=frozenset(s.id for s in sources),
    )
    views = {view.segment_id: view for view in snapshot.segments}
    parts = []
    for segment in sources:
        view = views.get(segment.id)
        if view is None:
            return None
        table = view.table()
        mask = visible(view, snapshot)
        parts.append(table if mask is None else table.filter(pa.array(mask)))
    order = [f.name for f in collection.schema.fields] + [TS_COLUMN]
    return pa.concat_tables([p.select(order) for p in parts]).combine_chunks()


def by_primary_key(collection: Collection, rows: pa.Table) -> pa.Table:
    """``rows`` sorted by primary key (then insert timestamp): compaction output is sorted."""
    if rows.num_rows == 0:
        return rows
    return rows.sort_by([(collection.schema.primary.name, "ascending"), (TS_COLUMN, "ascending")])


def commit_rewrite(
    collection: Collection,
    channel: Channel,
    sources: Sequence[Segment],
    chunks: Sequence[tuple[pa.Table, tuple[Any, Any] | None]],
    level: SegmentLevel,
    cancelled: Callable[[], bool],
) -> tuple[int, ...] | None:
    """Write ``chunks`` (rows, clustering-key range) as segments replacing ``sources``.

    The new IDs, or ``None`` when abandoned (cancelled, or the sources changed).
    """
    ctx = collection.ctx
    created = min(s.created_ts for s in sources)
    origins = tuple(s.id for s in sources)
    partition = sources[0].partition_id
    targets = _write(collection, channel, partition, chunks, created, origins, level, cancelled)
    if targets is None:
        return None
    if not collection.swap_segments(channel, sources, targets):
        _delete_files(collection, targets)
        evict_unserved(ctx, collection, sources)  # read for the merge, released
        return None
    _delete_files(collection, sources)
    for segment in targets:
        ctx.request_index(collection, segment)  # token indexes and anything declared meanwhile
    log.info(
        "compacted segments %s of collection %s into %s (%d rows, level %s)",
        [s.id for s in sources],
        collection.name,
        [s.id for s in targets],
        sum(chunk.num_rows for chunk, _ in chunks),
        level.name,
    )
    return tuple(s.id for s in targets)


def cut(rows: pa.Table, max_bytes: int) -> list[pa.Table]:
    """``rows`` in consecutive slices of about ``max_bytes`` each (none when empty)."""
    if rows.num_rows == 0:
        return []
    per_row = max(1, rows.nbytes // rows.num_rows)
    step = max(1, max_bytes // per_row)
    return [rows.slice(start, step) for start in range(0, rows.num_rows, step)]


def key_range(rows: pa.Table, key: FieldSchema | None) -> tuple[Any, Any] | None:
    """The lowest and highest clustering-key value in ``rows`` (``(None, None)``: only nulls)."""
    if key is None:
        return None
    bounds = pc.min_max(rows.column(key.name))
    return bounds["min"].as_py(), bounds["max"].as_py()


def _write(
    collection: Collection,
    channel: Channel,
    partition: int,
    chunks: Sequence[tuple[pa.Table, tuple[Any, Any] | None]],
    created_ts: int,
    sources: tuple[int, ...],
    level: SegmentLevel,
    cancelled: Callable[[], bool],
) -> list[Segment] | None:
    """The rows as Flushed segments with binlogs and built indexes (not yet visible)."""
    ctx = collection.ctx
    written: list[Segment] = []
    try:
        for chunk, cluster_range in chunks:
            segment = Segment(
                ctx.ids.allocate(),
                collection_id=collection.id,
                partition_id=partition,
                channel=channel.name,
                schema=collection.schema,
                level=level,
                state=SegmentState.FLUSHED,
                created_ts=created_ts,
            )
            segment.is_sorted = True
            segment.compacted_from = sources
            segment.cluster_range = cluster_range
            written.append(segment)
            rel = insert_log_path(collection.id, partition, segment.id, ctx.ids.allocate())
            stored = ctx.files.write_table(rel, chunk)
            segment.load(chunk)
            segment.binlogs.append(Binlog.written(rel, chunk.num_rows, stored))
            segment.synced_rows = chunk.num_rows
            for index in list(collection.meta.indexes):
                if cancelled():
                    _delete_files(collection, written)
                    return None
                if is_emb_list_index(collection, index):
                    continue  # searched exactly: nothing to build
                rel_index, built = build_index_file(ctx, collection, segment, index, cancelled)
                segment.index_files[index.index_id] = rel_index
                segment.indexes = {**segment.indexes, index.index_id: built}
    except BaseException:
        _delete_files(collection, written)
        raise
    return written


def _delete_files(collection: Collection, segments: Sequence[Segment]) -> None:
    files = collection.ctx.files
    for segment in segments:
        forget_segment(collection.ctx, collection.id, segment.id)
        paths = [b.path for b in segment.binlogs]
        paths += [*segment.index_files.values(), *segment.text_index_files.values()]
        for rel in paths:
            try:
                files.delete_file(rel)
            except OSError as exc:  # start-up removes what stays behind
                log.warning("could not delete %s after compaction: %s", rel, exc)


def _dead_rows(collection: Collection, segment: Segment, ts: int, read_released: bool) -> int:
    """Rows of ``segment`` deleted or expired at ``ts``.

    A segment not in memory (released) counts 0 unless ``read_released``: a
    background pass does not load released segments to look for deletes,
    ManualCompaction does (and evicts them again).
    """
    if not segment.resident and not read_released:
        return 0
    snapshot = collection.snapshot(
        ts,
        partitions=frozenset({segment.partition_id}),
        expire_before=expire_before(collection.meta.properties, ts),
        segment_ids=frozenset({segment.id}),
    )
    for view in snapshot.segments:
        if view.segment_id == segment.id:
            mask = visible(view, snapshot)
            return 0 if mask is None else int(np.count_nonzero(~mask))
    return 0
