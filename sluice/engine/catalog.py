"""The catalog: which databases and collections exist, and their settings.

Each database and each collection is one key of the metadata store
(:mod:`sluice.storage.meta_store`), committed atomically on every DDL change,
so a crash leaves either the old or the new definition.  A collection's key
holds everything about it that DDL changes: schema, partitions (with their
load state), aliases, properties and indexes; a change that touches two
collections (moving an alias) commits both keys at once.  Segment state
lives in one manifest per collection (:mod:`sluice.engine.manifest`), which
changes far more often.

Changes are made on copies: a DDL step builds the new :class:`CollectionMeta`
(``meta.evolve(...)``), commits it, and only then publishes it, so a failed
commit leaves memory as it was.

A collection is added to the catalog only after its channels exist, and its
files are deleted only after the catalog forgot it; start-up removes
whatever a crash left between those steps.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import orjson

from sluice.schema import (
    CollectionSchema,
    ConsistencyLevel,
    DataType,
    FieldSchema,
    FunctionSchema,
    FunctionType,
)
from sluice.storage.meta_store import MetaStore

DEFAULT_DB = "default"


@dataclass
class IndexMeta:
    """An index declared on a field (build parameters as the client sent them).

    ``field_name`` is the name the client indexed; ``column`` is set when the
    values live in another column: a dynamic-field key ``k`` is stored in
    ``$meta``, so an index on it has ``field_name="k"``, ``column="$meta"``.
    """

    index_id: int
    index_name: str
    field_name: str
    params: dict[str, str]
    created_ts: int
    column: str = ""

    def to_dict(self) -> dict[str, Any]:
        raw: dict[str, Any] = {
            "index_id": self.index_id,
            "index_name": self.index_name,
            "field_name": self.field_name,
            "params": self.params,
            "created_ts": self.created_ts,
        }
        if self.column:
            raw["column"] = self.column
        return raw

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> IndexMeta:
        return cls(
            int(raw["index_id"]),
            str(raw["index_name"]),
            str(raw["field_name"]),
            {str(k): str(v) for k, v in raw["params"].items()},
            int(raw["created_ts"]),
            str(raw.get("column", "")),
        )


@dataclass(frozen=True)
class PartitionMeta:
    """A partition: its ID, creation time and whether it serves reads (is loaded)."""

    id: int
    name: str
    created_ts: int
    created_utc_ms: int
    loaded: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created_ts": self.created_ts,
            "created_utc_ms": self.created_utc_ms,
            "loaded": self.loaded,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> PartitionMeta:
        return cls(
            id=int(raw["id"]),
            name=str(raw["name"]),
            created_ts=int(raw["created_ts"]),
            created_utc_ms=int(raw["created_utc_ms"]),
            loaded=bool(raw.get("loaded", False)),
        )


@dataclass
class CollectionMeta:
    id: int
    db: str
    name: str
    schema: CollectionSchema
    shards_num: int
    vchannels: list[str]
    pchannels: list[str]
    #: Partitions by name, in creation order (partition-key collections: ``_default_<i>``).
    partitions: dict[str, PartitionMeta]
    consistency_level: ConsistencyLevel
    created_ts: int
    created_utc_ms: int
    properties: dict[str, str] = field(default_factory=dict)
    indexes: list[IndexMeta] = field(default_factory=list)
    #: LoadCollection was called: every partition, including ones created later, is loaded.
    #: LoadPartitions loads partitions one by one and leaves this false.
    loaded: bool = False
    #: Alias names (in this collection's database) that resolve to it, in creation order.
    aliases: list[str] = field(default_factory=list)
    #: Last DDL change (DescribeCollection's ``update_timestamp``).
    updated_ts: int = 0

    @property
    def default_partition_id(self) -> int:
        return next(iter(self.partitions.values())).id

    # Partitions are never changed in place (a change builds the next meta with
    # ``evolve``), so what is derived from them is computed once per version.

    @cached_property
    def partition_ids(self) -> dict[int, PartitionMeta]:
        return {p.id: p for p in self.partitions.values()}

    @cached_property
    def loaded_partition_ids(self) -> frozenset[int]:
        return frozenset(p.id for p in self.partitions.values() if p.loaded)

    @cached_property
    def key_partition_order(self) -> tuple[int, ...]:
        """Partition IDs in partition-key routing order: position ``i`` holds ``_default_<i>``.

        Only meaningful for partition-key collections, whose partitions are named so.
        """
        ordered = sorted(self.partitions.values(), key=lambda p: int(p.name.rsplit("_", 1)[-1]))
        return tuple(p.id for p in ordered)

    @property
    def any_loaded(self) -> bool:
        """Whether reads are served at all (some partition is loaded)."""
        return bool(self.loaded_partition_ids)

    def evolve(self, **changes: Any) -> CollectionMeta:
        """A copy with ``changes``: the next version, committed before it replaces this one."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "db": self.db,
            "name": self.name,
            "schema": schema_to_dict(self.schema),
            "shards_num": self.shards_num,
            "vchannels": self.vchannels,
            "pchannels": self.pchannels,
            "partitions": [p.to_dict() for p in self.partitions.values()],
            "consistency_level": int(self.consistency_level),
            "created_ts": self.created_ts,
            "created_utc_ms": self.created_utc_ms,
            "properties": self.properties,
            "indexes": [i.to_dict() for i in self.indexes],
            "loaded": self.loaded,
            "aliases": self.aliases,
            "updated_ts": self.updated_ts,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> CollectionMeta:
        loaded = bool(raw.get("loaded", False))
        created_ts = int(raw["created_ts"])
        created_utc_ms = int(raw["created_utc_ms"])
        stored = raw["partitions"]
        if isinstance(stored, dict):
            # Catalogs from before partitions had metadata of their own: name -> ID.
            partitions = [
                PartitionMeta(int(pid), str(name), created_ts, created_utc_ms, loaded)
                for name, pid in stored.items()
            ]
        else:
            partitions = [PartitionMeta.from_dict(p) for p in stored]
        return cls(
            id=int(raw["id"]),
            db=str(raw["db"]),
            name=str(raw["name"]),
            schema=schema_from_dict(raw["schema"]),
            shards_num=int(raw["shards_num"]),
            vchannels=list(raw["vchannels"]),
            pchannels=list(raw["pchannels"]),
            partitions={p.name: p for p in partitions},
            consistency_level=ConsistencyLevel(int(raw["consistency_level"])),
            created_ts=created_ts,
            created_utc_ms=created_utc_ms,
            properties=dict(raw.get("properties", {})),
            indexes=[IndexMeta.from_dict(i) for i in raw.get("indexes", [])],
            loaded=loaded,
            aliases=[str(a) for a in raw.get("aliases", [])],
            updated_ts=int(raw.get("updated_ts", created_ts)),
        )


