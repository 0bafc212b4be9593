"""Which Flushed segments hold their rows in memory: those of loaded partitions.

As in Milvus, a released collection's (or partition's) segments are not
held in memory.  A Flushed data segment of a partition that is not loaded is
*non-resident*: metadata only (binlogs, index files, row count, size).

* Start-up restores a collection with no loaded partition without reading
  its data segments (delete segments are read: they fill the delete log);
  other collections load as before.
* LoadCollection / LoadPartitions read the non-resident segments of the
  partitions they load, a few at a time (:func:`make_resident`).
* ReleaseCollection / ReleasePartitions evict the released partitions'
  Flushed data segments (:func:`evict_unserved`): columns, loaded indexes,
  key index, token indexes and mapped files go; views already handed to
  readers keep their arrays.  Growing and Sealed segments stay: some of
  their rows are in no binlog yet.

Every reader of rows goes through ``Segment.view()``, which loads a
non-resident segment first, so compaction, index builds, deletes by
expression and exports stay correct on a released collection.  Paths that
load a released segment as a side effect (index builds, compaction) evict
it again when done.  Nothing here writes a segment file: only the
segment's copies in the mapped-files cache are deleted on eviction.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from sluice.engine.collection import Collection
from sluice.engine.context import EngineContext
from sluice.engine.freed_memory import release_freed_memory
from sluice.engine.segment import Segment, SegmentLevel, SegmentState

log = logging.getLogger(__name__)

#: Data segments loaded at once (one per core, at least two: file reads overlap).
LOADING_THREADS = max(2, os.cpu_count() or 1)


def served(collection: Collection, segment: Segment) -> bool:
    """Whether ``segment``'s partition is loaded (its rows belong in memory)."""
    return segment.partition_id in collection.meta.loaded_partition_ids


def make_resident(segments: Iterable[Segment]) -> int:
    """Load the non-resident ``segments``, a few at a time; return how many were loaded."""
    waiting = [s for s in segments if not s.resident]
    if not waiting:
        return 0
    workers = max(1, min(LOADING_THREADS, len(waiting)))
    with ThreadPoolExecutor(workers, thread_name_prefix="sluice-load") as pool:
        list(pool.map(lambda s: s.make_resident(), waiting))
    release_freed_memory()  # what the finished workers' allocators kept
    return len(waiting)


def load_served(collection: Collection) -> int:
    """Load the non-resident segments of every loaded partition (LoadCollection/Partitions)."""
    return make_resident(s for s in collection.segments() if served(collection, s))


def evict_segment(ctx: EngineContext, collection: Collection, segment: Segment) -> bool:
    """Drop a Flushed data segment's rows, indexes and mapped files; ``False`` if it keeps them."""
    loader = collection.segment_loader
    if loader is None or not segment.evict(loader):
        return False
    collection.text_match.forget(segment.id)
    ctx.stores.mapped.remove_segment(collection.id, segment.id)
    return True


def evict_unserved(
    ctx: EngineContext, collection: Collection, segments: Iterable[Segment] | None = None
) -> int:
    """Evict the resident Flushed data segments (of ``segments``, or all) of unloaded partitions."""
    candidates = collection.segments() if segments is None else segments
    evicted = 0
    for segment in list(candidates):
        if (
            segment.resident
            and segment.state == SegmentState.FLUSHED
            and segment.level != SegmentLevel.L0
            and not served(collection, segment)
            and evict_segment(ctx, collection, segment)
        ):
            evicted += 1
    if evicted:
        release_freed_memory()
        log.info("collection %s: %d released segment(s) left memory", collection.name, evicted)
    return evicted
