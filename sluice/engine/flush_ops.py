"""The engine's flush and segment operations: Flush, flush state, FlushAll, segment listings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sluice.engine import flush
from sluice.engine.core import EngineCore
from sluice.engine.ratelimit import FlushRateLimiter
from sluice.engine.segment import SegmentLevel, SegmentState
from sluice.errors import CollectionNotLoaded, ParameterInvalid


@dataclass(frozen=True)
class SegmentInfo:
    segment_id: int
    collection_id: int
    partition_id: int
    num_rows: int
    state: SegmentState
    level: SegmentLevel
    channel: str


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


@dataclass(frozen=True)
class FlushAllResult:
    flush_all_ts: int
    pchannels: list[str]


class FlushOps(EngineCore):
    flush_limiter: FlushRateLimiter

    def flush(self, db: str, names: Sequence[str]) -> flush.FlushResult:
        self._check_open()
        self._check_db(db)
        # Milvus loops over the names; naming a collection twice flushes it once.
        named = [(name, self.get(db, name)) for name in dict.fromkeys(names)]
        for _, collection in named:
            self.flush_limiter.admit(collection.id)
        return flush.flush_collections(db, named, self.ctx.tso.allocate)

    def flush_state(
        self, db: str, name: str, segment_ids: Sequence[int], flush_ts: int, wait_seconds: float
    ) -> bool:
        collection = self.get(db, name)
        return flush.wait_until(
            [collection], lambda: collection.flushed(segment_ids, flush_ts), wait_seconds
        )

    def flush_all(self) -> FlushAllResult:
        """Flush every collection of every database with one timestamp (Milvus 2.6 semantics)."""
        self._check_open()
        named = [(c.name, c) for c in self.collections.values()]
        if named:
            result = flush.flush_collections("", named, self.ctx.tso.allocate)
            flush_ts = next(iter(result.collections.values())).flush_ts
        else:
            flush_ts = self.ctx.tso.allocate()
        pchannels = sorted({p for c in self.collections.values() for p in c.meta.pchannels})
        return FlushAllResult(flush_ts, pchannels)

    def flush_all_state(
        self, flush_all_ts: int, per_pchannel: Mapping[str, int], wait_seconds: float
    ) -> bool:
        self._check_open()
        collections = list(self.collections.values())
        if per_pchannel:
            missing = {p for c in collections for p in c.meta.pchannels} - set(per_pchannel)
            if missing:
                raise ParameterInvalid.msg(
                    f"flush_all_tss is missing pchannel {sorted(missing)[0]}"
                )
        elif flush_all_ts == 0:
            raise ParameterInvalid.msg("flush_all_ts or flush_all_tss is required")
        return flush.wait_until(
            collections,
            lambda: flush.flush_all_reached(collections, flush_all_ts, dict(per_pchannel)),
            wait_seconds,
        )

    def loaded_segments(self, db: str, name: str) -> list[LoadedSegment]:
        """Flushed segments of loaded partitions (growing data is not listed, as in Milvus)."""
        collection = self.get(db, name)
        loaded = collection.meta.loaded_partition_ids
        if not loaded:
            raise CollectionNotLoaded.named(name)
        index = collection.meta.indexes[0] if collection.meta.indexes else None
        return [
            LoadedSegment(
                segment_id=s.id,
                collection_id=collection.id,
                partition_id=s.partition_id,
                num_rows=s.num_rows,
                mem_size=s.nbytes,
                index_name=index.index_name if index and index.index_id in s.indexes else "",
                index_id=index.index_id if index and index.index_id in s.indexes else 0,
                level=s.level,
            )
            for s in sorted(collection.segments(), key=lambda s: s.id)
            if s.state == SegmentState.FLUSHED
            and s.level != SegmentLevel.L0
            and s.num_rows
            and s.partition_id in loaded
        ]

    def persistent_segments(self, db: str, name: str) -> list[SegmentInfo]:
        """Sealed, Flushing and Flushed segments (L0 included), as GetPersistentSegmentInfo lists them."""
        collection = self.get(db, name)
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
            )
            for s in sorted(collection.segments(), key=lambda s: s.id)
            if s.state in shown
        ]
