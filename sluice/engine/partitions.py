"""Partitions: create, drop, list, load and release them, and which ones a request touches.

A partition is a name and an ID in its collection's catalog entry; its rows
live in segments of that partition (one growing segment per shard and
partition).  Milvus's rules, with its wording:

* at most ``rootCoord.maxPartitionNum`` (1024) partitions per collection;
  creating an existing partition succeeds, dropping a missing one too;
* ``_default`` cannot be dropped, nor a loaded partition;
* partition-key collections manage their partitions themselves: creating,
  dropping, loading or releasing one by hand is refused, and so is naming
  one in a write or a read;
* load state is per partition.  LoadCollection loads every partition,
  including ones created later; LoadPartitions loads the ones it names.
  Reads see only loaded partitions, and fail when none is loaded.  Loading
  reads the partitions' Flushed segments into memory and releasing drops
  them (:mod:`sluice.engine.residency`).

Dropping a partition commits the catalog entry without it and the manifest
without its segments in one metadata commit, then deletes the files; a crash
before the commit leaves the partition whole, after it leaves at worst
unreferenced files that start-up removes.  WAL records of the partition are
skipped by replay (partition IDs are never reused).
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass

from sluice.engine.catalog import CollectionMeta, PartitionMeta
from sluice.engine.collection import Collection
from sluice.engine.core import EngineCore
from sluice.engine.indexes import check_loadable
from sluice.engine.manifest import Manifest
from sluice.engine.names import validate_collection_name, validate_partition_name
from sluice.engine.partition_keys import MAX_PARTITIONS, partition_key_field
from sluice.engine.placement import place_collection
from sluice.engine.residency import evict_unserved, load_served
from sluice.engine.segment import Segment
from sluice.engine.tso import now_ms
from sluice.errors import (
    CollectionNotLoaded,
    ParameterInvalid,
    PartitionNotFound,
    PartitionNotLoaded,
    RequestError,
)
from sluice.schema import DEFAULT_PARTITION

log = logging.getLogger(__name__)

KEY_MODE_NAMES = "not support manually specifying the partition names if partition key mode is used"


class LoadState(enum.IntEnum):
    """``common.LoadState``."""

    NOT_EXIST = 0
    NOT_LOAD = 1
    LOADING = 2
    LOADED = 3


@dataclass(frozen=True)
class PartitionInfo:
    """One partition as ShowPartitions reports it."""

    name: str
    id: int
    created_ts: int
    created_utc_ms: int
    loaded: bool


def _key_mode(collection: Collection) -> bool:
    return partition_key_field(collection.schema) is not None


def _refuse_in_key_mode(collection: Collection, action: str) -> None:
    if _key_mode(collection):
        raise RequestError(f"disable {action} if partition key mode is used")


def write_partition(collection: Collection, name: str | None) -> int | None:
    """The partition a write names (``None``: routed by partition key), with Milvus's checks."""
    if _key_mode(collection):
        if name:
            raise RequestError(KEY_MODE_NAMES)
        return None
    chosen = validate_partition_name(name) if name else DEFAULT_PARTITION
    partition = collection.meta.partitions.get(chosen)
    if partition is None:
        raise PartitionNotFound.named(chosen)
    return partition.id


def delete_partition(collection: Collection, name: str | None) -> PartitionMeta | None:
    """The partition a delete is scoped to (``None``: every partition)."""
    if not name:
        return None
    if _key_mode(collection):
        raise RequestError(KEY_MODE_NAMES)
    partition = collection.meta.partitions.get(validate_partition_name(name))
    if partition is None:
        raise PartitionNotFound.named(name)
    return partition


def read_partitions(collection: Collection, names: Sequence[str], action: str) -> frozenset[int]:
    """The partitions a search or query reads: the named ones, else every loaded one.

    Fails as Milvus does when the collection is not loaded at all, when a
    named partition does not exist (``getPartitionIDs``) or is not loaded.
    """
    meta = collection.meta
    if not meta.any_loaded:
        raise CollectionNotLoaded(
            f"failed to {action}: {CollectionNotLoaded.base_message}[collection={collection.id}]"
        )
    if not names:
        return meta.loaded_partition_ids
    if _key_mode(collection):
        raise RequestError(KEY_MODE_NAMES)
    chosen = set()
    for name in names:
        partition = meta.partitions.get(name)
        if partition is None:
            raise ParameterInvalid.msg(f"partition name {name} not found")
        if not partition.loaded:
            raise PartitionNotLoaded(
                f"failed to {action}: {PartitionNotLoaded.base_message}[partition={partition.id}]"
            )
        chosen.add(partition.id)
    return frozenset(chosen)


