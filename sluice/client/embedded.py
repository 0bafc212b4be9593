"""The engine in this process: each :class:`Client` call is an ``Engine`` call.

No gRPC and no protobuf: data goes from the caller's lists/arrays to Arrow
columns (:mod:`sluice.client.columns`) and results come back from Arrow
tables.  Requests follow the path pymilvus + the server would take (same
defaults, same index parameters, same filters), so an embedded result equals
a remote one.  Engine errors propagate unchanged: they already are the
:class:`~sluice.errors.SluiceError` subclasses the server maps to Milvus codes.

Opening the client opens the data folder exclusively (a ``flock`` on
``<data>/LOCK``); another process gets :class:`~sluice.errors.DataDirLockedError`
until :meth:`EmbeddedClient.close` releases it.  Closing persists every
buffered row, so the next open replays nothing.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from sluice.client import columns
from sluice.client.base import Client, IndexParam, InsertData, PersistentSegment, Row, Vectors
from sluice.client.convert import (
    AMBIGUOUS_DELETE,
    AMBIGUOUS_INDEX,
    as_vectors,
    check_limit,
    collection_dict,
    field_dict,
    field_params,
    id_list,
    index_dict,
    index_wire_params,
    parse_consistency,
    segment_level_name,
    segment_state_name,
)
from sluice.client.embedded_namespaces import EmbeddedNamespaces
from sluice.client.flush_task import Checkpoint, FlushAllTask, FlushTask
from sluice.client.namespaces import text_values
from sluice.config import Settings
from sluice.engine import DEFAULT_DB, EmbeddingLists, Engine, SearchRequest
from sluice.errors import DatabaseNotFound, IndexNotFound, ParameterInvalid
from sluice.schema import CollectionSchema, DataType, FieldSchema

log = logging.getLogger(__name__)

_PK_PARAM = "pks"


class EmbeddedClient(EmbeddedNamespaces, Client):
    """A data folder opened in this process (one engine per folder per machine)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        db_name: str = DEFAULT_DB,
        settings: Settings | None = None,
    ) -> None:
        data_dir = Path(path)
        settings = replace(settings, data_dir=data_dir) if settings else Settings(data_dir=data_dir)
        self._engine = Engine(settings)
        self._close_lock = threading.Lock()
        self.db_name = db_name or DEFAULT_DB
        if self.db_name not in self._engine.list_databases():
            self._engine.close()
            raise DatabaseNotFound.named(self.db_name)
        log.info("embedded client open on %s (database %s)", data_dir, self.db_name)

    @property
    def engine(self) -> Engine:
        """The engine itself, for what the client interface does not cover."""
        return self._engine

    def close(self) -> None:
        with self._close_lock:
            self._engine.close()

    def __repr__(self) -> str:
        return f"EmbeddedClient({str(self._engine.settings.data_dir)!r}, db_name={self.db_name!r})"

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
        level = parse_consistency(consistency_level)
        props = text_values(properties)
        if schema is None:
            quick = _quick_schema(
                name, dimension, primary_field, id_type, vector_field, auto_id,
                enable_dynamic_field, max_length,
            )  # fmt: skip
            self._engine.create_collection(
                self.db_name, quick, shards_num=num_shards, consistency=level, properties=props
            )
            self.create_index(name, vector_field, "AUTOINDEX", metric_type)
            self._engine.load(self.db_name, name)
            return
        if schema.name != name:
            schema = replace(schema, name=name)
        self._engine.create_collection(
            self.db_name,
            schema,
            shards_num=num_shards,
            consistency=level,
            properties=props,
            num_partitions=num_partitions,
        )
        if index_params:
            for ip in index_params:
                self.create_index(
                    name, ip.field_name, ip.index_type, ip.metric_type, ip.params, ip.index_name
                )
            self._engine.load(self.db_name, name)

    def drop_collection(self, name: str) -> None:
        self._engine.drop_collection(self.db_name, name)

    def has_collection(self, name: str) -> bool:
        return self._engine.has_collection(self.db_name, name)

    def describe_collection(self, name: str) -> dict[str, Any]:
        meta = self._engine.describe(self.db_name, name)
        fields = [_described(f) for f in meta.schema.user_fields]
        return collection_dict(
            name=meta.name,
            collection_id=meta.id,
            description=meta.schema.description,
            fields=fields,
            num_shards=meta.shards_num,
            num_partitions=len(meta.partitions),
            consistency=meta.consistency_level,
            enable_dynamic_field=meta.schema.enable_dynamic_field,
            properties=meta.properties,
            aliases=list(meta.aliases),
            created_timestamp=meta.created_ts,
            update_timestamp=meta.updated_ts,
        )

    def list_collections(self) -> list[str]:
        return [meta.name for meta in self._engine.list_collections(self.db_name)]

    def get_collection_stats(self, name: str) -> dict[str, int]:
        stats = self._engine.collection_stats(self.db_name, name)
        return {"row_count": int(stats["row_count"])}

    def load_collection(self, name: str) -> None:
        self._engine.load(self.db_name, name)

    def release_collection(self, name: str) -> None:
        self._engine.release(self.db_name, name)

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
        wire = index_wire_params(index_type, metric_type, params)
        self._engine.create_index(self.db_name, name, field_name, index_name, wire)

    def describe_index(self, name: str, index_name: str = "") -> dict[str, Any] | None:
        try:
            infos = self._engine.describe_indexes(self.db_name, name, index_name)
        except IndexNotFound:
            return None
        if len(infos) != 1:
            raise ParameterInvalid.msg(AMBIGUOUS_INDEX)
        info = infos[0]
        return index_dict(
            info.params,
            field_name=info.field_name,
            index_name=info.index_name,
            total_rows=info.total_rows,
            indexed_rows=info.indexed_rows,
            pending_index_rows=info.pending_rows,
            state="Finished" if info.finished else "InProgress",
        )

    # --- data ------------------------------------------------------------------------

    def insert(self, name: str, data: InsertData, partition_name: str = "") -> dict[str, Any]:
        schema = self._engine.describe(self.db_name, name).schema
        cols, num_rows = columns.insert_columns(schema, data)
        if num_rows == 0:
            return {"insert_count": 0, "ids": []}
        result = self._engine.insert(self.db_name, name, partition_name, cols, num_rows)
        return {"insert_count": len(result.ids), "ids": result.ids.tolist()}

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
        if keys:
            expr, params = self._pk_filter(name, keys)
        else:
            expr, params = filter, dict(filter_params or {})
        result = self._engine.delete(self.db_name, name, partition_name, expr, params)
        return {"delete_count": result.count}

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
        params = dict(filter_params or {})
        return self._query(name, filter, output_fields, limit, offset, params, partition_names)

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
        expr, params = self._pk_filter(name, keys)
        return self._query(name, expr, output_fields, None, 0, params, partition_names)

    def _query(
        self,
        name: str,
        expr: str,
        output_fields: Sequence[str] | None,
        limit: int | None,
        offset: int,
        params: dict[str, Any],
        partition_names: Sequence[str] | None,
    ) -> list[Row]:
        result = self._engine.query(
            self.db_name,
            name,
            expr,
            list(output_fields) if output_fields else ["*"],
            limit=limit,
            # The server ignores an offset without a limit; so does pymilvus's request.
            offset=offset if limit is not None else 0,
            params=params,
            partition_names=list(partition_names or ()),
        )
        if result.count is not None:
            return [{"count(*)": result.count}]
        schema = self._engine.describe(self.db_name, name).schema
        return columns.table_rows(schema, result.table)

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
        request = SearchRequest(
            anns_field=anns_field or None,
            limit=limit,
            metric=metric_type or None,
            expr=filter,
            params=dict(filter_params or {}),
            output_fields=list(output_fields or ()),
            partition_names=tuple(partition_names or ()),
        )
        hits = self._engine.search(self.db_name, name, request, _queries(data)).hits
        schema = self._engine.describe(self.db_name, name).schema
        return columns.search_rows(schema, hits)

    def _pk_filter(self, name: str, keys: list[Any]) -> tuple[str, dict[str, Any]]:
        """``<pk> in {pks}`` with the keys as a template value (no quoting to get wrong)."""
        primary = self._engine.describe(self.db_name, name).schema.primary
        try:
            values = [str(k) if primary.dtype == DataType.VARCHAR else int(k) for k in keys]
        except (TypeError, ValueError):
            raise ParameterInvalid.msg(
                f"primary keys of {primary.name} must be {primary.dtype.milvus_name}"
            ) from None
        return f"{primary.name} in {{{_PK_PARAM}}}", {_PK_PARAM: values}

    # --- flush and segments -----------------------------------------------------------

    def flush(self, name: str) -> FlushTask:
        result = self._engine.flush(self.db_name, [name])
        flushed = result.collections[name]
        db, engine = self.db_name, self._engine

        def poll(budget: float | None) -> bool:
            # The engine answers at once (wait_seconds=0): the task's interval paces polling.
            return engine.flush_state(db, name, flushed.sealed, flushed.flush_ts, wait_seconds=0)

        return FlushTask(
            collection_name=name,
            segment_ids=list(flushed.sealed),
            flushed_segment_ids=list(flushed.flushed),
            flush_ts=flushed.flush_ts,
            checkpoints={
                channel: Checkpoint(pos.channel, pos.msg_id, pos.timestamp)
                for channel, pos in result.checkpoints.items()
            },
            seal_time=flushed.seal_time,
            poll=poll,
        )

    def flush_all(self) -> FlushAllTask:
        result = self._engine.flush_all()
        engine = self._engine

        def poll(budget: float | None) -> bool:
            return engine.flush_all_state(result.flush_all_ts, {}, wait_seconds=0)

        return FlushAllTask(
            flush_all_ts=result.flush_all_ts, pchannels=list(result.pchannels), poll=poll
        )

    def list_persistent_segments(self, name: str) -> list[PersistentSegment]:
        return [
            PersistentSegment(
                segment_id=s.segment_id,
                collection_id=s.collection_id,
                partition_id=s.partition_id,
                num_rows=s.num_rows,
                state=segment_state_name(s.state),
                level=segment_level_name(s.level),
                channel=s.channel,
            )
            for s in self._engine.persistent_segments(self.db_name, name)
        ]


