"""What GetPersistentSegmentInfo and GetQuerySegmentInfo report about a collection's segments."""

from __future__ import annotations

from dataclasses import dataclass

from sluice.engine.collection import Collection
from sluice.engine.indexes import is_vector_index
from sluice.engine.segment import SegmentLevel, SegmentState
from sluice.errors import CollectionNotLoaded


@dataclass(frozen=True)
class SegmentInfo:
    segment_id: int
    collection_id: int
    partition_id: int
    num_rows: int
    state: SegmentState
    level: SegmentLevel
    channel: str
    is_sorted: bool = False
    compacted_from: tuple[int, ...] = ()


@dataclass(frozen=True)
class LoadedSegment:
    """A sealed segment serving reads, as GetQuerySegmentInfo reports it."""

    segment_id: int
    collection_id: int
    partition_id: int
    num_rows: int
    mem_size: int
    index_name: str
    index_id: int
    level: SegmentLevel
    is_sorted: bool = False


def loaded_segments(collection: Collection) -> list[LoadedSegment]:
    """Flushed segments of the loaded partitions (growing data is not listed, as in Milvus)."""
    loaded = collection.meta.loaded_partition_ids
    if not loaded:
        raise CollectionNotLoaded.named(collection.name)
    declared = collection.meta.indexes
    index = next((i for i in declared if is_vector_index(collection, i)), None)
    return [
        LoadedSegment(
            segment_id=s.id,
            collection_id=collection.id,
            partition_id=s.partition_id,
            num_rows=s.num_rows,
            mem_size=s.nbytes,
            index_name=index.index_name if index and s.has_index(index.index_id) else "",
            index_id=index.index_id if index and s.has_index(index.index_id) else 0,
            level=s.level,
            is_sorted=s.is_sorted,
        )
        for s in sorted(collection.segments(), key=lambda s: s.id)
        if s.state == SegmentState.FLUSHED
        and s.level != SegmentLevel.L0
        and s.num_rows
        and s.partition_id in loaded
    ]


def persistent_segments(collection: Collection) -> list[SegmentInfo]:
    """Sealed, Flushing and Flushed segments (L0 included)."""
    shown = (SegmentState.SEALED, SegmentState.FLUSHING, SegmentState.FLUSHED)
    return [
        SegmentInfo(
            segment_id=s.id,
            collection_id=collection.id,
            partition_id=s.partition_id,
            num_rows=0 if s.level == SegmentLevel.L0 else s.num_rows,
            state=s.state,
            level=s.level,
            channel=s.channel,
            is_sorted=s.is_sorted,
            compacted_from=s.compacted_from,
        )
        for s in sorted(collection.segments(), key=lambda s: s.id)
        if s.state in shown
    ]
