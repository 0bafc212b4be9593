"""Databases: create, drop, list, describe and alter them, with Milvus's rules.

A database is a namespace: every collection belongs to exactly one, names
are unique per database, IDs are global.  ``default`` always exists and
cannot be dropped; a database that still holds collections cannot be
dropped either; dropping a missing one succeeds.  Milvus allows 64
databases (``rootCoord.maxDatabaseNum``).

Properties are stored as given and shown by DescribeDatabase.  Sluice acts
on ``database.max.collections`` (CreateCollection beyond it fails, as in
Milvus); the others (replica number, resource groups, force-deny switches,
disk quota) describe a cluster Sluice does not have and are only stored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sluice.engine.catalog import DEFAULT_DB, DatabaseMeta
from sluice.engine.core import EngineCore
from sluice.engine.names import validate_database_name
from sluice.errors import (
    CollectionLimitExceeded,
    DatabaseLimitExceeded,
    DatabaseNotFound,
    RequestError,
)

log = logging.getLogger(__name__)

#: ``rootCoord.maxDatabaseNum``.
MAX_DATABASES = 64
#: ``quotaAndLimits.limits.maxCollectionNumPerDB``.
MAX_COLLECTIONS_PER_DB = 65536
MAX_COLLECTIONS_PROPERTY = "database.max.collections"


@dataclass(frozen=True)
class DatabaseInfo:
    """What DescribeDatabase and ListDatabases report about one database."""

    name: str
    id: int
    created_ts: int
    properties: Mapping[str, str]


def _info(db: DatabaseMeta) -> DatabaseInfo:
    return DatabaseInfo(db.name, db.id, db.created_ts, dict(db.properties))


class DatabaseOps(EngineCore):
    def create_database(self, name: str, properties: Mapping[str, str] | None = None) -> None:
        self._check_open()
        validate_database_name(name)
        with self.catalog.lock:
            if name in self.catalog.databases:
                raise RequestError(f"database already exist: {name}")
            if len(self.catalog.databases) >= MAX_DATABASES:
                raise DatabaseLimitExceeded.with_fields(limit=MAX_DATABASES)
            db = DatabaseMeta(
                self.ctx.ids.allocate(), name, self.ctx.tso.allocate(), dict(properties or {})
            )
            self.catalog.put_database(db)
        log.info("created database %s (id %d)", name, db.id)

    def drop_database(self, name: str) -> None:
        """Milvus drops idempotently: a missing database is a success."""
        self._check_open()
        validate_database_name(name)
        if name == DEFAULT_DB:
            raise RequestError("can not drop default database")
        with self.catalog.lock:
            if name not in self.catalog.databases:
                return
            if self.catalog.in_db(name):
                raise RequestError(
                    f"database:{name} not empty, must drop all collections before drop database"
                )
            self.catalog.remove_database(name)
        log.info("dropped database %s", name)

    def list_databases(self) -> list[str]:
        return [db.name for db in self.databases()]

    def databases(self) -> list[DatabaseInfo]:
        """Every database, oldest first."""
        self._check_open()
        return [_info(db) for db in sorted(self.catalog.databases.values(), key=lambda d: d.id)]

    def describe_database(self, name: str) -> DatabaseInfo:
        self._check_open()
        db = self.catalog.databases.get(name)
        if db is None:
            raise DatabaseNotFound.named(name)
        return _info(db)

    def alter_database(
        self, name: str, properties: Mapping[str, str], delete_keys: Iterable[str] = ()
    ) -> None:
        """Set ``properties`` or remove ``delete_keys`` (one of the two, as Milvus requires)."""
        self._check_open()
        keys = list(delete_keys)
        if properties and keys:
            raise RequestError(
                "alter database requires either properties or deletekeys to modify or delete "
                "keys, both cannot be provided"
            )
        if not properties and not keys:
            raise RequestError(
                "alter database with empty properties and delete keys, expected to set either "
                "properties or delete keys"
            )
        with self.catalog.lock:
            db = self.catalog.databases.get(name)
            if db is None:
                raise DatabaseNotFound.named(name)
            changed = {k: v for k, v in db.properties.items() if k not in keys}
            changed.update(properties)
            self.catalog.put_database(DatabaseMeta(db.id, db.name, db.created_ts, changed))

    def _check_collection_limit(self, db: str) -> None:
        """``checkMaxCollectionsPerDB``, before a collection is created in ``db``."""
        meta = self.catalog.databases[db]
        raw = meta.properties.get(MAX_COLLECTIONS_PROPERTY)
        limit = MAX_COLLECTIONS_PER_DB
        if raw:
            try:
                limit = int(raw)
            except ValueError:
                raise RequestError(
                    f"parse value of property fail, key:{MAX_COLLECTIONS_PROPERTY}, value:{raw}, "
                    f'err:strconv.Atoi: parsing "{raw}": invalid syntax'
                ) from None
        if len(self.catalog.in_db(db)) >= limit:
            raise CollectionLimitExceeded.with_fields(dbName=db, limit=limit)