def _quick_schema(
    name: str,
    dimension: int | None,
    primary_field: str,
    id_type: str,
    vector_field: str,
    auto_id: bool,
    enable_dynamic_field: bool,
    max_length: int | None,
) -> CollectionSchema:
    """The schema ``MilvusClient.create_collection(name, dimension)`` sends (with type params)."""
    if not isinstance(dimension, int) or isinstance(dimension, bool):
        raise ParameterInvalid.msg(f"dimension must be an int, got {dimension!r}")
    if id_type in ("int", "int64"):
        pk = FieldSchema(primary_field, DataType.INT64, is_primary=True, auto_id=auto_id)
    elif id_type in ("string", "str", "varchar"):
        params = {} if max_length is None else {"max_length": str(max_length)}
        pk = FieldSchema(
            primary_field,
            DataType.VARCHAR,
            is_primary=True,
            auto_id=auto_id,
            max_length=max_length,
            type_params=params,
        )
    else:
        raise ParameterInvalid.msg(f"primary field type must be 'int' or 'string', got {id_type!r}")
    vector = FieldSchema(
        vector_field, DataType.FLOAT_VECTOR, dim=dimension, type_params={"dim": str(dimension)}
    )
    return CollectionSchema(name, (pk, vector), enable_dynamic_field=enable_dynamic_field)


