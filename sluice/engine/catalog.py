"""The catalog: which databases and collections exist, and their settings.

Each database and each collection is one key of the metadata store
(:mod:`sluice.storage.meta_store`), committed atomically on every DDL change,
so a crash leaves either the old or the new definition.  Segment state lives
in one manifest per collection (:mod:`sluice.engine.manifest`), which changes
far more often.

A collection is added to the catalog only after its channels exist, and its
files are deleted only after the catalog forgot it; start-up removes
whatever a crash left between those steps.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from sluice.schema import CollectionSchema, ConsistencyLevel, DataType, FieldSchema
from sluice.storage.meta_store import MetaStore

DEFAULT_DB = "default"


@dataclass
class IndexMeta:
    """An index declared on a vector field (build parameters as the client sent them)."""

    index_id: int
    index_name: str
    field_name: str
    params: dict[str, str]
    created_ts: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "index_id": self.index_id,
            "index_name": self.index_name,
            "field_name": self.field_name,
            "params": self.params,
            "created_ts": self.created_ts,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> IndexMeta:
        return cls(
            int(raw["index_id"]),
            str(raw["index_name"]),
            str(raw["field_name"]),
            {str(k): str(v) for k, v in raw["params"].items()},
            int(raw["created_ts"]),
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
    partitions: dict[str, int]
    consistency_level: ConsistencyLevel
    created_ts: int
    created_utc_ms: int
    properties: dict[str, str] = field(default_factory=dict)
    indexes: list[IndexMeta] = field(default_factory=list)
    loaded: bool = False

    @property
    def default_partition_id(self) -> int:
        return next(iter(self.partitions.values()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "db": self.db,
            "name": self.name,
            "schema": schema_to_dict(self.schema),
            "shards_num": self.shards_num,
            "vchannels": self.vchannels,
            "pchannels": self.pchannels,
            "partitions": self.partitions,
            "consistency_level": int(self.consistency_level),
            "created_ts": self.created_ts,
            "created_utc_ms": self.created_utc_ms,
            "properties": self.properties,
            "indexes": [i.to_dict() for i in self.indexes],
            "loaded": self.loaded,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> CollectionMeta:
        return cls(
            id=int(raw["id"]),
            db=str(raw["db"]),
            name=str(raw["name"]),
            schema=schema_from_dict(raw["schema"]),
            shards_num=int(raw["shards_num"]),
            vchannels=list(raw["vchannels"]),
            pchannels=list(raw["pchannels"]),
            partitions={str(k): int(v) for k, v in raw["partitions"].items()},
            consistency_level=ConsistencyLevel(int(raw["consistency_level"])),
            created_ts=int(raw["created_ts"]),
            created_utc_ms=int(raw["created_utc_ms"]),
            properties=dict(raw.get("properties", {})),
            indexes=[IndexMeta.from_dict(i) for i in raw.get("indexes", [])],
            loaded=bool(raw.get("loaded", False)),
        )


def schema_to_dict(schema: CollectionSchema) -> dict[str, Any]:
    return {
        "name": schema.name,
        "description": schema.description,
        "enable_dynamic_field": schema.enable_dynamic_field,
        "fields": [
            {
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
                "element_type": None if f.element_type is None else int(f.element_type),
                "max_capacity": f.max_capacity,
                "type_params": dict(f.type_params),
            }
            for f in schema.fields
        ],
    }


def schema_from_dict(raw: dict[str, Any]) -> CollectionSchema:
    fields = tuple(
        FieldSchema(
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
            element_type=None if f.get("element_type") is None else DataType(f["element_type"]),
            max_capacity=f.get("max_capacity"),
            type_params=dict(f.get("type_params", {})),
        )
        for f in raw["fields"]
    )
    return CollectionSchema(
        name=str(raw["name"]),
        fields=fields,
        description=str(raw.get("description", "")),
        enable_dynamic_field=bool(raw.get("enable_dynamic_field", False)),
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

    Collections are found by ID and by ``(database, name)`` in constant time.
    Changes are made under :attr:`lock` and committed per object, so a DDL
    commit costs the size of what it changes, not of the whole catalog.
    """

    def __init__(self, store: MetaStore) -> None:
        self._store = store
        self.lock = threading.RLock()
        self.databases: dict[str, DatabaseMeta] = {}
        self.collections: dict[int, CollectionMeta] = {}
        self._by_name: dict[tuple[str, str], int] = {}
        for raw in store.scan(_DATABASE_PREFIX).values():
            db = DatabaseMeta.from_dict(orjson.loads(raw))
            self.databases[db.name] = db
        for raw in store.scan(_COLLECTION_PREFIX).values():
            meta = CollectionMeta.from_dict(orjson.loads(raw))
            self.collections[meta.id] = meta
            self._by_name[(meta.db, meta.name)] = meta.id

    @staticmethod
    def collection_key(collection_id: int) -> str:
        return f"{_COLLECTION_PREFIX}{collection_id}"

    @staticmethod
    def database_key(name: str) -> str:
        return f"{_DATABASE_PREFIX}{name}"

    def put_database(self, db: DatabaseMeta) -> None:
        with self.lock:
            self._store.commit({self.database_key(db.name): _encode(db.to_dict())})
            self.databases[db.name] = db

    def put_collection(
        self,
        meta: CollectionMeta,
        *,
        also_put: Mapping[str, bytes] | None = None,
        also_delete: Iterable[str] = (),
    ) -> None:
        """Commit ``meta`` (new or changed) together with any other keys given."""
        with self.lock:
            puts = {self.collection_key(meta.id): _encode(meta.to_dict()), **(also_put or {})}
            self._store.commit(puts, also_delete)
            for key, known_id in list(self._by_name.items()):
                if known_id == meta.id and key != (meta.db, meta.name):
                    del self._by_name[key]
            self.collections[meta.id] = meta
            self._by_name[(meta.db, meta.name)] = meta.id

    def remove_collection(self, meta: CollectionMeta, *, also_delete: Iterable[str] = ()) -> None:
        """Forget ``meta`` and delete the other keys given, in one commit."""
        with self.lock:
            self._store.commit({}, [self.collection_key(meta.id), *also_delete])
            self.collections.pop(meta.id, None)
            if self._by_name.get((meta.db, meta.name)) == meta.id:
                del self._by_name[(meta.db, meta.name)]

    def find(self, db: str, name: str) -> CollectionMeta | None:
        collection_id = self._by_name.get((db, name))
        return self.collections.get(collection_id) if collection_id is not None else None

    def in_db(self, db: str) -> list[CollectionMeta]:
        return sorted(
            (m for m in self.collections.values() if m.db == db), key=lambda m: m.created_ts
        )
