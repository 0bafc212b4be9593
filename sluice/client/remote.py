"""A Sluice (or Milvus) server over gRPC, behind the same :class:`Client` interface.

Data and DDL calls go through pymilvus's ``MilvusClient``, so every wire
conversion (rows to ``FieldData``, placeholder groups, result decoding) is
pymilvus's own and stays correct against a real Milvus.  Its answers are then
reshaped into the plain values the embedded client returns: lists and dicts
instead of pymilvus's lazy ``HybridExtraList`` / ``Hit`` objects, a hit's key
under ``"id"``, ``delete`` as a count.  Flush and segment RPCs use a raw stub
(:mod:`sluice.client.wire`) because pymilvus hides the response fields a
:class:`~sluice.client.flush_task.FlushTask` exposes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pymilvus
from pymilvus import MilvusClient
from pymilvus.client.embedding_list import EmbeddingList
from pymilvus.milvus_client.index import IndexParams

from sluice.client.base import (
    DEFAULT_DB,
    Client,
    IndexParam,
    InsertData,
    PersistentSegment,
    Row,
    Vectors,
)
from sluice.client.connection import parse_endpoint
from sluice.client.convert import (
    AMBIGUOUS_DELETE,
    as_vectors,
    check_limit,
    collection_dict,
    field_dict,
    id_list,
    parse_consistency,
    plain,
    rows_from_columns,
)
from sluice.client.flush_task import FlushAllTask, FlushTask
from sluice.client.namespaces import text_values
from sluice.client.remote_namespaces import RemoteNamespaces
from sluice.client.wire import FlushRpcs, translated
from sluice.errors import ParameterInvalid
from sluice.schema import CollectionSchema, DataType, FieldSchema
from sluice.types import arrow_type

log = logging.getLogger(__name__)


class RemoteClient(RemoteNamespaces, Client):
    """A connection to a server: pymilvus for data and DDL, a raw stub for flush and segments."""

    def __init__(self, uri: str, *, db_name: str = DEFAULT_DB, token: str | None = None) -> None:
        endpoint = parse_endpoint(uri)
        self.db_name = db_name or DEFAULT_DB
        with translated():
            # dedicated: closing this client must not close a connection pymilvus shares.
            self._milvus = MilvusClient(
                uri=endpoint.uri, token=token or "", db_name=self.db_name, dedicated=True
            )
        self._rpcs = FlushRpcs(endpoint, db_name=self.db_name, token=token)
        self._endpoint = endpoint
        self._closed = False
        log.info("remote client connected to %s (database %s)", endpoint.address, self.db_name)

    @property
    def milvus(self) -> MilvusClient:
        """The underlying pymilvus client, for what the client interface does not cover."""
        return self._milvus

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._rpcs.close()
        with translated():
            self._milvus.close()

    def __repr__(self) -> str:
        return f"RemoteClient({self._endpoint.uri!r}, db_name={self.db_name!r})"

    # --- collections ---------------------------------------------------------------

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
        level = parse_consistency(consistency_level).value
        extra: dict[str, Any] = {}
        if properties:
            extra["properties"] = text_values(properties)
        if num_partitions:
            extra["num_partitions"] = num_partitions
        with translated():
            if schema is None:
                if max_length is not None:
                    extra["max_length"] = max_length
                self._milvus.create_collection(
                    name,
                    dimension,
                    primary_field_name=primary_field,
                    id_type=id_type,
                    vector_field_name=vector_field,
                    metric_type=metric_type,
                    auto_id=auto_id,
                    num_shards=num_shards,
                    consistency_level=level,
                    enable_dynamic_field=enable_dynamic_field,
                    **extra,
                )
                return
            self._milvus.create_collection(
                name,
                schema=_pymilvus_schema(schema),
                index_params=_pymilvus_indexes(index_params) if index_params else None,
                num_shards=num_shards,
                consistency_level=level,
                **extra,
            )

    def drop_collection(self, name: str) -> None:
        with translated():
            self._milvus.drop_collection(name)

    def has_collection(self, name: str) -> bool:
        with translated():
            return bool(self._milvus.has_collection(name))

    def describe_collection(self, name: str) -> dict[str, Any]:
        with translated():
            raw = self._milvus.describe_collection(name)
        fields = [_described(f) for f in raw["fields"]]
        return collection_dict(
            name=raw["collection_name"],
            collection_id=raw["collection_id"],
            description=raw["description"],
            fields=fields,
            num_shards=raw["num_shards"],
            num_partitions=raw["num_partitions"],
            consistency=raw["consistency_level"],
            enable_dynamic_field=raw["enable_dynamic_field"],
            properties=raw.get("properties") or {},
            aliases=raw.get("aliases") or [],
            created_timestamp=raw.get("created_timestamp", 0),
            update_timestamp=raw.get("update_timestamp", 0),
        )

    def list_collections(self) -> list[str]:
        with translated():
            return list(self._milvus.list_collections())

    def get_collection_stats(self, name: str) -> dict[str, int]:
        with translated():
            stats = self._milvus.get_collection_stats(name)
        return {"row_count": int(stats.get("row_count", 0))}

    def load_collection(self, name: str) -> None:
        with translated():
            self._milvus.load_collection(name)

    def release_collection(self, name: str) -> None:
        with translated():
            self._milvus.release_collection(name)

    # --- indexes ---------------------------------------------------------------------

    def create_index(
        self,
        name: str,
        field_name: str,
        index_type: str = "AUTOINDEX",
        metric_type: str = "COSINE",
        params: Mapping[str, Any] | None = None,
        index_name: str = "",
    ) -> None:
        indexes = _pymilvus_indexes(
            [IndexParam(field_name, index_type, metric_type, dict(params or {}), index_name)]
        )
        with translated():
            self._milvus.create_index(name, indexes)

    def describe_index(self, name: str, index_name: str = "") -> dict[str, Any] | None:
        with translated():
            raw = self._milvus.describe_index(name, index_name)
        return None if raw is None else dict(raw)

    # --- data ------------------------------------------------------------------------

    def insert(self, name: str, data: InsertData, partition_name: str = "") -> dict[str, Any]:
        rows = rows_from_columns(data) if isinstance(data, Mapping) else list(data)
        if not rows:
            return {"insert_count": 0, "ids": []}
        with translated():
            result = self._milvus.insert(name, rows, partition_name=partition_name or None)
        return {"insert_count": int(result["insert_count"]), "ids": list(result["ids"])}

    def delete(
        self,
        name: str,
        ids: Sequence[int | str] | int | str | None = None,
        filter: str = "",
        filter_params: Mapping[str, Any] | None = None,
        partition_name: str = "",
    ) -> dict[str, int]:
        keys = id_list(ids)
        if filter and keys:
            raise ParameterInvalid.msg(AMBIGUOUS_DELETE)
        with translated():
            result = self._milvus.delete(
                name,
                ids=keys or None,
                filter=filter,
                filter_params=dict(filter_params or {}),
                partition_name=partition_name or None,
            )
        # Sluice (like Milvus before 2.3.2) echoes the deleted keys; pymilvus then returns them.
        if isinstance(result, list):
            return {"delete_count": len(result)}
        return {"delete_count": int(result.get("delete_count", 0))}

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
        page: dict[str, Any] = {} if limit is None else {"limit": limit, "offset": offset}
        with translated():
            rows = self._milvus.query(
                name,
                filter=filter,
                output_fields=list(output_fields) if output_fields else None,
                filter_params=dict(filter_params or {}),
                partition_names=list(partition_names) if partition_names else None,
                **page,
            )
            return [_plain_row(row) for row in rows]

    def get(
        self,
        name: str,
        ids: Sequence[int | str] | int | str,
        output_fields: Sequence[str] | None = None,
        partition_names: Sequence[str] | None = None,
    ) -> list[Row]:
        keys = id_list(ids)
        if not keys:
            return []
        with translated():
            rows = self._milvus.get(
                name,
                ids=keys,
                output_fields=list(output_fields) if output_fields else None,
                partition_names=list(partition_names) if partition_names else None,
            )
            return [_plain_row(row) for row in rows]

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
        check_limit(limit)
        vectors = _search_data(data)
        with translated():
            result = self._milvus.search(
                name,
                data=vectors,
                filter=filter,
                limit=limit,
                output_fields=list(output_fields) if output_fields else None,
                search_params={"metric_type": metric_type} if metric_type else {},
                anns_field=anns_field,
                filter_params=dict(filter_params or {}),
                partition_names=list(partition_names) if partition_names else None,
            )
            return [
                [
                    {"id": hit.id, "distance": hit.distance, "entity": _plain_row(hit["entity"])}
                    for hit in hits
                ]
                for hits in result
            ]

    # --- flush and segments -----------------------------------------------------------

    def flush(self, name: str) -> FlushTask:
        return self._rpcs.flush(name)

    def flush_all(self) -> FlushAllTask:
        return self._rpcs.flush_all()

    def list_persistent_segments(self, name: str) -> list[PersistentSegment]:
        return self._rpcs.persistent_segments(name)


def _plain_row(row: Mapping[str, Any]) -> Row:
    return {key: plain(value) for key, value in row.items()}


def _default_value(raw: Any) -> Any:
    """pymilvus shows a default as a ``schema.ValueField`` message; unwrap it."""
    if raw is None or not hasattr(raw, "WhichOneof"):
        return raw
    kind = raw.WhichOneof("data")
    return None if kind is None else getattr(raw, kind)


def _pymilvus_schema(schema: CollectionSchema) -> pymilvus.CollectionSchema:
    out = pymilvus.CollectionSchema(
        fields=[_pymilvus_field(f) for f in schema.user_fields if not f.struct_fields],
        description=schema.description,
        enable_dynamic_field=schema.enable_dynamic_field,
    )
    for fld in schema.struct_fields:
        struct = pymilvus.MilvusClient.create_struct_field_schema()
        for sub in fld.struct_fields:
            extra: dict[str, Any] = {}
            if sub.dim is not None:
                extra["dim"] = sub.dim
            if sub.max_length is not None:
                extra["max_length"] = sub.max_length
            if sub.is_clustering_key:
                extra["is_clustering_key"] = True  # refused, never silently dropped
            struct.add_field(sub.name, pymilvus.DataType(int(sub.dtype)), **extra)
        out.add_field(
            fld.name,
            pymilvus.DataType.ARRAY,
            element_type=pymilvus.DataType.STRUCT,
            struct_schema=struct,
            max_capacity=fld.max_capacity,
            description=fld.description,
        )
    return out


def _described(raw: Mapping[str, Any]) -> dict[str, Any]:
    """One field of pymilvus's describe output in Sluice's form (arrays of structs included)."""
    dtype = DataType(int(raw["type"]))
    params = dict(raw.get("params") or {})
    if raw.get("element_type") == pymilvus.DataType.STRUCT:
        dtype = DataType.ARRAY_OF_STRUCT
    out = field_dict(
        field_id=raw["field_id"],
        name=raw["name"],
        description=raw.get("description", ""),
        dtype=dtype,
        params=params,
        is_primary=bool(raw.get("is_primary")),
        auto_id=bool(raw.get("auto_id")),
        nullable=bool(raw.get("nullable")),
        is_partition_key=bool(raw.get("is_partition_key")),
        is_clustering_key=bool(raw.get("is_clustering_key")),
        default_value=_default_value(raw.get("default_value")),
    )
    if dtype == DataType.ARRAY_OF_STRUCT:
        out["struct_fields"] = [_described(sub) for sub in raw.get("struct_fields") or []]
    return out


def _search_data(data: Any) -> list[Any]:
    """Query vectors for pymilvus; one list of vectors per query becomes an ``EmbeddingList``."""
    if isinstance(data, list) and data and hasattr(data[0], "to_flat_array"):
        return data
    if (
        isinstance(data, list)
        and data
        and all(isinstance(item, (list, np.ndarray)) and np.ndim(item) == 2 for item in data)
    ):
        return [EmbeddingList(np.asarray(item, dtype=np.float32)) for item in data]
    return list(as_vectors(data))


def _pymilvus_field(fld: FieldSchema) -> pymilvus.FieldSchema:
    extra: dict[str, Any] = {}
    if fld.dim is not None:
        extra["dim"] = fld.dim
    if fld.max_length is not None:
        extra["max_length"] = fld.max_length
    if fld.default_value is not None:
        extra["default_value"] = _wire_default(fld)
    if fld.is_partition_key:
        extra["is_partition_key"] = True
    if fld.is_clustering_key:
        extra["is_clustering_key"] = True
    if fld.is_primary:
        extra["auto_id"] = fld.auto_id
    return pymilvus.FieldSchema(
        fld.name,
        pymilvus.DataType(int(fld.dtype)),
        description=fld.description,
        is_primary=fld.is_primary,
        nullable=fld.nullable,
        **extra,
    )


def _wire_default(fld: FieldSchema) -> Any:
    """The default value as a numpy scalar of the field's type: pymilvus infers the
    ``ValueField`` slot from it, and a plain Python int would go out as ``long_data``,
    which Milvus refuses for INT8-INT32 and FLOAT fields."""
    value = fld.default_value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return np.array(value, dtype=arrow_type(fld).to_pandas_dtype())[()]
    return value


def _pymilvus_indexes(index_params: Sequence[IndexParam]) -> IndexParams:
    indexes = IndexParams()
    for ip in index_params:
        indexes.add_index(
            ip.field_name,
            index_type=ip.index_type,
            index_name=ip.index_name,
            metric_type=ip.metric_type,
            params=dict(ip.params),
        )
    return indexes