def _queries(data: Any) -> np.ndarray | EmbeddingLists:
    """Plain query vectors, or embedding lists (one list of vectors per query, for an
    array-of-structs vector field, or objects with pymilvus's ``to_flat_array``)."""
    if isinstance(data, list) and data and hasattr(data[0], "to_flat_array"):
        lists = [np.asarray(item.to_flat_array(), dtype=np.float32).ravel() for item in data]
    elif (
        isinstance(data, list)
        and data
        and all(isinstance(item, (list, np.ndarray)) and np.ndim(item) == 2 for item in data)
    ):
        lists = [np.asarray(item, dtype=np.float32).ravel() for item in data]
    else:
        return as_vectors(data)
    sizes = np.asarray([len(v) for v in lists], dtype=np.int64)
    return EmbeddingLists(np.concatenate(lists), sizes)


def _described(fld: FieldSchema) -> dict[str, Any]:
    """One field of ``describe_collection``; an array of structs lists its sub-fields."""
    out = field_dict(
        field_id=fld.field_id,
        name=fld.name,
        description=fld.description,
        dtype=fld.dtype,
        params=_shown_params(fld),
        is_primary=fld.is_primary,
        auto_id=fld.auto_id,
        nullable=fld.nullable,
        is_partition_key=fld.is_partition_key,
        is_clustering_key=fld.is_clustering_key,
        default_value=fld.default_value,
    )
    if fld.struct_fields:
        out["params"]["max_capacity"] = fld.max_capacity
        out["struct_fields"] = [_described(sub) for sub in fld.struct_fields]
    return out


def _shown_params(fld: FieldSchema) -> dict[str, Any]:
    """Type params as DescribeCollection carries them (``dim``/``max_length`` always included)."""
    raw = dict(fld.type_params)
    if fld.dim is not None:
        raw["dim"] = str(fld.dim)
    if fld.max_length is not None:
        raw["max_length"] = str(fld.max_length)
    return field_params(fld.dtype, raw)
