"""Collections as whole objects: create, drop, describe, list, rename and truncate them.

Crash safety: creating a collection opens its channels and then commits its
catalog key (start-up removes channels and files no catalog key names);
dropping commits the removal of its keys (catalog entry and manifest) and
then deletes WALs and files.  Renaming is one catalog commit.  Truncating
commits a manifest without any segment, with checkpoints at the end of every
WAL, in one step, and only then deletes the old files: a crash before the
commit leaves the data whole, after it leaves at worst files that start-up
removes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace

from sluice.engine.catalog import CollectionMeta, PartitionMeta
from sluice.engine.channel import pchannel_name, vchannel_name
from sluice.engine.databases import DatabaseOps
from sluice.engine.describe import CollectionInfo
from sluice.engine.functions import check_services
from sluice.engine.manifest import Manifest
from sluice.engine.names import validate_collection_name
from sluice.engine.partition_keys import (
    ISOLATION_PROPERTY,
    key_partition_names,
    partition_key_field,
    validate_partition_key,
)
from sluice.engine.partitions import PartitionOps
from sluice.engine.recovery import open_collection
from sluice.engine.schema_rules import stored_defaults, validate_schema, validate_shards
from sluice.engine.timezones import creation_timezone
from sluice.engine.tso import now_ms
from sluice.engine.ttl import validate_ttl
from sluice.errors import (
    AliasNameConflict,
    CollectionLimitExceeded,
    CollectionNotFound,
    IllegalSchema,
    ParameterInvalid,
    RequestError,
)
from sluice.schema import (
    DEFAULT_PARTITION,
    CollectionSchema,
    ConsistencyLevel,
    with_field_ids,
)

log = logging.getLogger(__name__)


def check_isolation_property(name: str, schema: CollectionSchema, props: Mapping[str, str]) -> None:
    """``validatePartitionKeyIsolation``: isolation needs a partition key and a boolean value."""
    raw = props.get(ISOLATION_PROPERTY)
    if raw is None:
        return
    value = raw.strip().lower()
    if value not in ("true", "false", "1", "0", "t", "f"):
        raise ParameterInvalid.msg(f"failed to parse partition key isolation: {raw}")
    if value in ("true", "1", "t") and partition_key_field(schema) is None:
        raise IllegalSchema(
            "partition key isolation mode is enabled but no partition key field is set. "
            f"Please set the partition key first: {IllegalSchema.base_message}[collection={name}]"
        )


class CollectionDDL(DatabaseOps, PartitionOps):
    def create_collection(
        self,
        db: str,
        schema: CollectionSchema,
        *,
        shards_num: int = 1,
        consistency: ConsistencyLevel = ConsistencyLevel.BOUNDED,
        properties: Mapping[str, str] | None = None,
        num_partitions: int = 0,
    ) -> CollectionInfo:
        self._check_open()
        shards = validate_shards(shards_num)
        validate_collection_name(schema.name)
        validate_schema(schema, self.settings.quota.max_field_num)
        check_services(schema, self.settings.functions)
        key_partitions = validate_partition_key(schema, num_partitions)
        props = dict(properties or {})
        check_isolation_property(schema.name, schema, props)
        validate_ttl(props)
        with self.catalog.lock:
            self._check_db(db)
            schema = stored_defaults(schema, creation_timezone(self.catalog, db, props))
            fields = with_field_ids(schema.user_fields, dynamic=schema.enable_dynamic_field)
            schema = replace(schema, fields=fields)
            if self.catalog.find_alias(db, schema.name) is not None:
                raise AliasNameConflict.named(db, schema.name)
            existing = self.catalog.find(db, schema.name)
            if existing is not None:
                same = (
                    existing.schema == schema
                    and existing.shards_num == shards
                    and existing.consistency_level == consistency
                    and existing.properties == props
                )
                if same:
                    return CollectionInfo.of(existing, self.catalog.databases[db].id)
                raise RequestError(
                    "create duplicate collection with different parameters, "
                    f"collection: {schema.name}"
                )
            limit = self.settings.quota.max_collection_num
            if len(self.catalog.collections) >= limit:
                raise CollectionLimitExceeded.with_fields(dbName=db, limit=limit)
            self._check_collection_limit(db)
            meta = self._new_meta(db, schema, shards, consistency, props, key_partitions)
            collection = open_collection(meta, self.ctx)
            self.catalog.put_collection(meta)
            self.collections[meta.id] = collection
        log.info("created collection %s.%s (id %d, %d shard(s))", db, schema.name, meta.id, shards)
        return CollectionInfo.of(meta, self.catalog.databases[db].id)

    def _new_meta(
        self,
        db: str,
        schema: CollectionSchema,
        shards: int,
        consistency: ConsistencyLevel,
        props: dict[str, str],
        key_partitions: int,
    ) -> CollectionMeta:
        ids = self.ctx.ids
        collection_id = ids.allocate()
        prefix, channels = self.settings.cluster_prefix, self.settings.dml_channels
        pchannels = [pchannel_name(prefix, (collection_id + i) % channels) for i in range(shards)]
        vchannels = [
            vchannel_name(prefix, (collection_id + i) % channels, collection_id, i)
            for i in range(shards)
        ]
        ts = self.ctx.tso.allocate()
        utc = now_ms()
        names = key_partition_names(key_partitions) if key_partitions else [DEFAULT_PARTITION]
        partitions = {name: PartitionMeta(ids.allocate(), name, ts, utc) for name in names}
        return CollectionMeta(
            id=collection_id,
            db=db,
            name=schema.name,
            schema=schema,
            shards_num=shards,
            vchannels=vchannels,
            pchannels=pchannels,
            partitions=partitions,
            consistency_level=consistency,
            created_ts=ts,
            created_utc_ms=utc,
            properties=props,
            updated_ts=ts,
        )

    def drop_collection(self, db: str, name: str) -> None:
        """Milvus drops idempotently: a missing collection (or database) is a success."""
        self._check_open()
        with self.catalog.lock:
            if db not in self.catalog.databases:
                return
            if self.catalog.find_alias(db, name) is not None:
                raise RequestError(f"cannot drop the collection via alias = {name}")
            meta = self.catalog.find(db, name)
            if meta is None:
                return
            if meta.aliases:
                raise RequestError(
                    f"unable to drop the collection [{name}] because it has associated aliases "
                    f"[{' '.join(meta.aliases)}], please remove all aliases before dropping the "
                    "collection"
                )
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
        self.ctx.stores.mapped.remove_collection(meta.id)
        log.info("dropped collection %s.%s (id %d)", db, name, meta.id)

    def describe(self, db: str, name: str) -> CollectionInfo:
        """A frozen description of collection ``name`` (Milvus's not-found error if missing)."""
        meta = self.get(db, name, check_name=True).meta
        return CollectionInfo.of(meta, self.catalog.databases[meta.db].id)

    def describe_by_id(self, db: str, collection_id: int) -> CollectionInfo:
        self._check_open()
        self._check_db(db)
        meta = self.catalog.collections.get(collection_id)
        if meta is None or meta.db != db:
            raise CollectionNotFound.named(db, collection_id)
        return CollectionInfo.of(meta, self.catalog.databases[db].id)

    def has_collection(self, db: str, name: str) -> bool:
        """By name or alias, as Milvus's HasCollection answers."""
        self._check_open()
        validate_collection_name(name)
        self._check_db(db)
        return self.catalog.resolve(db, name) is not None

    def list_collections(self, db: str) -> list[CollectionInfo]:
        """The collections of ``db``, oldest first."""
        self._check_open()
        self._check_db(db)
        db_id = self.catalog.databases[db].id
        return [CollectionInfo.of(meta, db_id) for meta in self.catalog.in_db(db)]

    def collection_stats(self, db: str, name: str) -> dict[str, str]:
        return {"row_count": str(self.get(db, name).persisted_rows())}

    def rename_collection(self, db: str, old: str, new: str, new_db: str = "") -> None:
        """RenameCollection: a new name (and database); ID, data, indexes and load state stay."""
        self._check_open()
        # Milvus checks only the new name; a malformed old one is simply not found.
        validate_collection_name(new)
        target_db = new_db or db
        with self.catalog.lock:
            self._check_db(db)
            if target_db not in self.catalog.databases:
                raise RequestError(f"target database:{target_db} not found")
            if self.catalog.find_alias(db, old) is not None:
                raise RequestError(f"unsupported use an alias to rename collection, alias:{old}")
            if self.catalog.find_alias(target_db, new) is not None:
                raise AliasNameConflict.named(target_db, new)
            if self.catalog.find(target_db, new) is not None:
                raise RequestError(
                    f"duplicated new collection name {target_db}:{new} with other collection "
                    "name or alias"
                )
            meta = self.catalog.find(db, old)
            if meta is None:
                raise CollectionNotFound.named(db, old)
            if meta.aliases and target_db != db:
                raise RequestError(
                    "fail to rename db name, must drop all aliases of this collection before rename"
                )
            if target_db != db:
                self._check_collection_limit(target_db)
            renamed = meta.evolve(
                db=target_db,
                name=new,
                schema=replace(meta.schema, name=new),
                updated_ts=self.ctx.tso.allocate(),
            )
            self._publish(renamed)
            self.collections[meta.id].search_plans.clear()
        log.info("renamed collection %s.%s to %s.%s", db, old, target_db, new)

    def truncate_collection(self, db: str, name: str) -> None:
        """TruncateCollection: every row goes; schema, indexes, partitions and load state stay."""
        collection = self.get(db, name, check_name=True)
        with self.catalog.lock:
            if collection.dropped:
                raise CollectionNotFound.named(db, name)
            meta = collection.meta.evolve(updated_ts=self.ctx.tso.allocate())
            removed = self._detach(collection, meta, None)
        self._delete_segment_files(collection, removed)
        log.info("truncated collection %s.%s (%d segments)", db, name, len(removed))
