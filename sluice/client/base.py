"""The one client interface, shared by the embedded engine and a remote server.

Code written against :class:`Client` runs unchanged on ``sluice.connect("./data")``
and on ``sluice.connect("http://host:19530")``: both implementations take the
same arguments, return plain Python values of the same shape (never pymilvus
or pyarrow objects), and raise the same :class:`~sluice.errors.SluiceError`
subclasses.  Shapes follow pymilvus's ``MilvusClient`` where it has one, so
moving code between the two is mostly a rename.

Deliberate differences from pymilvus: a search hit is always
``{"id", "distance", "entity"}`` (pymilvus keys the id by the primary field's
name), ``flush`` returns a :class:`FlushTask` instead of blocking, and
``delete`` always answers ``{"delete_count": n}``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import numpy as np

from sluice.client.flush_task import FlushAllTask, FlushTask
from sluice.client.namespaces import NamespaceClient
from sluice.schema import CollectionSchema

#: The database a connection uses unless told otherwise (Milvus's default).
DEFAULT_DB = "default"
#: Rows as dicts, or columns by field name (lists, numpy arrays, 2-D arrays for vectors).
InsertData = Sequence[Mapping[str, Any]] | Mapping[str, Any]
#: Query vectors: a list of vectors, a 2-D array, or one vector.
Vectors = Sequence[Sequence[float]] | np.ndarray
Row = dict[str, Any]


@dataclass(frozen=True)
class PersistentSegment:
    """One row of ``GetPersistentSegmentInfo``.

    ``state`` and ``level`` are Milvus's enum names (``"Flushed"``,
    ``"Sealed"``, ``"L0"``, ``"L1"``) rather than numbers, because Milvus's
    ``SegmentState`` numbering is not in lifecycle order (Flushed=4 < Flushing=5).
    L0 segments hold deletes only and report ``num_rows == 0``.
    """

    segment_id: int
    collection_id: int
    partition_id: int
    num_rows: int
    state: str
    level: str
    channel: str


@dataclass(frozen=True)
class IndexParam:
    """One index to build, as ``create_collection(index_params=[...])`` takes them.

    The same arguments as :meth:`Client.create_index`; ``params`` holds the
    index type's own settings (``{"M": 16}`` for HNSW).
    """

    field_name: str
    index_type: str = "AUTOINDEX"
    metric_type: str = "COSINE"
    params: Mapping[str, Any] = field(default_factory=dict)
    index_name: str = ""


class Client(NamespaceClient):
    """A connection to one Sluice database, in this process or over gRPC.

    Databases, partitions, aliases and collection changes are in
    :class:`~sluice.client.namespaces.NamespaceClient`.
    """

    db_name: str

    # --- lifecycle ---------------------------------------------------------------

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection (embedded: persist buffers and unlock the folder). Idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- collections ---------------------------------------------------------------

    @abc.abstractmethod
    def create_collection(
        self,
        name: str,
        dimension: int | None = None,
        *,
        schema: CollectionSchema | None = None,
        index_params: Sequence[IndexParam] | None = None,
        primary_field: str = "id",
        id_type: str = "int",
        vector_field: str = "vector",
        metric_type: str = "COSINE",
        auto_id: bool = False,
        num_shards: int = 1,
        consistency_level: str = "Bounded",
        enable_dynamic_field: bool = True,
        max_length: int | None = None,
        num_partitions: int = 0,
        properties: Mapping[str, Any] | None = None,
    ) -> None:
        """Create a collection, as ``MilvusClient.create_collection`` does.

        Without ``schema`` (the quick path) the collection gets an ``id`` primary
        key (``id_type`` ``"int"`` or ``"string"``; strings need ``max_length``),
        a float ``vector`` field of ``dimension``, a dynamic field, an AUTOINDEX
        with ``metric_type``, and is loaded.  With ``schema`` it is only created;
        indexed and loaded too when ``index_params`` are given.  A schema with a
        partition-key field gets ``num_partitions`` partitions (Milvus's default 16).
        """

    @abc.abstractmethod
    def drop_collection(self, name: str) -> None:
        """Drop ``name``; dropping a missing collection succeeds (Milvus semantics)."""

    @abc.abstractmethod
    def has_collection(self, name: str) -> bool: ...

    @abc.abstractmethod
    def describe_collection(self, name: str) -> dict[str, Any]:
        """Schema and settings as a plain dict shaped like pymilvus's.

        Keys: ``collection_name``, ``collection_id``, ``description``,
        ``auto_id``, ``num_shards``, ``num_partitions``, ``consistency_level``
        (number) and ``consistency_level_name``, ``enable_dynamic_field``,
        ``properties``, ``aliases``, ``created_timestamp``, ``update_timestamp``
        and ``fields``: one dict per field with ``field_id``, ``name``,
        ``description``, ``type`` (:class:`sluice.schema.DataType`), ``params``
        and, only when set, ``is_primary``, ``auto_id``, ``nullable``,
        ``is_partition_key``, ``is_clustering_key``, ``default_value``.
        """

    @abc.abstractmethod
    def list_collections(self) -> list[str]: ...

    @abc.abstractmethod
    def get_collection_stats(self, name: str) -> dict[str, int]:
        """``{"row_count": n}``: rows in persisted segments, as Milvus counts them.

        Rows not yet flushed are not counted and deleted rows still are (until
        compaction); use ``query(name, output_fields=["count(*)"])`` for the live count.
        """

    @abc.abstractmethod
    def load_collection(self, name: str) -> None: ...

    @abc.abstractmethod
    def release_collection(self, name: str) -> None: ...

    # --- indexes ---------------------------------------------------------------------

    @abc.abstractmethod
    def create_index(
        self,
        name: str,
        field_name: str,
        index_type: str = "AUTOINDEX",
        metric_type: str = "COSINE",
        params: Mapping[str, Any] | None = None,
        index_name: str = "",
    ) -> None: ...

    @abc.abstractmethod
    def describe_index(self, name: str, index_name: str = "") -> dict[str, Any] | None:
        """The index's settings and progress as pymilvus shows them; ``None`` if there is none.

        An empty ``index_name`` means "the only index"; with several indexes it
        raises :class:`~sluice.errors.ParameterInvalid`.
        """

    # --- data ------------------------------------------------------------------------

    @abc.abstractmethod
    def insert(self, name: str, data: InsertData, partition_name: str = "") -> dict[str, Any]:
        """Insert rows (list of dicts) or columns (dict of lists/arrays).

        Keys that are not schema fields go to the dynamic field when the
        collection has one.  Rows go to ``partition_name`` (``_default`` when
        empty), or by partition key.  Returns ``{"insert_count": n, "ids": [...]}``.
        """

    @abc.abstractmethod
    def delete(
        self,
        name: str,
        ids: Sequence[int | str] | int | str | None = None,
        filter: str = "",
        filter_params: Mapping[str, Any] | None = None,
        partition_name: str = "",
    ) -> dict[str, int]:
        """Delete by primary keys or by filter (not both): ``{"delete_count": n}``.

        With ``partition_name`` only rows of that partition are deleted.
        """

    @abc.abstractmethod
    def query(
        self,
        name: str,
        filter: str = "",
        output_fields: Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
        filter_params: Mapping[str, Any] | None = None,
        partition_names: Sequence[str] | None = None,
    ) -> list[Row]:
        """Matching rows as dicts, ordered by primary key (of ``partition_names``, else all
        loaded partitions).

        ``output_fields`` defaults to every field; dynamic keys appear as
        top-level keys like in pymilvus.  ``["count(*)"]`` returns
        ``[{"count(*)": n}]``.  An empty ``filter`` needs a ``limit`` (or count).
        """

    @abc.abstractmethod
    def get(
        self,
        name: str,
        ids: Sequence[int | str] | int | str,
        output_fields: Sequence[str] | None = None,
        partition_names: Sequence[str] | None = None,
    ) -> list[Row]:
        """Rows by primary key (missing keys are skipped)."""

    @abc.abstractmethod
    def search(
        self,
        name: str,
        data: Vectors,
        limit: int = 10,
        filter: str = "",
        output_fields: Sequence[str] | None = None,
        anns_field: str | None = None,
        metric_type: str | None = None,
        filter_params: Mapping[str, Any] | None = None,
        partition_names: Sequence[str] | None = None,
    ) -> list[list[Row]]:
        """Per query vector, the best hits: ``{"id", "distance", "entity": {...}}``.

        ``entity`` holds ``output_fields`` (empty by default).  ``metric_type``
        defaults to the index's metric.
        """

    # --- flush and segments ------------------------------------------------------------

    @abc.abstractmethod
    def flush(self, name: str) -> FlushTask:
        """Seal the growing segments and return at once; ``task.wait()`` waits for durability."""

    @abc.abstractmethod
    def flush_all(self) -> FlushAllTask:
        """Flush every collection (Milvus 2.6 semantics: the whole server, every database)."""

    @abc.abstractmethod
    def list_persistent_segments(self, name: str) -> list[PersistentSegment]:
        """Sealed, Flushing and Flushed segments, L0 (delete) segments included, by segment id."""
