"""Reading a Flushed segment's files into memory: its rows, indexes and placement.

Start-up and LoadCollection share these steps (:func:`load_segment`), and a
non-resident segment runs them the first time something reads its rows (see
:mod:`sluice.engine.residency`):

1. the binlogs, checksummed; an index that stores the raw vectors unchanged
   (FLAT/HNSW on L2) is loaded first and supplies them, so that column is not
   decoded (:func:`~sluice.engine.index_builds.indexes_holding_vectors`);
2. the other index files the manifest names (a damaged one is forgotten and
   rebuilt by the index builder);
3. the token indexes of ``text_match`` fields;
4. placement: mapped or in memory, as ``mmap.enabled`` says.

Nothing here writes a segment file; a damaged index file is deleted, as at
start-up, so that the builder writes it again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sluice.engine.collection import Collection
from sluice.engine.columns import SegmentIndex
from sluice.engine.context import EngineContext
from sluice.engine.index_builds import indexes_holding_vectors, load_segment_indexes
from sluice.engine.placement import place_segment
from sluice.engine.segment import Binlog, Segment, SegmentLevel, SegmentState
from sluice.engine.text_match_files import load_text_indexes
from sluice.types import Storage, type_info

#: Bytes per row of the key and insert-timestamp columns.
_KEY_AND_TS_BYTES = 16


def restore_segment(ctx: EngineContext, collection: Collection, raw: dict[str, Any]) -> Segment:
    """A segment from its manifest entry, without its rows (a delete segment's deletes are read).

    Segments that were Sealed or Flushing come back Sealed: their final sync
    runs again.
    """
    state = SegmentState(int(raw["state"]))
    if state in (SegmentState.SEALED, SegmentState.FLUSHING):
        state = SegmentState.SEALED
    segment = Segment(
        int(raw["id"]),
        collection_id=collection.id,
        partition_id=int(raw["partition"]),
        channel=str(raw["channel"]),
        schema=collection.schema,
        level=SegmentLevel(int(raw["level"])),
        state=state,
        created_ts=int(raw["created_ts"]),
    )
    binlogs = [Binlog.from_dict(b) for b in raw["binlogs"]]
    segment.binlogs.extend(binlogs)
    segment.index_files = {int(k): str(v) for k, v in raw.get("index_files", {}).items()}
    segment.text_index_files = {str(k): str(v) for k, v in raw.get("text_index_files", {}).items()}
    segment.is_sorted = bool(raw.get("is_sorted", False))
    segment.compacted_from = tuple(int(i) for i in raw.get("compacted_from", ()))
    cluster_range = raw.get("cluster_range")
    if cluster_range is not None:
        segment.cluster_range = (cluster_range[0], cluster_range[1])
    if segment.level == SegmentLevel.L0:
        for binlog in binlogs:
            table = ctx.files.read_table(binlog.path, binlog.expected)
            keys = table.column("pk").to_numpy(zero_copy_only=False)
            stamps = table.column("ts").to_numpy().astype(np.uint64)
            collection.deletes.add(keys, stamps, segment.partition_id)
        return segment
    if state != SegmentState.DROPPED:
        segment.synced_rows = sum(b.rows for b in binlogs)
    segment.synced_end = int(raw["synced_end"])
    return segment


def deferrable(segment: Segment) -> bool:
    """Whether a restored segment may stay non-resident: Flushed data, all rows in binlogs."""
    return (
        segment.state == SegmentState.FLUSHED
        and segment.level != SegmentLevel.L0
        and any(b.rows for b in segment.binlogs)
    )


def estimated_bytes(collection: Collection, segment: Segment) -> int:
    """What a non-resident segment's rows would take in memory, from its binlogs.

    Fixed-width columns (keys, timestamps, dense vectors) by their width;
    the rest by the binlogs' size, which is at least what compressed
    variable-length data takes.
    """
    rows = sum(b.rows for b in segment.binlogs)
    fixed = _KEY_AND_TS_BYTES
    for field in collection.schema.fields:
        info = type_info(field.dtype)
        if info.storage == Storage.DENSE and info.numpy_dtype is not None:
            fixed += np.dtype(info.numpy_dtype).itemsize * info.matrix_width(field)
    return max(rows * fixed, sum(b.bytes for b in segment.binlogs))


def load_rows(ctx: EngineContext, collection: Collection, segment: Segment) -> None:
    """Read a restored data segment's binlogs into it, with its index files (see above)."""
    preloaded: dict[int, SegmentIndex] = {}
    if segment.state != SegmentState.DROPPED:
        vectors: dict[str, np.ndarray] = {}
        binlogs = segment.binlogs
        if segment.state == SegmentState.FLUSHED and segment.index_files:
            # Vectors an index stores are not read (nor decoded) from the binlogs.
            rows = sum(b.rows for b in binlogs)
            preloaded, vectors = indexes_holding_vectors(ctx, collection, segment, rows)
        if preloaded:
            skip = frozenset(vectors)
            tables = [ctx.files.read_table(b.path, b.expected, skip=skip) for b in binlogs]
            segment.load_with_vectors(tables, vectors)
        else:
            for binlog in binlogs:
                segment.load(ctx.files.read_table(binlog.path, binlog.expected))
    if segment.index_files:
        load_segment_indexes(ctx, collection, segment, preloaded)
    if segment.text_index_files:
        load_text_indexes(ctx, collection, segment)


def load_segment(ctx: EngineContext, collection: Collection, segment: Segment) -> None:
    """One data segment's rows, indexes and placement, before the next is read.

    Each loading worker holds one segment's files at a time, so a collection
    larger than memory never sits in memory whole.  Also the loader of a
    non-resident segment (:meth:`~sluice.engine.segment.Segment.make_resident`).
    """
    files = (len(segment.index_files), len(segment.text_index_files))
    load_rows(ctx, collection, segment)
    place_segment(ctx, collection, segment)
    if (len(segment.index_files), len(segment.text_index_files)) != files:
        ctx.request_index(collection, segment)  # a damaged file was forgotten: build it again
