"""Index declarations and load state, with Milvus's rules.

- CreateIndex with the same definition as an existing index on the field
  succeeds; a different one fails (``at most one distinct index is allowed
  per field``).  An empty index type is AUTOINDEX.
- DropIndex on a loaded collection fails; on a missing index it succeeds.
- LoadCollection needs an index on every vector field.

Index parameters are stored exactly as the client sent them (flat keys and
the ``params`` JSON merged), re-parsed into an :class:`IndexSpec` when
needed, and shown back by DescribeIndex.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sluice.engine.catalog import Catalog, IndexMeta
from sluice.engine.collection import Collection
from sluice.errors import IndexNotFound, RequestError
from sluice.index import IndexSpec, parse_index_spec
from sluice.index.spec import merge_client_params


@dataclass(frozen=True)
class IndexInfo:
    index_name: str
    index_id: int
    field_name: str
    params: dict[str, str]
    total_rows: int
    indexed_rows: int
    pending_rows: int
    finished: bool


def spec_of(collection: Collection, index: IndexMeta) -> IndexSpec:
    field = collection.schema.get(index.field_name)
    assert field is not None
    return parse_index_spec(field, "", "", index.params)


def create_index(
    catalog: Catalog,
    collection: Collection,
    field_name: str,
    index_name: str,
    params: Mapping[str, str],
    index_id: int,
    created_ts: int,
) -> None:
    field = collection.schema.get(field_name)
    if field is None or field.is_dynamic:
        raise RequestError(f"cannot create index on non-exist field: {field_name}")
    merged = merge_client_params(params)
    spec = parse_index_spec(field, "", "", merged)
    with catalog.lock:
        for existing in collection.meta.indexes:
            if existing.field_name == field_name:
                same_name = not index_name or index_name == existing.index_name
                if same_name and spec_of(collection, existing).same_as(spec):
                    return
                raise RequestError(
                    "CreateIndex failed: at most one distinct index is allowed per field"
                )
            if index_name and existing.index_name == index_name:
                raise RequestError(
                    f"CreateIndex failed: index already exist, but parameters are inconsistent. "
                    f"source index: {existing.index_name}"
                )
        collection.meta.indexes.append(
            IndexMeta(index_id, index_name or field_name, field_name, merged, created_ts)
        )
        catalog.save()


def describe_indexes(
    collection: Collection, index_name: str, field_name: str = ""
) -> list[IndexInfo]:
    chosen = [
        i
        for i in collection.meta.indexes
        if (not index_name or i.index_name == index_name)
        and (not field_name or i.field_name == field_name)
    ]
    if not chosen:
        if index_name:
            raise IndexNotFound.named(index_name)
        raise IndexNotFound.with_fields(collection=collection.name)
    total = collection.persisted_rows()
    return [
        IndexInfo(
            index_name=i.index_name,
            index_id=i.index_id,
            field_name=i.field_name,
            params=spec_of(collection, i).describe_params(),
            total_rows=total,
            indexed_rows=total,
            pending_rows=0,
            finished=True,
        )
        for i in chosen
    ]


def drop_index(catalog: Catalog, collection: Collection, field_name: str, index_name: str) -> None:
    if collection.meta.loaded:
        raise RequestError("index cannot be dropped, collection is loaded, please release it first")
    with catalog.lock:
        keep = [
            i
            for i in collection.meta.indexes
            if not (
                (not index_name or i.index_name == index_name)
                and (not field_name or i.field_name == field_name)
            )
        ]
        if len(keep) != len(collection.meta.indexes):
            collection.meta.indexes = keep
            catalog.save()


def check_loadable(collection: Collection) -> None:
    indexed = {i.field_name for i in collection.meta.indexes}
    if not indexed:
        raise IndexNotFound.with_fields(collection=collection.name)
    missing = [f.name for f in collection.schema.vector_fields if f.name not in indexed]
    if missing:
        raise RequestError(
            f"there is no vector index on field: [{' '.join(missing)}], please create index firstly"
        )
