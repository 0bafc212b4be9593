"""Clustering compaction: a shard's rows of one partition re-cut by clustering-key range.

A collection whose schema names a clustering key can be compacted with
``compact(is_clustering=True)`` (Milvus's major compaction).  The live rows
of every Flushed data segment of a (shard, partition) group are ordered by
the clustering key and cut into segments of about ``segments.max_bytes``
each, so every new segment holds one contiguous range of key values (a run
of equal values is not split unless it alone outgrows two segments; null
keys come last, in segments of their own).  Each new segment is then sorted
by primary key like any compaction output, is level L2 (Milvus's level for
clustered segments) and records its key range.  Reads whose filter confines
the key (``==``, ``in``, comparisons, and ``and``/``or`` of them: see
:mod:`sluice.query.key_ranges`) skip the segments whose range it rules out.

The new segments are written, indexed and swapped in exactly as a mix
compaction's (:func:`sluice.engine.compaction.commit_rewrite`): one manifest
commit, old readers keep their snapshot, a crash leaves either side whole.
Clustered segments are never merged by mix compaction (which would blur
their ranges), only rewritten alone when deletes pile up; rows flushed later
land in ordinary L1 segments until the next clustering compaction takes them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise

import numpy as np
import pyarrow as pa

from sluice.engine.channel import Channel
from sluice.engine.collection import Collection
from sluice.engine.compaction import by_primary_key, commit_rewrite, cut, key_range, live_rows
from sluice.engine.segment import Segment, SegmentLevel

#: A run of equal key values is kept in one segment up to this many segments' worth.
MAX_RUN_SEGMENTS = 2


def worth_clustering(segments: Sequence[Segment]) -> bool:
    """A group needs clustering while it holds rows not yet clustered (a segment below L2).

    Level L2 is the one mark of a clustered segment, as in
    :func:`sluice.engine.compaction.plan_group`; the key range only serves pruning.
    """
    return any(s.level != SegmentLevel.L2 for s in segments)


def cluster_compact(
    collection: Collection,
    channel: Channel,
    sources: Sequence[Segment],
    cancelled: Callable[[], bool] = lambda: False,
) -> tuple[int, ...] | None:
    """Re-cut ``sources`` by clustering key; the new segments' IDs, or ``None`` when abandoned."""
    key = collection.schema.clustering_key
    if key is None:  # the key cannot be dropped; a collection without one is never planned
        return None
    rows = live_rows(collection, sources)
    if rows is None:
        return None
    max_bytes = collection.ctx.settings.segments.max_bytes
    chunks = [
        (by_primary_key(collection, part), key_range(part, key))
        for part in key_slices(rows, key.name, max_bytes)
    ]
    return commit_rewrite(collection, channel, sources, chunks, SegmentLevel.L2, cancelled)


def key_slices(rows: pa.Table, key: str, max_bytes: int) -> list[pa.Table]:
    """``rows`` ordered by ``key`` (nulls last) and cut into slices of about ``max_bytes``.

    A cut that would fall inside a run of equal keys moves to the run's end,
    so one key value lives in one segment and an equality filter reads one;
    a run longer than ``MAX_RUN_SEGMENTS`` segments is cut anyway.
    """
    if rows.num_rows == 0:
        return []
    ordered = rows.sort_by([(key, "ascending", "at_end")])
    column = ordered.column(key)
    valid = ordered.num_rows - column.null_count
    per_row = max(1, ordered.nbytes // ordered.num_rows)
    step = max(1, max_bytes // per_row)
    values = column.slice(0, valid).to_numpy(zero_copy_only=False)
    cuts = [0]
    while cuts[-1] + step < valid:
        nominal = cuts[-1] + step
        run_end = int(np.searchsorted(values, values[nominal - 1], side="right"))
        cuts.append(run_end if run_end - cuts[-1] <= MAX_RUN_SEGMENTS * step else nominal)
    if cuts[-1] < valid:
        cuts.append(valid)
    slices = [ordered.slice(start, end - start) for start, end in pairwise(cuts) if end > start]
    return slices + cut(ordered.slice(valid), max_bytes)
