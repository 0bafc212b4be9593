"""The embedded client's namespace operations: each one an engine call (see :mod:`.namespaces`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sluice.client.namespaces import NamespaceClient, text_values
from sluice.engine import Engine, LoadState
from sluice.errors import DatabaseNotFound
from sluice.schema import FieldSchema

LOAD_STATE_NAMES = {
    LoadState.NOT_EXIST: "NotExist",
    LoadState.NOT_LOAD: "NotLoad",
    LoadState.LOADING: "Loading",
    LoadState.LOADED: "Loaded",
}


class EmbeddedNamespaces(NamespaceClient):
    _engine: Engine

    # --- databases --------------------------------------------------------------------

    def create_database(self, db_name: str, properties: Mapping[str, Any] | None = None) -> None:
        self._engine.create_database(db_name, text_values(properties))

    def drop_database(self, db_name: str) -> None:
        self._engine.drop_database(db_name)

    def list_databases(self) -> list[str]:
        return self._engine.list_databases()

    def describe_database(self, db_name: str) -> dict[str, Any]:
        info = self._engine.describe_database(db_name)
        return {"name": info.name, **info.properties}

    def alter_database_properties(self, db_name: str, properties: Mapping[str, Any]) -> None:
        self._engine.alter_database(db_name, text_values(properties))

    def drop_database_properties(self, db_name: str, property_keys: Sequence[str]) -> None:
        self._engine.alter_database(db_name, {}, list(property_keys))

    def use_database(self, db_name: str) -> None:
        if db_name not in self._engine.list_databases():
            raise DatabaseNotFound.named(db_name)
        self.db_name = db_name

    # --- partitions ---------------------------------------------------------------------

    def create_partition(self, name: str, partition_name: str) -> None:
        self._engine.create_partition(self.db_name, name, partition_name)

    def drop_partition(self, name: str, partition_name: str) -> None:
        self._engine.drop_partition(self.db_name, name, partition_name)

    def has_partition(self, name: str, partition_name: str) -> bool:
        return self._engine.has_partition(self.db_name, name, partition_name)

    def list_partitions(self, name: str) -> list[str]:
        return [p.name for p in self._engine.list_partitions(self.db_name, name)]

    def load_partitions(self, name: str, partition_names: Sequence[str]) -> None:
        self._engine.load_partitions(self.db_name, name, list(partition_names))

    def release_partitions(self, name: str, partition_names: Sequence[str]) -> None:
        self._engine.release_partitions(self.db_name, name, list(partition_names))

    def get_partition_stats(self, name: str, partition_name: str) -> dict[str, int]:
        stats = self._engine.partition_stats(self.db_name, name, partition_name)
        return {"row_count": int(stats["row_count"])}

    def get_load_state(self, name: str, partition_name: str = "") -> str:
        partitions = [partition_name] if partition_name else []
        return LOAD_STATE_NAMES[self._engine.load_state(self.db_name, name, partitions)]

    # --- aliases ------------------------------------------------------------------------

    def create_alias(self, name: str, alias: str) -> None:
        self._engine.create_alias(self.db_name, name, alias)

    def alter_alias(self, name: str, alias: str) -> None:
        self._engine.alter_alias(self.db_name, name, alias)

    def drop_alias(self, alias: str) -> None:
        self._engine.drop_alias(self.db_name, alias)

    def describe_alias(self, alias: str) -> dict[str, str]:
        info = self._engine.describe_alias(self.db_name, alias)
        return {"alias": info.alias, "collection_name": info.collection, "db_name": info.db}

    def list_aliases(self, name: str = "") -> list[str]:
        return self._engine.list_aliases(self.db_name, name)

    # --- collection changes -------------------------------------------------------------

    def rename_collection(self, old_name: str, new_name: str, target_db: str = "") -> None:
        self._engine.rename_collection(self.db_name, old_name, new_name, target_db)

    def truncate_collection(self, name: str) -> None:
        self._engine.truncate_collection(self.db_name, name)

    def alter_collection_properties(self, name: str, properties: Mapping[str, Any]) -> None:
        self._engine.alter_collection(self.db_name, name, text_values(properties))

    def drop_collection_properties(self, name: str, property_keys: Sequence[str]) -> None:
        self._engine.alter_collection(self.db_name, name, {}, list(property_keys))

    def alter_collection_field(
        self, name: str, field_name: str, field_params: Mapping[str, Any]
    ) -> None:
        self._engine.alter_collection_field(
            self.db_name, name, field_name, text_values(field_params)
        )

    def add_collection_field(self, name: str, field: FieldSchema) -> None:
        self._engine.add_collection_field(self.db_name, name, field)
