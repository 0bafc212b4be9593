"""Index declarations and load state, with Milvus 2.6's rules.

Vector and scalar indexes share one list per collection.  CreateIndex follows
Milvus's datacoord (``canCreateIndex``), in this order for each declared index:

- the same index name: success when it is the same field with the same
  definition (a repeated CreateIndex), else ``at most one distinct index is
  allowed per field`` (code 1100);
- the same field under another name: ``CreateIndex failed: creating multiple
  indexes on same field is not supported`` (code 65535), except that a JSON
  field (the dynamic field included) takes one index per distinct path.

An unnamed index is named after its field, plus the JSON pointer of its path
for a JSON index (``meta/a/b``; ``$meta/k/a`` for a dynamic key ``k``), as
Milvus names them.  DropIndex refuses a vector index while the collection is
loaded (``vector index cannot be dropped on loaded collection``); scalar
indexes may be dropped at any time (readers simply stop using them).  A
missing index is no error.  LoadCollection needs an index on every vector field.

Index parameters are stored exactly as the client sent them (flat keys and
the ``params`` JSON merged), re-parsed into a spec when needed, and shown back
by DescribeIndex.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypeAlias

from sluice.engine.bm25_function import BM25_INDEX_DEFAULTS, bm25_index_params, is_bm25_output
from sluice.engine.catalog import Catalog, IndexMeta
from sluice.engine.collection import Collection
from sluice.engine.scalar_indexes import (
    IndexTarget,
    default_index_name,
    index_target,
    parse_scalar,
    target_of,
)
from sluice.engine.segment import SegmentLevel, SegmentState
from sluice.engine.struct_search import parse_emb_list_index
from sluice.engine.vector_kinds import is_other_kind, parse_kind_index
from sluice.errors import CollectionLoaded, IndexNotFound, ParameterInvalid, RequestError
from sluice.index import IndexSpec, parse_index_spec
from sluice.index.params import SparseParams
from sluice.index.scalar import ScalarIndexSpec
from sluice.index.spec import AUTOINDEX, merge_client_params
from sluice.schema import CollectionSchema, FieldSchema

#: What a declared index parses to: a vector index spec or a scalar one.
AnySpec: TypeAlias = IndexSpec | ScalarIndexSpec


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
_SPECS: dict[int, AnySpec] = {}


def spec_of(collection: Collection, index: IndexMeta) -> AnySpec:
    spec = _SPECS.get(index.index_id)
    if spec is None:
        spec = _SPECS[index.index_id] = parse_declared(collection.schema, index)
    return spec


def parse_declared(schema: CollectionSchema, index: IndexMeta) -> AnySpec:
    """The spec of a declared index, parsed again from its stored parameters."""
    return _parse(schema, target_of(schema, index.field_name, index.column), index.params)


def vector_spec_of(collection: Collection, index: IndexMeta) -> IndexSpec | None:
    """The spec of a vector index (``None`` for a scalar one)."""
    spec = spec_of(collection, index)
    return spec if isinstance(spec, IndexSpec) else None


def is_vector_index(collection: Collection, index: IndexMeta) -> bool:
    return isinstance(spec_of(collection, index), IndexSpec)


def is_emb_list_index(collection: Collection, index: IndexMeta) -> bool:
    """An index on a struct vector sub-field (``chunks[vec]``): declared, never built."""
    return collection.schema.struct_member(index.field_name) is not None


def _parse(
    schema: CollectionSchema, target: IndexTarget, params: Mapping[str, str], *, sent: bool = False
) -> AnySpec:
    """``params`` as stored, or as a client ``sent`` them (checked as Milvus's proxy does)."""
    if schema.struct_member(target.field.name) is not None:
        return parse_emb_list_index(target.field, params)
    if is_bm25_output(schema, target.field):
        return _parse_bm25(target.field, params, sent=sent)
    if is_other_kind(target.field):
        return parse_kind_index(target.field, params)
    if target.field.dtype.is_vector:
        return parse_index_spec(target.field, "", "", params)
    return parse_scalar(schema, target, params)


def _parse_bm25(field: FieldSchema, params: Mapping[str, str], *, sent: bool) -> IndexSpec:
    """A BM25 output field's index: sparse posting lists scored by BM25 (``bm25_*`` filled in).

    AUTOINDEX takes only a metric from the client, as for any field; the
    ``bm25_*`` values it is stored with are Milvus's defaults.
    """
    filled = bm25_index_params(params)
    if filled.get("index_type", "").strip().upper() not in ("", AUTOINDEX):
        return parse_index_spec(field, "", "", filled)
    given = dict(params) if sent else filled
    bare = {k: v for k, v in given.items() if sent or k not in BM25_INDEX_DEFAULTS}
    bare["metric_type"] = filled["metric_type"]
    spec = parse_index_spec(field, "", "", bare)
    assert isinstance(spec.build, SparseParams)
    build = replace(
        spec.build,
        bm25_k1=float(filled["bm25_k1"]),
        bm25_b=float(filled["bm25_b"]),
        bm25_avgdl=float(filled["bm25_avgdl"]),
    )
    return replace(spec, build=build)


def _same_definition(a: AnySpec, b: AnySpec) -> bool:
    if isinstance(a, IndexSpec) and isinstance(b, IndexSpec):
        return a.same_as(b)
    if isinstance(a, ScalarIndexSpec) and isinstance(b, ScalarIndexSpec):
        return a.same_as(b)
    return False


def _path_text(spec: AnySpec) -> tuple[str, ...] | None:
    """A JSON index's path as text steps (``a[0]`` and ``a["0"]`` are one path), else ``None``."""
    if isinstance(spec, ScalarIndexSpec) and spec.is_json:
        return tuple(str(step) for step in spec.nested_path)
    return None


def create_index(
    catalog: Catalog,
    collection: Collection,
    field_name: str,
    index_name: str,
    params: Mapping[str, str],
    index_id: int,
    created_ts: int,
) -> None:
    target = index_target(collection.schema, field_name)
    merged = merge_client_params(params)
    spec = _parse(collection.schema, target, merged, sent=True)
    if is_bm25_output(collection.schema, target.field):
        merged = bm25_index_params(merged)
    name = index_name or default_index_name(
        target, spec if isinstance(spec, ScalarIndexSpec) else None
    )
    with catalog.lock:
        for existing in collection.meta.indexes:
            existing_spec = spec_of(collection, existing)
            same_field = (existing.column or existing.field_name) == target.column
            if existing.index_name == name:
                if same_field and _same_definition(existing_spec, spec):
                    return
                raise ParameterInvalid.msg(
                    "CreateIndex failed: at most one distinct index is allowed per field"
                )
            if not same_field:
                continue
            path = _path_text(spec)
            if path is not None and path != _path_text(existing_spec):
                continue
            raise RequestError(
                "CreateIndex failed: creating multiple indexes on same field is not supported"
            )
        column = target.column if target.is_dynamic_key else ""
        collection.meta.indexes.append(
            IndexMeta(index_id, name, field_name, merged, created_ts, column)
        )
        _SPECS[index_id] = spec
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
    # As Milvus: only flushed segments count; growing data is read without an index.
    segments = [
        s
        for s in collection.segments()
        if s.state == SegmentState.FLUSHED and s.level != SegmentLevel.L0 and s.num_rows
    ]
    total = sum(s.num_rows for s in segments)
    infos = []
    for index in chosen:
        if is_emb_list_index(collection, index):
            indexed = total  # searched exactly: nothing to build, every segment is served
        else:
            indexed = sum(s.num_rows for s in segments if s.has_index(index.index_id))
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


#: Index parameters AlterIndex may set or drop (Milvus: ``indexparams.IsConfigableIndexParam``).
CONFIGURABLE_INDEX_PARAMS = frozenset({"mmap.enabled"})
_BOOL_TEXT = frozenset({"1", "t", "true", "0", "f", "false"})


def alter_index(
    catalog: Catalog,
    collection: Collection,
    index_name: str,
    params: Mapping[str, str],
    delete_keys: Sequence[str] = (),
) -> None:
    """AlterIndex / DropIndexProperties: set or remove configurable parameters (``mmap.enabled``).

    Checks in Milvus's order (proxy, then data coordinator); the collection
    must be released, since a loaded segment's placement follows the
    parameters it was loaded with.
    """
    for key in params:
        if key not in CONFIGURABLE_INDEX_PARAMS:
            raise ParameterInvalid.msg(f"{key} is not configable index param")
    if not index_name:
        raise ParameterInvalid.msg("index name is empty")
    if collection.meta.any_loaded:
        raise CollectionLoaded(
            f"{CollectionLoaded.base_message}[collection={collection.name}]: can't alter index "
            "on loaded collection, please release the collection first"
        )
    with catalog.lock:
        found = [i for i in collection.meta.indexes if i.index_name == index_name]
        if not found:
            raise IndexNotFound.named(index_name)
        if params and delete_keys:
            raise ParameterInvalid.msg("cannot provide both DeleteKeys and ExtraParams")
        for key, value in params.items():
            if str(value).strip().lower() not in _BOOL_TEXT:
                raise ParameterInvalid.msg(f"invalid {key} value: {value}, expected: true, false")
        changed = []
        for index in found:
            merged = {k: v for k, v in index.params.items() if k not in delete_keys}
            merged.update({k: str(v) for k, v in params.items()})
            changed.append(replace(index, params=merged))
        if all(a.params == b.params for a, b in zip(found, changed, strict=True)):
            return
        by_id = {i.index_id: i for i in changed}
        collection.meta.indexes = [by_id.get(i.index_id, i) for i in collection.meta.indexes]
        for index in changed:
            _SPECS[index.index_id] = parse_declared(collection.schema, index)
        collection.index_epoch += 1
        catalog.put_collection(collection.meta)


def drop_index(
    catalog: Catalog, collection: Collection, field_name: str, index_name: str
) -> list[int]:
    """Forget the matching index declarations; return their IDs (a missing index is no error)."""
    with catalog.lock:
        dropped = [
            i
            for i in collection.meta.indexes
            if (not index_name or i.index_name == index_name)
            and (not field_name or i.field_name == field_name)
        ]
        if collection.meta.any_loaded and any(is_vector_index(collection, i) for i in dropped):
            raise ParameterInvalid.msg(
                f"vector index cannot be dropped on loaded collection: {collection.id}"
            )
        if dropped:
            collection.meta.indexes = [i for i in collection.meta.indexes if i not in dropped]
            collection.index_epoch += 1
            catalog.put_collection(collection.meta)
        return [i.index_id for i in dropped]


def check_loadable(collection: Collection) -> None:
    indexed = {i.field_name for i in collection.meta.indexes}
    if not indexed:
        raise IndexNotFound.with_fields(collection=collection.name)
    vectors = [f.name for f in collection.schema.vector_fields]
    vectors.extend(collection.schema.struct_vector_paths)
    missing = [name for name in vectors if name not in indexed]
    if missing:
        raise RequestError(
            f"there is no vector index on field: [{' '.join(missing)}], please create index firstly"
        )