class PartitionOps(EngineCore):
    """CreatePartition, DropPartition, HasPartition, ShowPartitions, load state per partition."""

    def create_partition(self, db: str, name: str, partition: str) -> None:
        self._check_open()
        collection = self.get(db, name, check_name=True)
        _refuse_in_key_mode(collection, "create partition")
        partition = validate_partition_name(partition)
        with self.catalog.lock:
            meta = collection.meta
            if partition in meta.partitions:
                return
            if len(meta.partitions) >= MAX_PARTITIONS:
                raise RequestError(
                    f"partition number ({len(meta.partitions)}) exceeds max configuration "
                    f"({MAX_PARTITIONS}), collection: {meta.name}"
                )
            ts = self.ctx.tso.allocate()
            created = PartitionMeta(self.ctx.ids.allocate(), partition, ts, now_ms(), meta.loaded)
            self._publish(
                meta.evolve(partitions={**meta.partitions, partition: created}, updated_ts=ts)
            )
        log.info("created partition %s of %s.%s", partition, db, meta.name)

    def drop_partition(self, db: str, name: str, partition: str) -> None:
        self._check_open()
        collection = self.get(db, name, check_name=True)
        _refuse_in_key_mode(collection, "drop partition")
        partition = validate_partition_name(partition)
        if partition == DEFAULT_PARTITION:
            raise RequestError("default partition cannot be deleted")
        with self.catalog.lock:
            meta = collection.meta
            dropped = meta.partitions.get(partition)
            if dropped is None:
                return
            if dropped.loaded:
                raise RequestError(
                    "partition cannot be dropped, partition is loaded, please release it first"
                )
            kept = {k: v for k, v in meta.partitions.items() if k != partition}
            removed = self._detach(collection, meta.evolve(partitions=kept), {dropped.id})
        self._delete_segment_files(collection, removed)
        log.info("dropped partition %s of %s.%s", partition, db, meta.name)

    def _detach(
        self, collection: Collection, new_meta: CollectionMeta, partition_ids: set[int] | None
    ) -> list[Segment]:
        """Remove segments (of ``partition_ids``, or all) and publish ``new_meta`` with the
        manifest that no longer names them, in one commit.  The caller holds ``catalog.lock``."""
        with ExitStack() as stack:
            # No file write may be in flight for these segments: take the persist locks first.
            for channel in collection.channels:
                stack.enter_context(channel.persist_lock)
            stack.enter_context(collection.manifest_lock)
            for channel in collection.channels:
                stack.enter_context(channel.lock)
            if partition_ids is None:
                removed = collection.clear_locked()
            else:
                removed = collection.detach_partitions_locked(partition_ids)
            manifest, positions = collection.manifest_locked()
            self._publish(new_meta, also_put={Manifest.key(collection.id): manifest.encode()})
            collection.manifest_committed(positions)
        return removed

    def _delete_segment_files(self, collection: Collection, segments: list[Segment]) -> None:
        for segment in segments:
            for binlog in segment.binlogs:
                self.ctx.files.delete_file(binlog.path)
            for rel in segment.index_files.values():
                self.ctx.files.delete_file(rel)

    def has_partition(self, db: str, name: str, partition: str) -> bool:
        collection = self.get(db, name, check_name=True)
        partition = validate_partition_name(partition)
        return partition in collection.meta.partitions

    def list_partitions(self, db: str, name: str) -> list[PartitionInfo]:
        collection = self.get(db, name, check_name=True)
        return [
            PartitionInfo(p.name, p.id, p.created_ts, p.created_utc_ms, p.loaded)
            for p in collection.meta.partitions.values()
        ]

    def partition_stats(self, db: str, name: str, partition: str) -> dict[str, str]:
        collection = self.get(db, name, check_name=True)
        found = collection.meta.partitions.get(partition)
        if found is None:
            raise PartitionNotFound.named(partition)
        return {"row_count": str(collection.persisted_rows(frozenset({found.id})))}

    # --- load state ---------------------------------------------------------------

    def load(self, db: str, name: str) -> None:
        """LoadCollection: every partition, and every partition created later."""
        collection = self.get(db, name, check_name=True)
        check_loadable(collection)
        self._set_loaded(collection, None, True)
        self._read_loaded(collection)

    def release(self, db: str, name: str) -> None:
        collection = self.get(db, name, check_name=True)
        self._set_loaded(collection, None, False)
        evict_unserved(self.ctx, collection)

    def load_partitions(self, db: str, name: str, partitions: Sequence[str]) -> None:
        collection = self.get(db, name, check_name=True)
        _refuse_in_key_mode(collection, "load partitions")
        check_loadable(collection)
        if not partitions:
            raise RequestError("failed to load partition, due to no partition specified")
        self._set_loaded(collection, self._named(collection, partitions), True)
        self._read_loaded(collection)

    def release_partitions(self, db: str, name: str, partitions: Sequence[str]) -> None:
        collection = self.get(db, name, check_name=True)
        _refuse_in_key_mode(collection, "release partitions")
        for partition in partitions:
            validate_partition_name(partition)
        self._set_loaded(collection, self._named(collection, partitions), False)
        evict_unserved(self.ctx, collection)

    def _read_loaded(self, collection: Collection) -> None:
        """Read the loaded partitions' segments that are not in memory, then apply placement."""
        started = time.monotonic()
        count = load_served(collection)
        if count:
            log.info(
                "collection %s: read %d segment(s) in %.2fs",
                collection.name,
                count,
                time.monotonic() - started,
            )
        place_collection(self.ctx, collection)

    def load_state(self, db: str, name: str, partitions: Sequence[str] = ()) -> LoadState:
        """GetLoadState: ``NotExist`` for a missing collection (not an error), as Milvus answers."""
        self._check_open()
        validate_collection_name(name)
        self._check_db(db)
        meta = self.catalog.resolve(db, name)
        if meta is None:
            return LoadState.NOT_EXIST
        if not partitions:
            return LoadState.LOADED if meta.any_loaded else LoadState.NOT_LOAD
        for partition in partitions:
            found = meta.partitions.get(partition)
            if found is None:
                raise PartitionNotFound.named(partition)
            if not found.loaded:
                return LoadState.NOT_LOAD
        return LoadState.LOADED

    def loading_progress(self, db: str, name: str, partitions: Sequence[str] = ()) -> int:
        """GetLoadingProgress in percent: loading is instant, so 100 or (not loaded) an error."""
        collection = self.get(db, name, check_name=True)
        meta = collection.meta
        for partition in partitions:
            found = meta.partitions.get(partition)
            if found is None:
                raise PartitionNotFound.named(partition)
            if not found.loaded:
                raise PartitionNotLoaded(f"{PartitionNotLoaded.base_message}[partition={found.id}]")
        if not meta.any_loaded:
            raise CollectionNotLoaded.named(meta.name)
        return 100

    @staticmethod
    def _named(collection: Collection, partitions: Sequence[str]) -> set[str]:
        for partition in partitions:
            if partition not in collection.meta.partitions:
                raise PartitionNotFound.named(partition)
        return set(partitions)

    def _set_loaded(self, collection: Collection, names: set[str] | None, loaded: bool) -> None:
        """Load or release ``names`` (``None``: the whole collection) and persist the state."""
        with self.catalog.lock:
            meta = collection.meta
            partitions = {
                key: p if names is not None and key not in names else _with_loaded(p, loaded)
                for key, p in meta.partitions.items()
            }
            whole = loaded if names is None else meta.loaded and loaded
            if partitions == meta.partitions and whole == meta.loaded:
                return
            self._publish(meta.evolve(partitions=partitions, loaded=whole))


def _with_loaded(partition: PartitionMeta, loaded: bool) -> PartitionMeta:
    if partition.loaded == loaded:
        return partition
    return PartitionMeta(
        partition.id, partition.name, partition.created_ts, partition.created_utc_ms, loaded
    )
