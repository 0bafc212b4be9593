"""Aliases: other names for a collection, in its database, usable wherever a name is.

An alias lives in its collection's catalog entry (``CollectionMeta.aliases``)
and is resolved by :meth:`Catalog.resolve` on every request, so switching an
alias is one metadata commit and the next request already sees the new
target; a search in flight keeps the collection it started on.  Moving an
alias between collections commits both entries at once.

Milvus's rules (root coordinator ``CreateAlias``/``AlterAlias``/...), with its
wording: an alias may not be a collection's name and the reverse; an alias
names a collection by its real name (not another alias); creating an alias
that already points at the collection succeeds, one that points elsewhere
fails; dropping a missing alias succeeds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sluice.engine.catalog import CollectionMeta
from sluice.engine.core import EngineCore
from sluice.engine.names import validate_alias, validate_collection_name
from sluice.errors import (
    AliasAlreadyExists,
    AliasNameConflict,
    AliasNotFound,
    CollectionNotFound,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AliasInfo:
    db: str
    alias: str
    collection: str


class AliasOps(EngineCore):
    def _target(self, db: str, collection: str, *, with_db: bool) -> CollectionMeta:
        """The collection an alias is to point at, by its real name."""
        meta = self.catalog.find(db, collection)
        if meta is None:
            if with_db:
                raise CollectionNotFound.named(db, collection)
            raise CollectionNotFound.with_fields(collection=collection)
        return meta

    def create_alias(self, db: str, collection: str, alias: str) -> None:
        self._check_open()
        validate_collection_name(collection)
        validate_alias(alias)
        self._check_db(db)
        with self.catalog.lock:
            if self.catalog.find(db, alias) is not None:
                raise AliasNameConflict.named(db, alias)
            target = self._target(db, collection, with_db=True)
            current = self.catalog.find_alias(db, alias)
            if current is not None:
                if current.id == target.id:
                    return
                raise AliasAlreadyExists(
                    f"{alias} is alias to another collection: {current.name}: "
                    f"{AliasAlreadyExists.base_message}[database={db}][alias={alias}]"
                )
            ts = self.ctx.tso.allocate()
            self._publish(target.evolve(aliases=[*target.aliases, alias], updated_ts=ts))
        log.info("created alias %s.%s -> %s", db, alias, collection)

    def alter_alias(self, db: str, collection: str, alias: str) -> None:
        """Point ``alias`` at ``collection`` (both entries change in one commit)."""
        self._check_open()
        validate_collection_name(collection)
        validate_alias(alias)
        self._check_db(db)
        with self.catalog.lock:
            if self.catalog.find(db, alias) is not None:
                raise AliasNameConflict.named(db, alias)
            target = self._target(db, collection, with_db=False)
            current = self.catalog.find_alias(db, alias)
            if current is None:
                raise AliasNotFound.named(db, alias)
            if current.id == target.id:
                return
            ts = self.ctx.tso.allocate()
            self._publish(
                current.evolve(aliases=[a for a in current.aliases if a != alias], updated_ts=ts),
                target.evolve(aliases=[*target.aliases, alias], updated_ts=ts),
            )
        log.info("altered alias %s.%s -> %s", db, alias, collection)

    def drop_alias(self, db: str, alias: str) -> None:
        """Dropping a missing alias succeeds, as in Milvus 2.6."""
        self._check_open()
        self._check_db(db)
        with self.catalog.lock:
            current = self.catalog.find_alias(db, alias)
            if current is None:
                return
            ts = self.ctx.tso.allocate()
            self._publish(
                current.evolve(aliases=[a for a in current.aliases if a != alias], updated_ts=ts)
            )
        log.info("dropped alias %s.%s", db, alias)

    def describe_alias(self, db: str, alias: str) -> AliasInfo:
        self._check_open()
        validate_alias(alias)
        self._check_db(db)
        current = self.catalog.find_alias(db, alias)
        if current is None:
            raise AliasNotFound.named(db, alias)
        return AliasInfo(db, alias, current.name)

    def list_aliases(self, db: str, collection: str = "") -> list[str]:
        """Aliases of ``collection`` (by real name), or every alias in ``db``."""
        self._check_open()
        if collection:
            validate_collection_name(collection)
        self._check_db(db)
        if not collection:
            return [alias for alias, _ in self.catalog.aliases_in(db)]
        meta = self.catalog.find(db, collection)
        if meta is None:
            raise CollectionNotFound.with_fields(collection=collection)
        return list(meta.aliases)
