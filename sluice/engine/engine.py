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
Sluice types and raises :mod:`sluice.errors`, never protobuf.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from sluice.config import Settings
from sluice.engine import data, indexes, prepared_search, segment_listing
from sluice.engine import flush as flush_ops
from sluice.engine.catalog import DEFAULT_DB, Catalog, CollectionMeta, DatabaseMeta
from sluice.engine.channel import pchannel_name, vchannel_name
from sluice.engine.collection import Collection
from sluice.engine.context import EngineContext
from sluice.engine.describe import CollectionInfo
from sluice.engine.ids import IdAllocator
from sluice.engine.index_builds import IndexBuilder, drop_segment_indexes
from sluice.engine.ingest import Column
from sluice.engine.manifest import Manifest
from sluice.engine.persist import Persister, Ticker, as_storage_error, persist_channel
from sluice.engine.ratelimit import FlushRateLimiter
from sluice.engine.recovery import open_collection
from sluice.engine.schema_rules import (
    stored_defaults,
    validate_collection_name,
    validate_schema,
    validate_shards,
)
from sluice.engine.segment_listing import LoadedSegment, SegmentInfo
from sluice.engine.stores import Stores, open_stores
from sluice.engine.timezones import collection_timezone, creation_timezone
from sluice.engine.tso import TimestampOracle, now_ms
from sluice.errors import (
    CollectionNotFound,
    DatabaseNotFound,
    ParameterInvalid,
    RequestError,
    ServiceNotReady,
    SluiceError,
)
from sluice.schema import (
    DEFAULT_PARTITION,
    CollectionSchema,
    ConsistencyLevel,
    dynamic_meta_field,
    with_field_ids,
)
from sluice.storage.lock import DataDirLock
from sluice.types import Context

log = logging.getLogger(__name__)


class LoadState(enum.IntEnum):
    """``common.LoadState``."""

    NOT_EXIST = 0
    NOT_LOAD = 1
    LOADING = 2
    LOADED = 3


@dataclass(frozen=True)
class FlushAllResult:
    flush_all_ts: int
    pchannels: list[str]


