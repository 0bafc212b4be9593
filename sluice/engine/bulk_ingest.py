"""Ingesting validated rows as flushed segments, without the WAL.

A bulk import must not push a million rows through the write-ahead log and
the growing-segment machinery one batch at a time: the rows are already on
storage in a file, so they are checked (:func:`~sluice.engine.ingest.prepare_rows`,
the insert rules), stamped with one timestamp, split by shard with the
insert's routing, cut into segments of at most ``segments.max_bytes`` and
written as binlogs directly.

Crash safety, in order:

1. every binlog file is written and fsynced (``SegmentFiles.write_table``);
2. one metadata commit names all the new segments in the collection's manifest,
   together with whatever else the caller commits (the import job's
   ``Completed`` record);
3. only then are the segments added to their channels, so readers never see
   rows a crash could take back.

A crash before step 2 leaves files no manifest names, which the next start
deletes (``recovery._remove_unreferenced_files``); nothing is half-imported.
Index builds for the new segments are queued after the commit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from sluice.engine.collection import Collection
from sluice.engine.functions import with_outputs
from sluice.engine.ingest import Column, prepare_rows, primary_keys
from sluice.engine.partition_keys import partition_key_field, route_rows
from sluice.engine.persist import insert_log_path
from sluice.engine.routing import shard_of
from sluice.engine.segment import Binlog, Segment, SegmentState
from sluice.errors import CollectionNotFound
from sluice.schema import TS_COLUMN


@dataclass(frozen=True)
class WrittenSegments:
    """Segments whose files exist but which no manifest names yet."""

    by_channel: dict[str, list[Segment]]
    rows: int
    timestamp: int

    @property
    def segment_ids(self) -> list[int]:
        return [s.id for segments in self.by_channel.values() for s in segments]

    @property
    def files(self) -> list[str]:
        return [b.path for segs in self.by_channel.values() for s in segs for b in s.binlogs]


def prepare_batch(collection: Collection, columns: Sequence[Column], num_rows: int) -> pa.Table:
    """Columns read from a file, checked and completed as an insert's would be.

    Function outputs (BM25 rows, embeddings) are computed here too: files
    carry only the input fields, as inserts do.
    """
    settings = collection.ctx.settings.functions
    columns = with_outputs(collection.schema, settings, columns, num_rows)
    return prepare_rows(collection.schema, columns, num_rows, collection.ctx.ids.allocate)


def write_segments(
    collection: Collection,
    partition_id: int | None,
    tables: Sequence[pa.Table],
    progress: Callable[[int], None] = lambda rows: None,
) -> WrittenSegments:
    """Write ``tables`` as flushed segments' binlogs (step 1); ``progress`` gets rows written.

    ``partition_id`` ``None`` routes each row to its partition-key partition,
    as inserts into a partition-key collection are routed.
    """
    ctx = collection.ctx
    ts = ctx.tso.allocate()
    rows = pa.concat_tables(tables) if len(tables) != 1 else tables[0]
    rows = rows.combine_chunks()
    stamped = rows.append_column(TS_COLUMN, pa.array(np.full(rows.num_rows, ts, dtype=np.uint64)))
    channels = collection.channels
    shards = (
        np.zeros(rows.num_rows, dtype=np.int64)
        if len(channels) == 1
        else shard_of(primary_keys(rows, collection.schema), len(channels))
    )
    if partition_id is None:
        key = partition_key_field(collection.schema)
        assert key is not None
        partitions = route_rows(collection.meta, rows.column(key.name))
    else:
        partitions = np.full(rows.num_rows, partition_id, dtype=np.int64)
    max_bytes = ctx.settings.segments.max_bytes
    written: dict[str, list[Segment]] = {}
    total = 0
    for channel, target in sorted(
        {(c, int(p)) for c in channels for p in np.unique(partitions)},
        key=lambda x: (x[0].shard, x[1]),
    ):
        picked = np.flatnonzero((shards == channel.shard) & (partitions == target))
        if not len(picked):
            continue
        part = stamped if len(picked) == rows.num_rows else stamped.take(pa.array(picked))
        per_row = max(1, part.nbytes // max(part.num_rows, 1))
        step = max(1, max_bytes // per_row)
        for start in range(0, part.num_rows, step):
            chunk = part.slice(start, step)
            segment = Segment(
                ctx.ids.allocate(),
                collection_id=collection.id,
                partition_id=target,
                channel=channel.name,
                schema=collection.schema,
                state=SegmentState.FLUSHED,
                created_ts=ts,
            )
            rel = insert_log_path(collection.id, target, segment.id, ctx.ids.allocate())
            stored = ctx.files.write_table(rel, chunk)
            segment.load(chunk)
            segment.binlogs.append(Binlog.written(rel, chunk.num_rows, stored))
            segment.synced_rows = chunk.num_rows
            written.setdefault(channel.name, []).append(segment)
            total += chunk.num_rows
            progress(total)
    return WrittenSegments(written, total, ts)


def commit_segments(
    collection: Collection, written: WrittenSegments, also: Mapping[str, bytes]
) -> None:
    """Name the segments in the manifest in one commit with ``also`` (step 2), then expose them."""
    if not collection.save_manifest(written.by_channel, also):
        raise CollectionNotFound.named(collection.meta.db, collection.name)
    for segments in written.by_channel.values():
        for segment in segments:
            collection.ctx.request_index(collection, segment)


def discard(collection: Collection, written: WrittenSegments) -> None:
    """Delete the files of segments that will never be committed (best effort)."""
    for rel in written.files:
        # Whatever stays behind, the next start removes: no manifest names it.
        with contextlib.suppress(OSError):
            collection.ctx.files.delete_file(rel)