def schema_to_dict(schema: CollectionSchema) -> dict[str, Any]:
    return {
        "name": schema.name,
        "description": schema.description,
        "enable_dynamic_field": schema.enable_dynamic_field,
        "fields": [field_to_dict(f) for f in schema.fields],
        "functions": [
            {
                "name": fn.name,
                "type": int(fn.type),
                "input_field_names": list(fn.input_field_names),
                "output_field_names": list(fn.output_field_names),
                "params": dict(fn.params),
                "description": fn.description,
            }
            for fn in schema.functions
        ],
    }


def field_to_dict(f: FieldSchema) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": f.name,
        "dtype": int(f.dtype),
        "field_id": f.field_id,
        "description": f.description,
        "is_primary": f.is_primary,
        "auto_id": f.auto_id,
        "dim": f.dim,
        "max_length": f.max_length,
        "nullable": f.nullable,
        "default_value": f.default_value,
        "is_dynamic": f.is_dynamic,
        "is_partition_key": f.is_partition_key,
        "is_clustering_key": f.is_clustering_key,
        "element_type": None if f.element_type is None else int(f.element_type),
        "max_capacity": f.max_capacity,
        "type_params": dict(f.type_params),
    }
    if f.struct_fields:
        out["struct_fields"] = [field_to_dict(sub) for sub in f.struct_fields]
    return out


