"""The engine's index operations: CreateIndex, DescribeIndex, AlterIndex, DropIndex."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from sluice.engine import indexes
from sluice.engine.core import EngineCore
from sluice.engine.index_builds import IndexBuilder, drop_segment_indexes


class IndexOps(EngineCore):
    index_builder: IndexBuilder

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
        self,
        db: str,
        name: str,
        index_name: str = "",
        field_name: str = "",
        wait_seconds: float = 0.0,
    ) -> list[indexes.IndexInfo]:
        """The matching indexes; an unfinished answer may wait up to ``wait_seconds`` for builds."""
        collection = self.get(db, name)
        deadline = time.monotonic() + wait_seconds
        while True:
            infos = indexes.describe_indexes(collection, index_name, field_name)
            left = deadline - time.monotonic()
            if left <= 0 or all(i.finished for i in infos):
                return infos
            if not self.index_builder.wait_for_progress(collection.id, left):
                return indexes.describe_indexes(collection, index_name, field_name)

    def alter_index(
        self,
        db: str,
        name: str,
        index_name: str,
        params: Mapping[str, str],
        delete_keys: Sequence[str] = (),
    ) -> None:
        """Set or drop an index's ``mmap.enabled`` (applied when the collection is next loaded)."""
        collection = self.get(db, name)
        indexes.alter_index(self.catalog, collection, index_name, params, delete_keys)

    def drop_index(self, db: str, name: str, field_name: str, index_name: str) -> None:
        collection = self.get(db, name)
        for index_id in indexes.drop_index(self.catalog, collection, field_name, index_name):
            drop_segment_indexes(self.ctx, collection, index_id)
