"""What every part of the engine facade shares: the open folder, the catalog, name lookup.

:class:`~sluice.engine.engine.Engine` is assembled from one mixin per group
of operations (databases, partitions, aliases, collection changes, data,
flush, indexes); each mixin derives from :class:`EngineCore`, which holds the
state they all use and the two steps they all take:

* **resolving** a name the way Milvus's proxy does: the database, then the
  collection by name or by alias.  The RPCs whose proxy task checks the name
  first (describe, insert, query, partitions, load and release, ...) ask for
  that (``check_name``): a malformed name is then reported as malformed; the
  others (search, indexes, flush, property changes) report it as not found;
* **publishing** a DDL change: the new :class:`CollectionMeta` is committed to
  the metadata store and only then replaces the live one, so a failed commit
  changes nothing.

Lock order, everywhere: ``catalog.lock`` -> a collection's ``manifest_lock``
-> its channel locks (in shard order).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sluice.config import Settings
from sluice.engine.catalog import Catalog, CollectionMeta
from sluice.engine.collection import Collection
from sluice.engine.context import EngineContext
from sluice.engine.names import validate_collection_name
from sluice.engine.stores import Stores
from sluice.engine.timezones import collection_timezone
from sluice.errors import CollectionNotFound, DatabaseNotFound, ServiceNotReady


class EngineCore:
    """State and helpers shared by the engine's operation groups."""

    settings: Settings
    stores: Stores
    ctx: EngineContext
    catalog: Catalog
    collections: dict[int, Collection]
    _closed: bool

    def _check_open(self) -> None:
        if self._closed:
            raise ServiceNotReady.with_fields(state="Stopping")

    def _check_db(self, db: str) -> None:
        if db not in self.catalog.databases:
            raise DatabaseNotFound.named(db)

    def get(self, db: str, name: str, *, check_name: bool = False) -> Collection:
        """The live collection ``name`` (or aliased as ``name``) in ``db``, or Milvus's error.

        ``check_name`` applies Milvus's name rules before the lookup.
        """
        self._check_open()
        if check_name:
            validate_collection_name(name)
        self._check_db(db)
        meta = self.catalog.resolve(db, name)
        collection = self.collections.get(meta.id) if meta is not None else None
        if collection is None:
            raise CollectionNotFound.named(db, name)
        return collection

    def timezone(self, db: str, name: str, requested: str = "") -> str:
        """The zone TIMESTAMPTZ values of ``name`` are read and shown in (see timezones.py)."""
        return collection_timezone(self.catalog, self.get(db, name).meta, requested)

    def _publish(
        self,
        *metas: CollectionMeta,
        also_put: Mapping[str, bytes] | None = None,
        also_delete: Iterable[str] = (),
    ) -> None:
        """Commit new versions of collections (one atomic step), then make them live.

        The caller holds ``catalog.lock``.
        """
        self.catalog.put_collections(metas, also_put=also_put, also_delete=also_delete)
        for meta in metas:
            collection = self.collections.get(meta.id)
            if collection is not None:
                collection.meta = meta
