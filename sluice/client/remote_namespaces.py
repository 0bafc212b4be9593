"""The remote client's namespace operations: pymilvus's ``MilvusClient`` calls, reshaped.

Errors become :class:`~sluice.errors.SluiceError` subclasses (``translated``),
exactly as the embedded client raises them (see :mod:`.namespaces`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pymilvus
from pymilvus import MilvusClient

from sluice.client.namespaces import NamespaceClient, text_values
from sluice.client.wire import FlushRpcs, translated
from sluice.schema import FieldSchema


class RemoteNamespaces(NamespaceClient):
    _milvus: MilvusClient
    _rpcs: FlushRpcs

    # --- databases --------------------------------------------------------------------

    def create_database(self, db_name: str, properties: Mapping[str, Any] | None = None) -> None:
        with translated():
            self._milvus.create_database(db_name, properties=text_values(properties))

    def drop_database(self, db_name: str) -> None:
        with translated():
            self._milvus.drop_database(db_name)

    def list_databases(self) -> list[str]:
        with translated():
            return list(self._milvus.list_databases())

    def describe_database(self, db_name: str) -> dict[str, Any]:
        with translated():
            return dict(self._milvus.describe_database(db_name))

    def alter_database_properties(self, db_name: str, properties: Mapping[str, Any]) -> None:
        with translated():
            self._milvus.alter_database_properties(db_name, text_values(properties))

    def drop_database_properties(self, db_name: str, property_keys: Sequence[str]) -> None:
        with translated():
            self._milvus.drop_database_properties(db_name, list(property_keys))

    def use_database(self, db_name: str) -> None:
        with translated():
            self._milvus.describe_database(db_name)
            self._milvus.use_database(db_name)
        self._rpcs.db_name = db_name
        self.db_name = db_name

    # --- partitions ---------------------------------------------------------------------

    def create_partition(self, name: str, partition_name: str) -> None:
        with translated():
            self._milvus.create_partition(name, partition_name)

    def drop_partition(self, name: str, partition_name: str) -> None:
        with translated():
            self._milvus.drop_partition(name, partition_name)

    def has_partition(self, name: str, partition_name: str) -> bool:
        with translated():
            return bool(self._milvus.has_partition(name, partition_name))

    def list_partitions(self, name: str) -> list[str]:
        with translated():
            return list(self._milvus.list_partitions(name))

    def load_partitions(self, name: str, partition_names: Sequence[str]) -> None:
        with translated():
            self._milvus.load_partitions(name, list(partition_names))

    def release_partitions(self, name: str, partition_names: Sequence[str]) -> None:
        with translated():
            self._milvus.release_partitions(name, list(partition_names))

    def get_partition_stats(self, name: str, partition_name: str) -> dict[str, int]:
        with translated():
            stats = self._milvus.get_partition_stats(name, partition_name)
        return {"row_count": int(stats.get("row_count", 0))}

    def get_load_state(self, name: str, partition_name: str = "") -> str:
        with translated():
            state = self._milvus.get_load_state(name, partition_name)["state"]
        return pymilvus.client.types.LoadState(int(state)).name

    # --- aliases ------------------------------------------------------------------------

    def create_alias(self, name: str, alias: str) -> None:
        with translated():
            self._milvus.create_alias(name, alias)

    def alter_alias(self, name: str, alias: str) -> None:
        with translated():
            self._milvus.alter_alias(name, alias)

    def drop_alias(self, alias: str) -> None:
        with translated():
            self._milvus.drop_alias(alias)

    def describe_alias(self, alias: str) -> dict[str, str]:
        with translated():
            raw = self._milvus.describe_alias(alias)
        return {
            "alias": str(raw["alias"]),
            "collection_name": str(raw["collection_name"]),
            "db_name": str(raw["db_name"]),
        }

    def list_aliases(self, name: str = "") -> list[str]:
        with translated():
            return list(self._milvus.list_aliases(name)["aliases"])

    # --- collection changes -------------------------------------------------------------

    def rename_collection(self, old_name: str, new_name: str, target_db: str = "") -> None:
        with translated():
            self._milvus.rename_collection(old_name, new_name, target_db)

    def truncate_collection(self, name: str) -> None:
        with translated():
            self._milvus.truncate_collection(name)

    def alter_collection_properties(self, name: str, properties: Mapping[str, Any]) -> None:
        with translated():
            self._milvus.alter_collection_properties(name, text_values(properties))

    def drop_collection_properties(self, name: str, property_keys: Sequence[str]) -> None:
        with translated():
            self._milvus.drop_collection_properties(name, list(property_keys))

    def alter_collection_field(
        self, name: str, field_name: str, field_params: Mapping[str, Any]
    ) -> None:
        with translated():
            self._milvus.alter_collection_field(name, field_name, text_values(field_params))

    def add_collection_field(self, name: str, field: FieldSchema) -> None:
        extra: dict[str, Any] = {"nullable": field.nullable}
        if field.max_length is not None:
            extra["max_length"] = field.max_length
        if field.dim is not None:
            extra["dim"] = field.dim
        if field.default_value is not None:
            extra["default_value"] = field.default_value
        if field.is_clustering_key:
            extra["is_clustering_key"] = True
        with translated():
            self._milvus.add_collection_field(
                name,
                field.name,
                pymilvus.DataType(int(field.dtype)),
                desc=field.description,
                **extra,
            )