def field_from_dict(f: dict[str, Any]) -> FieldSchema:
    return FieldSchema(
        name=str(f["name"]),
        dtype=DataType(int(f["dtype"])),
        field_id=int(f["field_id"]),
        description=str(f.get("description", "")),
        is_primary=bool(f["is_primary"]),
        auto_id=bool(f["auto_id"]),
        dim=f.get("dim"),
        max_length=f.get("max_length"),
        nullable=bool(f.get("nullable", False)),
        default_value=f.get("default_value"),
        is_dynamic=bool(f.get("is_dynamic", False)),
        is_partition_key=bool(f.get("is_partition_key", False)),
        is_clustering_key=bool(f.get("is_clustering_key", False)),
        element_type=None if f.get("element_type") is None else DataType(f["element_type"]),
        max_capacity=f.get("max_capacity"),
        type_params=dict(f.get("type_params", {})),
        struct_fields=tuple(field_from_dict(sub) for sub in f.get("struct_fields", ())),
    )


def schema_from_dict(raw: dict[str, Any]) -> CollectionSchema:
    fields = tuple(field_from_dict(f) for f in raw["fields"])
    return CollectionSchema(
        name=str(raw["name"]),
        fields=fields,
        description=str(raw.get("description", "")),
        enable_dynamic_field=bool(raw.get("enable_dynamic_field", False)),
        functions=tuple(
            FunctionSchema(
                name=str(fn["name"]),
                type=FunctionType(int(fn["type"])),
                input_field_names=tuple(fn["input_field_names"]),
                output_field_names=tuple(fn["output_field_names"]),
                params=dict(fn.get("params", {})),
                description=str(fn.get("description", "")),
            )
            for fn in raw.get("functions", [])
        ),
    )


@dataclass
class DatabaseMeta:
    """A database: its ID, creation time and properties."""

    id: int
    name: str
    created_ts: int
    properties: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created_ts": self.created_ts,
            "properties": self.properties,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DatabaseMeta:
        return cls(
            id=int(raw["id"]),
            name=str(raw["name"]),
            created_ts=int(raw["created_ts"]),
            properties={str(k): str(v) for k, v in raw.get("properties", {}).items()},
        )


_DATABASE_PREFIX = "catalog/database/"
_COLLECTION_PREFIX = "catalog/collection/"