class Engine:
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
        self.threads_stopped = self.index_builder.stop()
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

    def _check_open(self) -> None:
        if self._closed:
            raise ServiceNotReady.with_fields(state="Stopping")

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

    # --- databases --------------------------------------------------------------

    def _check_db(self, db: str) -> None:
        if db not in self.catalog.databases:
            raise DatabaseNotFound.named(db)

    def list_databases(self) -> list[str]:
        return list(self.catalog.databases)

    # --- collections ------------------------------------------------------------

    def get(self, db: str, name: str) -> Collection:
        """The live collection ``name`` in ``db`` or Milvus's not-found error."""
        self._check_open()
        self._check_db(db)
        meta = self.catalog.find(db, name)
        collection = self.collections.get(meta.id) if meta is not None else None
        if collection is None:
            # Milvus checks every name it is given; an existing one passed at creation.
            validate_collection_name(name)
            raise CollectionNotFound.named(db, name)
        return collection

    def create_collection(
        self,
        db: str,
        schema: CollectionSchema,
        *,
        shards_num: int = 1,
        consistency: ConsistencyLevel = ConsistencyLevel.BOUNDED,
        properties: Mapping[str, str] | None = None,
    ) -> CollectionInfo:
        self._check_open()
        with self.catalog.lock:
            if db not in self.catalog.databases:
                raise DatabaseNotFound.wrap("failed to create collection", database=db)
            shards = validate_shards(shards_num)
            validate_collection_name(schema.name)
            validate_schema(schema)
            props = dict(properties or {})
            schema = stored_defaults(schema, creation_timezone(self.catalog, db, props))
            fields = with_field_ids(schema.user_fields)
            if schema.enable_dynamic_field:
                fields = (*fields, replace(dynamic_meta_field(), field_id=100 + len(fields)))
            schema = replace(schema, fields=fields)
            existing = self.catalog.find(db, schema.name)
            if existing is not None:
                same = (
                    existing.schema == schema
                    and existing.shards_num == shards
                    and existing.consistency_level == consistency
                    and existing.properties == props
                )
                if same:
                    return CollectionInfo.of(existing)
                raise RequestError(
                    "create duplicate collection with different parameters, "
                    f"collection: {schema.name}"
                )
            ids = self.ctx.ids
            collection_id = ids.allocate()
            pchannels = [
                pchannel_name(
                    self.settings.cluster_prefix, (collection_id + i) % self.settings.dml_channels
                )
                for i in range(shards)
            ]
            vchannels = [
                vchannel_name(
                    self.settings.cluster_prefix,
                    (collection_id + i) % self.settings.dml_channels,
                    collection_id,
                    i,
                )
                for i in range(shards)
            ]
            ts = self.ctx.tso.allocate()
            meta = CollectionMeta(
                id=collection_id,
                db=db,
                name=schema.name,
                schema=schema,
                shards_num=shards,
                vchannels=vchannels,
                pchannels=pchannels,
                partitions={DEFAULT_PARTITION: ids.allocate()},
                consistency_level=consistency,
                created_ts=ts,
                created_utc_ms=now_ms(),
                properties=props,
            )
            collection = open_collection(meta, self.ctx)
            self.catalog.put_collection(meta)
            self.collections[collection_id] = collection
            log.info(
                "created collection %s.%s (id %d, %d shard(s))",
                db,
                schema.name,
                collection_id,
                shards,
            )
            return CollectionInfo.of(meta)

    def timezone(self, db: str, name: str, requested: str = "") -> str:
        """The zone TIMESTAMPTZ values of ``name`` are read and shown in (see timezones.py)."""
        return collection_timezone(self.catalog, self.get(db, name).meta, requested)

    def drop_collection(self, db: str, name: str) -> None:
        """Milvus drops idempotently: a missing collection (or database) is a success."""
        self._check_open()
        with self.catalog.lock:
            meta = self.catalog.find(db, name) if db in self.catalog.databases else None
            if meta is None:
                validate_collection_name(name)
                return
            collection = self.collections.pop(meta.id)
            with collection.manifest_lock:
                for channel in collection.channels:
                    with channel.lock:
                        collection.dropped = True
            manifest_keys = list(self.stores.meta.scan(Manifest.prefix(meta.id)))
            self.catalog.remove_collection(meta, also_delete=manifest_keys)
        for channel in collection.channels:
            with channel.persist_lock:
                channel.wal.close()
            self.stores.logs.drop(channel.name)
        for kind in ("insert_log", "delta_log", "index_files"):
            self.ctx.files.delete_dir(f"{kind}/{meta.id}")
        log.info("dropped collection %s.%s (id %d)", db, name, meta.id)

    def describe(self, db: str, name: str) -> CollectionInfo:
        """A frozen description of collection ``name`` (Milvus's not-found error if missing)."""
        return CollectionInfo.of(self.get(db, name).meta)

    def describe_by_id(self, db: str, collection_id: int) -> CollectionInfo:
        self._check_open()
        self._check_db(db)
        meta = self.catalog.collections.get(collection_id)
        if meta is None or meta.db != db:
            raise CollectionNotFound.named(db, collection_id)
        return CollectionInfo.of(meta)

    def has_collection(self, db: str, name: str) -> bool:
        self._check_open()
        self._check_db(db)
        if self.catalog.find(db, name) is not None:
            return True
        validate_collection_name(name)
        return False

    def list_collections(self, db: str) -> list[CollectionInfo]:
        self._check_open()
        self._check_db(db)
        return [CollectionInfo.of(meta) for meta in self.catalog.in_db(db)]

    def collection_stats(self, db: str, name: str) -> dict[str, str]:
        return {"row_count": str(self.get(db, name).persisted_rows())}

    def set_loaded(self, db: str, name: str, loaded: bool) -> None:
        collection = self.get(db, name)
        with self.catalog.lock:
            if collection.meta.loaded != loaded:
                collection.meta.loaded = loaded
                self.catalog.put_collection(collection.meta)

    # --- time ------------------------------------------------------------------

    def alloc_timestamp(self, count: int = 1) -> int:
        """Reserve ``count`` timestamps; return the first."""
        self._check_open()
        if count <= 0:
            raise ParameterInvalid.msg(f"invalid count {count} for timestamp allocation")
        last = self.ctx.tso.allocate(count)
        return last - count + 1

    # --- flush --------------------------------------------------------------------

    def flush(self, db: str, names: Sequence[str]) -> flush_ops.FlushResult:
        self._check_open()
        self._check_db(db)
        # Milvus loops over the names; naming a collection twice flushes it once.
        named = [(name, self.get(db, name)) for name in dict.fromkeys(names)]
        for _, collection in named:
            self._raise_persist_failure(collection)
            self.flush_limiter.admit(collection.id)
        return flush_ops.flush_collections(db, named, self.ctx.tso.allocate)

    def flush_state(
        self, db: str, name: str, segment_ids: Sequence[int], flush_ts: int, wait_seconds: float
    ) -> bool:
        """GetFlushState; without ``name`` (the Node SDK's flushSync) the segments' own collections."""
        if name:
            collections = [self.get(db, name)]
        else:
            self._check_open()
            self._check_db(db)
            collections = flush_ops.collections_holding(
                [c for c in self.collections.values() if c.meta.db == db], segment_ids
            )

        def flushed() -> bool:
            if all(c.flushed(segment_ids, flush_ts) for c in collections):
                return True
            for collection in collections:
                self._raise_persist_failure(collection)
            return False

        return flush_ops.wait_until(collections, flushed, wait_seconds)

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
            result = flush_ops.flush_collections("", named, self.ctx.tso.allocate)
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
            if flush_ops.flush_all_reached(collections, flush_all_ts, dict(per_pchannel)):
                return True
            for collection in collections:
                self._raise_persist_failure(collection)
            return False

        return flush_ops.wait_until(collections, flushed, wait_seconds)

    def loaded_segments(self, db: str, name: str) -> list[LoadedSegment]:
        """Flushed segments of a loaded collection (growing data is not listed, as in Milvus)."""
        return segment_listing.loaded_segments(self.get(db, name))

    def persistent_segments(self, db: str, name: str) -> list[SegmentInfo]:
        """Sealed, Flushing and Flushed segments (L0 included), as GetPersistentSegmentInfo lists them."""
        return segment_listing.persistent_segments(self.get(db, name))

    # --- data -----------------------------------------------------------------------

    def insert(
        self, db: str, name: str, partition: str | None, columns: Sequence[Column], num_rows: int
    ) -> data.InsertResult:
        context = Context(self.timezone(db, name))
        return data.insert(self.get(db, name), partition, columns, num_rows, context=context)

    def upsert(
        self,
        db: str,
        name: str,
        partition: str | None,
        columns: Sequence[Column],
        num_rows: int,
        *,
        partial: bool = False,
    ) -> data.InsertResult:
        """Replace rows by key; with ``partial``, fields not sent keep their stored values."""
        context = Context(self.timezone(db, name))
        return data.upsert(self.get(db, name), partition, columns, num_rows, partial, context)

    def delete(
        self, db: str, name: str, partition: str | None, expr: str, params: Mapping[str, Any] | None
    ) -> data.DeleteResult:
        return data.delete(self.get(db, name), partition, expr, params)

    def query(
        self,
        db: str,
        name: str,
        expr: str,
        output_fields: Sequence[str],
        *,
        limit: int | None = None,
        offset: int = 0,
        params: Mapping[str, Any] | None = None,
        read_ts: int | None = None,
        ignore_growing: bool = False,
        partition_names: Sequence[str] = (),
        timezone: str = "",
        order_by: str = "",
    ) -> data.QueryResult:
        """``timezone``: this query's zone; ``order_by``: ``order_by_fields`` (``a:asc,b:desc``)."""
        return data.query(
            self.get(db, name),
            expr,
            params,
            output_fields,
            limit,
            offset,
            read_ts,
            ignore_growing=ignore_growing,
            partition_names=partition_names,
            context=Context(self.timezone(db, name, timezone)),
            order_by=order_by,
        )

    def search(
        self,
        db: str,
        name: str,
        request: prepared_search.SearchRequest,
        vectors: np.ndarray,
        read_ts: int | None = None,
    ) -> prepared_search.SearchResult:
        context = Context(self.timezone(db, name, request.timezone))
        return prepared_search.search(self.get(db, name), request, vectors, read_ts, context)

    def vectors_of_keys(self, db: str, name: str, field: str | None, keys: Sequence[Any]) -> Any:
        """Stored vectors of primary keys, for a search by ``ids``."""
        return data.vectors_of_keys(self.get(db, name), field, keys)

    def search_by_key(
        self,
        db: str,
        name: str,
        key: Hashable,
        request: Callable[[], prepared_search.SearchRequest],
        vectors: np.ndarray,
        iterator_ts: int | None = None,
    ) -> prepared_search.SearchResult:
        """``search``, planning the request once per ``key`` (a hashable form of its shape).

        ``request`` is called only when there is no current plan for ``key``.
        A search iterator's page reads at ``iterator_ts`` (its first page's).
        """
        plan = prepared_search.cached_plan(self.get(db, name), key, request)
        read_ts = iterator_ts if plan.request.iterator else None
        context = Context(self.timezone(db, name, plan.request.timezone))
        return prepared_search.run_search(plan, vectors, read_ts, context)

    # --- indexes and load state ------------------------------------------------------

    def create_index(
        self, db: str, name: str, field_name: str, index_name: str, params: Mapping[str, str]
    ) -> None:
        collection = self.get(db, name)
        indexes.create_index(
            self.catalog,
            collection,
            field_name,
            index_name,
            params,
            self.ctx.ids.allocate(),
            self.ctx.tso.allocate(),
        )
        self.index_builder.request_all(collection)

    def describe_indexes(
        self, db: str, name: str, index_name: str = "", field_name: str = ""
    ) -> list[indexes.IndexInfo]:
        return indexes.describe_indexes(self.get(db, name), index_name, field_name)

    def drop_index(self, db: str, name: str, field_name: str, index_name: str) -> None:
        collection = self.get(db, name)
        for index_id in indexes.drop_index(self.catalog, collection, field_name, index_name):
            drop_segment_indexes(self.ctx, collection, index_id)

    def load(self, db: str, name: str) -> None:
        collection = self.get(db, name)
        indexes.check_loadable(collection)
        self.set_loaded(db, name, True)

    def release(self, db: str, name: str) -> None:
        self.set_loaded(db, name, False)

    def load_state(self, db: str, name: str) -> LoadState:
        """Milvus answers GetLoadState for a missing collection with ``NotExist``, not an error."""
        self._check_open()
        self._check_db(db)
        meta = self.catalog.find(db, name)
        if meta is None:
            return LoadState.NOT_EXIST
        return LoadState.LOADED if meta.loaded else LoadState.NOT_LOAD
