"""The engine's index operations: CreateIndex, DescribeIndex, DropIndex."""

from __future__ import annotations

from collections.abc import Mapping

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
        self, db: str, name: str, index_name: str = "", field_name: str = ""
    ) -> list[indexes.IndexInfo]:
        return indexes.describe_indexes(self.get(db, name), index_name, field_name)

    def drop_index(self, db: str, name: str, field_name: str, index_name: str) -> None:
        collection = self.get(db, name)
        for index_id in indexes.drop_index(self.catalog, collection, field_name, index_name):
            drop_segment_indexes(self.ctx, collection, index_id)
