"""The client interface's namespace operations: databases, partitions, aliases, collection changes.

Part of :class:`sluice.client.Client` (which derives from :class:`NamespaceClient`);
both the embedded and the remote client implement every method here with
the same arguments and return shapes, which follow pymilvus's
``MilvusClient`` where it has the method.  Deliberate differences:
``list_aliases`` returns the alias names (pymilvus wraps them in a dict) and
``get_load_state`` the state's name (``"Loaded"``, ``"NotLoad"``,
``"NotExist"``) rather than an enum.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

from sluice.schema import FieldSchema


class NamespaceClient(abc.ABC):
    db_name: str

    # --- databases --------------------------------------------------------------------

    @abc.abstractmethod
    def create_database(self, db_name: str, properties: Mapping[str, Any] | None = None) -> None:
        """Create a database; property values travel as text."""

    @abc.abstractmethod
    def drop_database(self, db_name: str) -> None:
        """Drop an empty database (``default`` cannot be dropped; a missing one is fine)."""

    @abc.abstractmethod
    def list_databases(self) -> list[str]: ...

    @abc.abstractmethod
    def describe_database(self, db_name: str) -> dict[str, Any]:
        """``{"name": db_name, **properties}``, as pymilvus shows a database."""

    @abc.abstractmethod
    def alter_database_properties(self, db_name: str, properties: Mapping[str, Any]) -> None: ...

    @abc.abstractmethod
    def drop_database_properties(self, db_name: str, property_keys: Sequence[str]) -> None: ...

    @abc.abstractmethod
    def use_database(self, db_name: str) -> None:
        """Make ``db_name`` (which must exist) the database of every later call."""

    # --- partitions ---------------------------------------------------------------------

    @abc.abstractmethod
    def create_partition(self, name: str, partition_name: str) -> None: ...

    @abc.abstractmethod
    def drop_partition(self, name: str, partition_name: str) -> None:
        """Drop a released partition and its rows (``_default`` cannot be dropped)."""

    @abc.abstractmethod
    def has_partition(self, name: str, partition_name: str) -> bool: ...

    @abc.abstractmethod
    def list_partitions(self, name: str) -> list[str]:
        """Partition names in creation order (``_default`` first)."""

    @abc.abstractmethod
    def load_partitions(self, name: str, partition_names: Sequence[str]) -> None: ...

    @abc.abstractmethod
    def release_partitions(self, name: str, partition_names: Sequence[str]) -> None: ...

    @abc.abstractmethod
    def get_partition_stats(self, name: str, partition_name: str) -> dict[str, int]:
        """``{"row_count": n}``: the partition's persisted rows, counted like the collection's."""

    @abc.abstractmethod
    def get_load_state(self, name: str, partition_name: str = "") -> str:
        """``"Loaded"``, ``"NotLoad"`` or ``"NotExist"`` (a missing collection is not an error)."""

    # --- aliases ------------------------------------------------------------------------

    @abc.abstractmethod
    def create_alias(self, name: str, alias: str) -> None: ...

    @abc.abstractmethod
    def alter_alias(self, name: str, alias: str) -> None:
        """Point an existing alias at collection ``name``."""

    @abc.abstractmethod
    def drop_alias(self, alias: str) -> None: ...

    @abc.abstractmethod
    def describe_alias(self, alias: str) -> dict[str, str]:
        """``{"alias", "collection_name", "db_name"}``."""

    @abc.abstractmethod
    def list_aliases(self, name: str = "") -> list[str]:
        """Aliases of collection ``name``, or of every collection in the database."""

    # --- collection changes -------------------------------------------------------------

    @abc.abstractmethod
    def rename_collection(self, old_name: str, new_name: str, target_db: str = "") -> None:
        """Rename (and optionally move to ``target_db``); data, indexes and load state stay."""

    @abc.abstractmethod
    def truncate_collection(self, name: str) -> None:
        """Delete every row; the schema, indexes, partitions and load state stay."""

    @abc.abstractmethod
    def alter_collection_properties(self, name: str, properties: Mapping[str, Any]) -> None:
        """Set properties (``collection.ttl.seconds``, ``mmap.enabled``, ...)."""

    @abc.abstractmethod
    def drop_collection_properties(self, name: str, property_keys: Sequence[str]) -> None: ...

    @abc.abstractmethod
    def alter_collection_field(
        self, name: str, field_name: str, field_params: Mapping[str, Any]
    ) -> None:
        """Change a field's ``max_length`` or ``mmap.enabled``."""

    @abc.abstractmethod
    def add_collection_field(self, name: str, field: FieldSchema) -> None:
        """Add a nullable field; existing rows read it as its default value, or null."""


def text_values(values: Mapping[str, Any] | None) -> dict[str, str]:
    """Property values as pymilvus sends them: ``str()`` of each."""
    return {str(k): str(v) for k, v in (values or {}).items()}
