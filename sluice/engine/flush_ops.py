"""The engine's flush and segment operations: Flush, flush state, FlushAll, segment listings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sluice.engine import flush, segment_listing
from sluice.engine.collection import Collection
from sluice.engine.core import EngineCore
from sluice.engine.persist import Persister
from sluice.engine.ratelimit import FlushRateLimiter
from sluice.engine.segment_listing import LoadedSegment, SegmentInfo
from sluice.errors import ParameterInvalid


@dataclass(frozen=True)
class FlushAllResult:
    flush_all_ts: int
    pchannels: list[str]


class FlushOps(EngineCore):
    flush_limiter: FlushRateLimiter
    _persister: Persister

    def flush(self, db: str, names: Sequence[str]) -> flush.FlushResult:
        self._check_open()
        self._check_db(db)
        # Milvus loops over the names; naming a collection twice flushes it once.
        named = [(name, self.get(db, name)) for name in dict.fromkeys(names)]
        for _, collection in named:
            self._raise_persist_failure(collection)
            self.flush_limiter.admit(collection.id)
        return flush.flush_collections(db, named, self.ctx.tso.allocate)

    def flush_state(
        self, db: str, name: str, segment_ids: Sequence[int], flush_ts: int, wait_seconds: float
    ) -> bool:
        """GetFlushState; without ``name`` (the Node SDK's flushSync) the segments' own collections."""
        if name:
            collections = [self.get(db, name)]
        else:
            self._check_open()
            self._check_db(db)
            collections = flush.collections_holding(
                [c for c in self.collections.values() if c.meta.db == db], segment_ids
            )

        def flushed() -> bool:
            if all(c.flushed(segment_ids, flush_ts) for c in collections):
                return True
            for collection in collections:
                self._raise_persist_failure(collection)
            return False

        return flush.wait_until(collections, flushed, wait_seconds)

    def _raise_persist_failure(self, collection: Collection) -> None:
        """A flush cannot complete while persisting its collection fails: say why."""
        failure = self._persister.failure(collection)
        if failure is not None:
            raise failure

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

        def flushed() -> bool:
            if flush.flush_all_reached(collections, flush_all_ts, dict(per_pchannel)):
                return True
            for collection in collections:
                self._raise_persist_failure(collection)
            return False

        return flush.wait_until(collections, flushed, wait_seconds)

    def loaded_segments(self, db: str, name: str) -> list[LoadedSegment]:
        """Flushed segments of loaded partitions (growing data is not listed, as in Milvus)."""
        return segment_listing.loaded_segments(self.get(db, name))

    def persistent_segments(self, db: str, name: str) -> list[SegmentInfo]:
        """Sealed, Flushing and Flushed segments (L0 included), as GetPersistentSegmentInfo lists them."""
        return segment_listing.persistent_segments(self.get(db, name))