def _encode(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


class Catalog:
    """Databases and collections, one metadata-store key each.

    Collections are found by ID, by ``(database, name)`` and by
    ``(database, alias)`` in constant time.  Changes are made under
    :attr:`lock` and committed per object, so a DDL commit costs the size of
    what it changes, not of the whole catalog.
    """

    def __init__(self, store: MetaStore) -> None:
        self._store = store
        self.lock = threading.RLock()
        self.databases: dict[str, DatabaseMeta] = {}
        self.collections: dict[int, CollectionMeta] = {}
        self._by_name: dict[tuple[str, str], int] = {}
        self._by_alias: dict[tuple[str, str], int] = {}
        #: Where each collection is indexed now (its key may change by rename).
        self._names_of: dict[int, tuple[tuple[str, str], list[tuple[str, str]]]] = {}
        for raw in store.scan(_DATABASE_PREFIX).values():
            db = DatabaseMeta.from_dict(orjson.loads(raw))
            self.databases[db.name] = db
        for raw in store.scan(_COLLECTION_PREFIX).values():
            self._index(CollectionMeta.from_dict(orjson.loads(raw)))

    @staticmethod
    def collection_key(collection_id: int) -> str:
        return f"{_COLLECTION_PREFIX}{collection_id}"

    @staticmethod
    def database_key(name: str) -> str:
        return f"{_DATABASE_PREFIX}{name}"

    @staticmethod
    def encode_collection(meta: CollectionMeta) -> bytes:
        return _encode(meta.to_dict())

    # --- databases ----------------------------------------------------------------

    def put_database(self, db: DatabaseMeta) -> None:
        with self.lock:
            self._store.commit({self.database_key(db.name): _encode(db.to_dict())})
            self.databases[db.name] = db

    def remove_database(self, name: str) -> None:
        with self.lock:
            self._store.commit({}, [self.database_key(name)])
            self.databases.pop(name, None)

    # --- collections ----------------------------------------------------------------

    def put_collection(
        self,
        meta: CollectionMeta,
        *,
        also_put: Mapping[str, bytes] | None = None,
        also_delete: Iterable[str] = (),
    ) -> None:
        """Commit ``meta`` (new or changed) together with any other keys given."""
        self.put_collections([meta], also_put=also_put, also_delete=also_delete)

    def put_collections(
        self,
        metas: Iterable[CollectionMeta],
        *,
        also_put: Mapping[str, bytes] | None = None,
        also_delete: Iterable[str] = (),
    ) -> None:
        """Commit several collections (and other keys) in one atomic step."""
        metas = list(metas)
        with self.lock:
            puts = {self.collection_key(m.id): self.encode_collection(m) for m in metas}
            puts.update(also_put or {})
            self._store.commit(puts, also_delete)
            for meta in metas:
                self._index(meta)

    def remove_collection(self, meta: CollectionMeta, *, also_delete: Iterable[str] = ()) -> None:
        """Forget ``meta`` and delete the other keys given, in one commit."""
        with self.lock:
            self._store.commit({}, [self.collection_key(meta.id), *also_delete])
            self._unindex(meta.id)
            self.collections.pop(meta.id, None)

    def _index(self, meta: CollectionMeta) -> None:
        self._unindex(meta.id)
        key = (meta.db, meta.name)
        aliases = [(meta.db, alias) for alias in meta.aliases]
        self.collections[meta.id] = meta
        self._by_name[key] = meta.id
        for alias in aliases:
            self._by_alias[alias] = meta.id
        self._names_of[meta.id] = (key, aliases)

    def _unindex(self, collection_id: int) -> None:
        known = self._names_of.pop(collection_id, None)
        if known is None:
            return
        key, aliases = known
        if self._by_name.get(key) == collection_id:
            del self._by_name[key]
        for alias in aliases:
            if self._by_alias.get(alias) == collection_id:
                del self._by_alias[alias]

    # --- lookups ----------------------------------------------------------------------

    def find(self, db: str, name: str) -> CollectionMeta | None:
        """The collection named ``name`` (not an alias) in ``db``."""
        collection_id = self._by_name.get((db, name))
        return self.collections.get(collection_id) if collection_id is not None else None

    def find_alias(self, db: str, alias: str) -> CollectionMeta | None:
        """The collection ``alias`` points to in ``db``."""
        collection_id = self._by_alias.get((db, alias))
        return self.collections.get(collection_id) if collection_id is not None else None

    def resolve(self, db: str, name_or_alias: str) -> CollectionMeta | None:
        """A collection by name, else by alias, as Milvus's proxy resolves every request."""
        return self.find(db, name_or_alias) or self.find_alias(db, name_or_alias)

    def in_db(self, db: str) -> list[CollectionMeta]:
        return sorted(
            (m for m in self.collections.values() if m.db == db), key=lambda m: m.created_ts
        )

    def aliases_in(self, db: str) -> list[tuple[str, CollectionMeta]]:
        """Every alias in ``db`` with its collection, in collection then alias order."""
        return [(alias, meta) for meta in self.in_db(db) for alias in meta.aliases]
