"""The engine: one data folder, its catalog and every live collection.

Layout of a data folder::

    LOCK                 flock held while an engine has the folder open
    meta/                metadata store (sluice.storage.local_meta): the catalog
                         (sluice.engine.catalog), one manifest per collection
                         (sluice.engine.manifest), the timestamp window
                         (sluice.engine.tso) and the ID block (sluice.engine.ids)
    wal/<vchannel>/      one write-ahead log per shard (sluice.storage.wal)
    segments/insert_log/<coll>/<part>/<seg>/<log>.parquet   row binlogs
    segments/delta_log/<coll>/<part>/<seg>/<log>.parquet    delete logs

Both the gRPC server and the embedded client drive this class; it speaks in
Sluice types and raises :mod:`sluice.errors`, never protobuf.  Its operations
come in groups, one module each (databases, collections, schema changes,
partitions and load state, aliases, data, flush and segments, indexes); this
module only opens and closes the folder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sluice.config import Settings
from sluice.engine.aliases import AliasOps
from sluice.engine.catalog import DEFAULT_DB, Catalog, DatabaseMeta
from sluice.engine.collection import Collection
from sluice.engine.collection_ddl import CollectionDDL
from sluice.engine.context import EngineContext
from sluice.engine.data_ops import DataOps
from sluice.engine.flush_ops import FlushOps
from sluice.engine.ids import IdAllocator
from sluice.engine.index_builds import IndexBuilder
from sluice.engine.index_ops import IndexOps
from sluice.engine.persist import Persister, Ticker, persist_channel
from sluice.engine.ratelimit import FlushRateLimiter
from sluice.engine.recovery import open_collection
from sluice.engine.schema_changes import SchemaChanges
from sluice.engine.stores import Stores, open_stores
from sluice.engine.tso import TimestampOracle
from sluice.errors import ParameterInvalid
from sluice.storage.lock import DataDirLock

log = logging.getLogger(__name__)


class Engine(CollectionDDL, SchemaChanges, AliasOps, DataOps, FlushOps, IndexOps):
    """A data folder opened for reading and writing (one per process)."""

    def __init__(
        self,
        settings: Settings,
        *,
        wrap_stores: Callable[[Stores], Stores] | None = None,
    ) -> None:
        """Open ``settings.data_dir``; ``wrap_stores`` lets tests put a wrapper around storage."""
        self.settings = settings
        data = settings.data_dir
        data.mkdir(parents=True, exist_ok=True)
        self._lock = DataDirLock(data)
        self._lock.acquire()
        self._closed = False
        try:
            stores = open_stores(settings)
            if wrap_stores is not None:
                stores = wrap_stores(stores)
            self.stores = stores
            tso = TimestampOracle(stores.meta)
            ids = IdAllocator(stores.meta, first_id=tso.allocate())
            self.ctx = EngineContext(settings, stores, tso, ids)
            self.catalog = Catalog(stores.meta)
            if DEFAULT_DB not in self.catalog.databases:
                self.catalog.put_database(DatabaseMeta(1, DEFAULT_DB, tso.allocate()))
            self.flush_limiter = FlushRateLimiter(settings.flush.collection_rate)
            self.collections: dict[int, Collection] = {}
            self._remove_orphans()
            for meta in list(self.catalog.collections.values()):
                self.collections[meta.id] = open_collection(meta, self.ctx)
            self._persister = Persister(self.ctx, settings.flusher_threads)
            self.ctx.request_persist = self._persister.request
            self.index_builder = IndexBuilder(self.ctx)
            self.ctx.request_index = self.index_builder.request
            for collection in self.collections.values():
                self.index_builder.request_all(collection)
            for collection in self.collections.values():
                for channel in collection.channels:
                    # Urgent: a replayed flush may be waiting on deletes it covered.
                    self._persister.request(collection, channel, True)
            self._ticker = Ticker(self.ctx, self.collections)
        except BaseException:
            if hasattr(self, "stores"):
                self.stores.close()
            self._lock.release()
            raise
        log.info("engine open at %s with %d collection(s)", data, len(self.collections))

    # --- lifecycle ------------------------------------------------------------

    def close(self) -> None:
        """Persist everything buffered, so the next start replays nothing, then release the folder."""
        if self._closed:
            return
        self._closed = True
        self.index_builder.stop()
        self._ticker.stop()
        self._persister.stop()
        for collection in list(self.collections.values()):
            for channel in collection.channels:
                persist_channel(
                    self.ctx, collection, channel, force_deletes=True, force_growing=True
                )
            collection.save_manifest()
            for channel in collection.channels:
                channel.wal.close()
        self.stores.close()
        self._lock.release()
        log.info("engine closed")

    def _remove_orphans(self) -> None:
        """Delete what a crash left between catalog commits and file cleanup."""
        known = {str(m.id) for m in self.catalog.collections.values()}
        channels = {ch for m in self.catalog.collections.values() for ch in m.vchannels}
        meta = self.stores.meta
        stale = [k for k in meta.scan("collection/") if k.split("/", 2)[1] not in known]
        if stale:
            meta.commit({}, stale)
        for channel in self.stores.logs.channels():
            if channel not in channels:
                self.stores.logs.drop(channel)
        for kind in ("insert_log", "delta_log", "index_files"):
            for name in self.ctx.files.list_dirs(kind):
                if name not in known:
                    self.ctx.files.delete_dir(f"{kind}/{name}")

    # --- time ------------------------------------------------------------------

    def alloc_timestamp(self, count: int = 1) -> int:
        """Reserve ``count`` timestamps; return the first."""
        self._check_open()
        if count <= 0:
            raise ParameterInvalid.msg(f"invalid count {count} for timestamp allocation")
        last = self.ctx.tso.allocate(count)
        return last - count + 1
