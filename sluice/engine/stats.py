"""What an engine holds right now: collections, segments, rows, memory, caches.

Read when someone asks (a ``/metrics`` scrape, GetMetrics, ``sluice stats``),
never kept up to date on the write path.  Walking every segment of every
collection is a few dictionary reads per segment, cheap enough for a scrape
every few seconds even with thousands of segments.
"""

from __future__ import annotations

import os
import resource
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sluice.engine.segment import SegmentLevel, SegmentState

if TYPE_CHECKING:
    from sluice.engine.engine import Engine


@dataclass(frozen=True)
class CollectionStats:
    """One collection as ``sluice stats`` prints it."""

    db: str
    name: str
    collection_id: int
    loaded: bool
    #: Rows held in memory (growing + sealed + flushed, deletes not subtracted).
    rows: int
    #: Rows in segment files, as GetCollectionStatistics reports them.
    persisted_rows: int
    #: Data segments (level 1) by state name (``Growing``, ``Flushed``...).
    segments: dict[str, int]
    #: Level-0 (delete) segments.
    delete_segments: int
    #: Bytes of segment files (binlogs and delta logs) on storage.
    file_bytes: int
    memory_bytes: int
    #: Index name -> (indexed flushed segments, flushed segments).
    indexes: dict[str, tuple[int, int]]


@dataclass(frozen=True)
class EngineStats:
    collections: list[CollectionStats] = field(default_factory=list)
    #: Prepared search plans kept on collections (``sluice.engine.prepared_search``).
    search_plans: int = 0
    #: Filter row masks cached on segment snapshots.
    filter_masks: int = 0

    @property
    def segments_by_state(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for coll in self.collections:
            total.update(coll.segments)
        return dict(total)

    @property
    def memory_bytes(self) -> int:
        return sum(c.memory_bytes for c in self.collections)


_STATE_NAMES = {state: state.name.capitalize() for state in SegmentState}


def engine_stats(engine: Engine) -> EngineStats:
    """A consistent-enough picture of every collection (no lock is held across collections)."""
    collections = []
    plans = 0
    caches = 0
    for collection in list(engine.collections.values()):
        if collection.dropped:
            continue
        states: Counter[str] = Counter()
        rows = memory = file_bytes = deletes = 0
        flushed_ids = []
        for segment in collection.segments():
            file_bytes += sum(b.bytes for b in segment.binlogs)
            if segment.level == SegmentLevel.L0:
                deletes += 1
                continue
            states[_STATE_NAMES[segment.state]] += 1
            if segment.state == SegmentState.DROPPED:
                continue
            rows += segment.num_rows
            if segment.state == SegmentState.FLUSHED:
                flushed_ids.append(segment)
            if not segment.resident:
                continue  # a released segment: nothing in memory, and not read for stats
            memory += segment.nbytes
            caches += len(segment.view().__dict__.get("_filter_masks", ()))
        indexes = {
            index.index_name: (
                sum(1 for s in flushed_ids if index.index_id in s.index_files),
                len(flushed_ids),
            )
            for index in collection.meta.indexes
        }
        plans += len(collection.search_plans)
        collections.append(
            CollectionStats(
                db=collection.meta.db,
                name=collection.name,
                collection_id=collection.id,
                loaded=collection.meta.loaded,
                rows=rows,
                persisted_rows=collection.persisted_rows(),
                segments=dict(states),
                delete_segments=deletes,
                file_bytes=file_bytes,
                memory_bytes=memory,
                indexes=indexes,
            )
        )
    return EngineStats(collections, plans, caches)


def resident_memory_bytes() -> int:
    """This process's resident set size (``/proc``), or its peak where ``/proc`` is missing."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
