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
from sluice.engine.scalar_indexes import parse_scalar
from sluice.engine.segment import SegmentLevel, SegmentState
from sluice.engine.vector_kinds import is_other_kind, parse_kind_index
from sluice.errors import IndexNotFound, RequestError
from sluice.index import IndexSpec, parse_index_spec
from sluice.index.scalar import ScalarIndexSpec
from sluice.index.spec import merge_client_params
from sluice.schema import FieldSchema


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


#: Parsed specs by index ID: an index definition never changes once declared.
_SPECS: dict[int, IndexSpec | ScalarIndexSpec] = {}


def spec_of(collection: Collection, index: IndexMeta) -> IndexSpec | ScalarIndexSpec:
    spec = _SPECS.get(index.index_id)
    if spec is None:
        field = collection.schema.get(index.field_name)
        assert field is not None
        spec = _SPECS[index.index_id] = _parse(field, index.params)
    return spec


def vector_spec_of(collection: Collection, index: IndexMeta) -> IndexSpec:
    """The spec of an index on a vector field."""
    spec = spec_of(collection, index)
    assert isinstance(spec, IndexSpec)
    return spec


def _parse(field: FieldSchema, params: Mapping[str, str]) -> IndexSpec | ScalarIndexSpec:
    if is_other_kind(field):
        return parse_kind_index(field, params)
    if not field.dtype.is_vector:
        return parse_scalar(field, params)
    return parse_index_spec(field, "", "", params)


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
    spec = _parse(field, merged)
    with catalog.lock:
        for existing in collection.meta.indexes:
            if existing.field_name == field_name:
                same_name = not index_name or index_name == existing.index_name
                if same_name and spec_of(collection, existing) == spec:
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
        collection.index_epoch += 1
        catalog.put_collection(collection.meta)


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
    infos = []
    for index in chosen:
        # As Milvus: only flushed segments count; growing data is searched without an index.
        segments = [
            s
            for s in collection.segments()
            if s.state == SegmentState.FLUSHED and s.level != SegmentLevel.L0 and s.num_rows
        ]
        total = sum(s.num_rows for s in segments)
        indexed = sum(s.num_rows for s in segments if index.index_id in s.indexes)
        infos.append(
            IndexInfo(
                index_name=index.index_name,
                index_id=index.index_id,
                field_name=index.field_name,
                params=spec_of(collection, index).describe_params(),
                total_rows=total,
                indexed_rows=indexed,
                pending_rows=total - indexed,
                finished=indexed == total,
            )
        )
    return infos


def drop_index(
    catalog: Catalog, collection: Collection, field_name: str, index_name: str
) -> list[int]:
    """Forget the matching index declarations; return their IDs (a missing index is no error)."""
    if collection.meta.loaded:
        raise RequestError("index cannot be dropped, collection is loaded, please release it first")
    with catalog.lock:
        dropped = [
            i
            for i in collection.meta.indexes
            if (not index_name or i.index_name == index_name)
            and (not field_name or i.field_name == field_name)
        ]
        if dropped:
            collection.meta.indexes = [i for i in collection.meta.indexes if i not in dropped]
            collection.index_epoch += 1
            catalog.put_collection(collection.meta)
        return [i.index_id for i in dropped]


def check_loadable(collection: Collection) -> None:
    indexed = {i.field_name for i in collection.meta.indexes}
    if not indexed:
        raise IndexNotFound.with_fields(collection=collection.name)
    missing = [f.name for f in collection.schema.vector_fields if f.name not in indexed]
    if missing:
        raise RequestError(
            f"there is no vector index on field: [{' '.join(missing)}], please create index firstly"
        )
