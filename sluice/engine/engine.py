"""The engine: one data folder, its catalog and every live collection.

Layout of a data folder::

    LOCK                 flock held while an engine has the folder open
    meta/                metadata store (sluice.storage.local_meta): the catalog
                         (sluice.engine.catalog), one manifest per collection
                         (sluice.engine.manifest), the timestamp window
                         (sluice.engine.tso), the ID block (sluice.engine.ids) and
                         users, roles and grants (sluice.engine.access)
    wal/<vchannel>/      one write-ahead log per shard (sluice.storage.wal)
    segments/insert_log/<coll>/<part>/<seg>/<log>.parquet   row binlogs
    segments/delta_log/<coll>/<part>/<seg>/<log>.parquet    delete logs

Both the gRPC server and the embedded client drive this class; it speaks in
Sluice types and raises :mod:`sluice.errors`, never protobuf.  Its operations
come in groups, one module each (databases, collections, schema changes,
partitions and load state, aliases, data, flush and segments, indexes); this
module opens and closes the folder and holds what belongs to the whole folder
(users and grants, text analysis, timestamps).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from sluice.config import Settings
from sluice.engine import analysis
from sluice.engine.access import AccessControl, MetaStoreAccessStore
from sluice.engine.aliases import AliasOps
from sluice.engine.catalog import DEFAULT_DB, Catalog, DatabaseMeta
from sluice.engine.collection import Collection
from sluice.engine.collection_ddl import CollectionDDL
from sluice.engine.compaction_ops import CompactionOps
from sluice.engine.compactor import Compactor
from sluice.engine.context import EngineContext
from sluice.engine.data_ops import DataOps
from sluice.engine.flush_ops import FlushOps
from sluice.engine.ids import IdAllocator
from sluice.engine.import_jobs import ImportJobs
from sluice.engine.index_builds import IndexBuilder
from sluice.engine.index_ops import IndexOps
from sluice.engine.persist import Persister, Ticker, as_storage_error, persist_channel
from sluice.engine.ratelimit import FlushRateLimiter
from sluice.engine.recovery import open_collection
from sluice.engine.schema_changes import SchemaChanges
from sluice.engine.stores import Stores, open_stores, remove_orphans
from sluice.engine.tso import TimestampOracle
from sluice.errors import ParameterInvalid, SluiceError
from sluice.storage.lock import DataDirLock
from sluice.text import AnalyzedToken

log = logging.getLogger(__name__)


class Engine(CollectionDDL, SchemaChanges, AliasOps, DataOps, FlushOps, IndexOps, CompactionOps):
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
        #: Whether :meth:`close` joined every background thread (a native
        #: call that outlives its timeout leaves one running).
        self.threads_stopped = True
        self._access: AccessControl | None = None
        self._access_lock = threading.Lock()
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
            remove_orphans(self.catalog, self.stores)
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
            self.compactor = Compactor(self.ctx, self.collections)
            self.imports = ImportJobs(self.ctx, self.catalog, self.collections)
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
        self.imports.stop()
        compactor_stopped = self.compactor.stop()
        self.threads_stopped = self.index_builder.stop() and compactor_stopped
        self._ticker.stop()
        self._persister.stop()
        for collection in list(self.collections.values()):
            try:
                for channel in collection.channels:
                    persist_channel(
                        self.ctx, collection, channel, force_deletes=True, force_growing=True
                    )
                collection.save_manifest()
            except (OSError, SluiceError) as exc:
                # The WAL still holds every acknowledged row; the next start replays them.
                log.error(
                    "could not persist collection %s while closing (replayed at next start): %s",
                    collection.name,
                    as_storage_error(exc).message,
                )
            for channel in collection.channels:
                try:
                    channel.wal.close()
                except OSError as exc:
                    log.error("closing the WAL of %s failed: %s", channel.name, exc)
        try:
            self.stores.close()
        except OSError as exc:
            log.error("closing the stores failed: %s", exc)
        self._lock.release()
        log.info("engine closed")

    @property
    def access(self) -> AccessControl:
        """Users, roles and grants (metadata key ``access``), created with root on first use.

        Only the server asks for it: the embedded client has no logins.
        """
        with self._access_lock:
            if self._access is None:
                security, quota = self.settings.security, self.settings.quota
                self._access = AccessControl(
                    MetaStoreAccessStore(self.stores.meta),
                    root_password=security.default_root_password,
                    max_users=quota.max_user_num,
                    max_roles=quota.max_role_num,
                )
            return self._access

    # --- text analysis ------------------------------------------------------------

    def run_analyzer(
        self,
        db: str,
        collection: str,
        field_name: str,
        analyzer_params: str,
        analyzer_names: Sequence[str],
        texts: Sequence[str],
        *,
        with_detail: bool,
        with_hash: bool,
    ) -> list[list[AnalyzedToken]]:
        """RunAnalyzer: by ``analyzer_params``, or by a collection field's analyzer."""
        if not collection:
            return analysis.analyze(
                texts, analyzer_params=analyzer_params, with_detail=with_detail, with_hash=with_hash
            )
        schema = self.get(db, collection).schema
        return analysis.analyze_by_field(
            schema, field_name, analyzer_names, texts, with_detail=with_detail, with_hash=with_hash
        )

    # --- time ------------------------------------------------------------------

    def alloc_timestamp(self, count: int = 1) -> int:
        """Reserve ``count`` timestamps; return the first."""
        self._check_open()
        if count <= 0:
            raise ParameterInvalid.msg(f"invalid count {count} for timestamp allocation")
        last = self.ctx.tso.allocate(count)
        return last - count + 1
