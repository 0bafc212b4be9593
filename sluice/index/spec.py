"""Vector index specifications: what CreateIndex asked for, validated the way Milvus does.

A spec is immutable: every sealed segment's index is built from one, and
DescribeIndex reports it back.  Parsing follows Milvus's proxy
(``parseIndexParams``/``checkTrain`` in ``internal/proxy/task_index.go``) and
knowhere's config checks, per data type:

* Parameters arrive as flat key/values (pymilvus's ``MilvusClient`` flattens
  ``params``) and/or a ``params`` key holding a JSON object (the ORM
  ``Collection.create_index`` form).  Both are merged in the order received,
  later keys winning; JSON values become strings exactly as Milvus's
  ``funcutil.JSONToMap`` prints them, then are parsed like knowhere parses
  strings (see :mod:`sluice.index.coerce`).  Explicit ``index_type`` and
  ``metric_type`` arguments win over keys of the same name.
* Index types per data type (knowhere's index table, Milvus 2.6):

  =============================  =================================================
  FLOAT / FLOAT16 / BFLOAT16     FLAT IVF_FLAT IVF_SQ8 IVF_PQ HNSW HNSW_SQ HNSW_PQ
                                 HNSW_PRQ IVF_RABITQ SCANN DISKANN
  INT8                           HNSW HNSW_SQ HNSW_PQ HNSW_PRQ
  BINARY                         BIN_FLAT BIN_IVF_FLAT
  SPARSE_FLOAT                   SPARSE_INVERTED_INDEX SPARSE_WAND
  =============================  =================================================

  Another type on a field is ``data type Int8Vector can't build with this
  index FLAT`` (code 1100).  Milvus types Sluice knows but does not build
  (IVF_FLAT_CC, IVF_SQ_CC, MINHASH_LSH, SCANN_DVR, AISAQ) are
  :class:`~sluice.errors.IndexNotSupported` naming the type; GPU_* types, as on
  a CPU Milvus, are unknown: ``invalid parameter[expected=valid index][actual=
  invalid index type: GPU_CAGRA]``.
* Metrics (case-insensitive, stored upper-case) and defaults per type:
  float and int8 L2/IP/COSINE (default COSINE), binary
  HAMMING/JACCARD/SUBSTRUCTURE/SUPERSTRUCTURE (default HAMMING; BIN_IVF_FLAT
  only the first two, as knowhere's ``IvfBinConfig``), sparse IP/BM25 (default
  IP).  Milvus's words: ``float vector index does not support metric type:
  X``, ``binary vector index does not support metric type: X``, ``only IP&BM25
  is the supported metric type for sparse index``.
* AUTOINDEX (or no type) builds ``autoIndex.params.*.build``: HNSW M=18
  efConstruction=240 for float and int8, BIN_IVF_FLAT nlist=1024 for binary,
  SPARSE_INVERTED_INDEX for sparse.  It accepts only a metric type ("only
  metric type can be passed when use AutoIndex") and DescribeIndex shows just
  ``index_type``/``metric_type`` for it.
* Build parameters take knowhere's defaults and ranges (see
  :mod:`sluice.index.build_params` and :mod:`sluice.index.params`); unknown
  keys are kept in :attr:`IndexSpec.extra` and echoed by DescribeIndex.

Errors: knowhere's sentences come back wrapped twice as Milvus 2.6 does
(``Out of range in json: param 'M' (3000) should be in range [2, 2048]:
invalid parameter: invalid parameter[expected=valid index params][actual=
invalid index params]``), proxy checks once (see :mod:`sluice.index.errors`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sluice.errors import IndexNotSupported, ParameterInvalid
from sluice.index.build_params import (
    BIN_FLAT,
    BIN_IVF_FLAT,
    BUILD_KEYS,
    DISKANN,
    FLAT,
    HNSW,
    HNSW_PQ,
    HNSW_PRQ,
    HNSW_SQ,
    IVF_FLAT,
    IVF_PQ,
    IVF_RABITQ,
    IVF_SQ8,
    SCANN,
    SPARSE_INVERTED_INDEX,
    SPARSE_WAND,
    MilvusCheck,
    parse_build,
)
from sluice.index.coerce import ParamText, go_text
from sluice.index.errors import ParamRejected, index_params_error, knowhere_build_error
from sluice.index.kinds import VectorKind, kind_of
from sluice.index.metrics import HAMMING, JACCARD, canonical_metric
from sluice.index.params import (
    BinIvfFlatParams,
    BuildParams,
    HnswParams,
    SparseParams,
)
from sluice.schema import DataType, FieldSchema

AUTOINDEX: Final = "AUTOINDEX"

FLOAT_INDEX_TYPES: Final = (
    FLAT,
    IVF_FLAT,
    IVF_SQ8,
    IVF_PQ,
    HNSW,
    HNSW_SQ,
    HNSW_PQ,
    HNSW_PRQ,
    IVF_RABITQ,
    SCANN,
    DISKANN,
)
INT8_INDEX_TYPES: Final = (HNSW, HNSW_SQ, HNSW_PQ, HNSW_PRQ)
BINARY_INDEX_TYPES: Final = (BIN_FLAT, BIN_IVF_FLAT)
SPARSE_INDEX_TYPES: Final = (SPARSE_INVERTED_INDEX, SPARSE_WAND)

#: Every index type Sluice builds, AUTOINDEX included.
SUPPORTED_INDEX_TYPES: Final = (
    *FLOAT_INDEX_TYPES,
    *BINARY_INDEX_TYPES,
    *SPARSE_INDEX_TYPES,
    AUTOINDEX,
)

_TYPES_BY_KIND: Final[dict[VectorKind, tuple[str, ...]]] = {
    VectorKind.FLOAT: FLOAT_INDEX_TYPES,
    VectorKind.FLOAT16: FLOAT_INDEX_TYPES,
    VectorKind.BFLOAT16: FLOAT_INDEX_TYPES,
    VectorKind.INT8: INT8_INDEX_TYPES,
    VectorKind.BINARY: BINARY_INDEX_TYPES,
    VectorKind.SPARSE: SPARSE_INDEX_TYPES,
}

#: Milvus vector index types Sluice recognises but does not build, and the kinds they serve.
_NOT_BUILT: Final[dict[str, frozenset[VectorKind]]] = {
    "IVF_FLAT_CC": frozenset({VectorKind.FLOAT, VectorKind.FLOAT16, VectorKind.BFLOAT16}),
    "IVF_SQ_CC": frozenset({VectorKind.FLOAT, VectorKind.FLOAT16, VectorKind.BFLOAT16}),
    "SCANN_DVR": frozenset({VectorKind.FLOAT, VectorKind.FLOAT16, VectorKind.BFLOAT16}),
    "AISAQ": frozenset({VectorKind.FLOAT, VectorKind.FLOAT16, VectorKind.BFLOAT16}),
    "MINHASH_LSH": frozenset({VectorKind.BINARY}),
}

#: Scalar index types; on a vector field Milvus says it cannot build them.
_SCALAR_TYPES: Final = frozenset(
    {"INVERTED", "STL_SORT", "TRIE", "BITMAP", "NGRAM", "RTREE", "MARISA-TRIE", "ASCENDING"}
)

INDEX_TYPE_KEY: Final = "index_type"
METRIC_TYPE_KEY: Final = "metric_type"
PARAMS_KEY: Final = "params"
DIM_KEY: Final = "dim"
_RESERVED_KEYS: Final = frozenset({INDEX_TYPE_KEY, METRIC_TYPE_KEY, PARAMS_KEY, DIM_KEY})

#: What AUTOINDEX builds for a float or int8 vector (Milvus's ``autoIndex.params.build``).
AUTOINDEX_BUILD: Final = HnswParams(M=18, ef_construction=240)
#: ``autoIndex.params.binary.build`` and ``autoIndex.params.sparse.build``.
AUTOINDEX_BINARY_BUILD: Final = BinIvfFlatParams(nlist=1024)
AUTOINDEX_SPARSE_BUILD: Final = SparseParams()

_AUTOINDEX: Final[dict[VectorKind, tuple[str, BuildParams]]] = {
    VectorKind.FLOAT: (HNSW, AUTOINDEX_BUILD),
    VectorKind.FLOAT16: (HNSW, AUTOINDEX_BUILD),
    VectorKind.BFLOAT16: (HNSW, AUTOINDEX_BUILD),
    VectorKind.INT8: (HNSW, AUTOINDEX_BUILD),
    VectorKind.BINARY: (BIN_IVF_FLAT, AUTOINDEX_BINARY_BUILD),
    VectorKind.SPARSE: (SPARSE_INVERTED_INDEX, AUTOINDEX_SPARSE_BUILD),
}


@dataclass(frozen=True)
class IndexSpec:
    """One vector index definition: type, metric, dimension and typed build params.

    ``index_type`` is what the user asked for (``AUTOINDEX`` stays
    ``AUTOINDEX``); :attr:`engine_type` is what gets built.  ``extra`` holds
    parameters Sluice does not interpret, sorted, so DescribeIndex can echo
    them and :meth:`same_as` can compare them.  ``dim`` is 0 for sparse
    fields, which have none.
    """

    index_type: str
    metric_type: str
    dim: int
    build: BuildParams
    extra: tuple[tuple[str, str], ...] = ()
    data_type: DataType = DataType.FLOAT_VECTOR
    engine: str = ""

    @property
    def engine_type(self) -> str:
        """The concrete index type built: AUTOINDEX resolves per data type."""
        if self.engine:
            return self.engine
        return _AUTOINDEX[self.kind][0] if self.index_type == AUTOINDEX else self.index_type

    @property
    def kind(self) -> VectorKind:
        """The vector kind the index is built over."""
        return kind_of(self.data_type)

    def describe_params(self) -> dict[str, str]:
        """The ``params`` DescribeIndex returns.

        ``index_type`` and ``metric_type``, then the build parameters twice: as
        a compact JSON object under ``params`` (what the ORM form sent and
        pymilvus decodes) and as flat keys (what ``MilvusClient`` sent).
        AUTOINDEX shows only its type and metric, as Milvus does.
        """
        out = {INDEX_TYPE_KEY: self.index_type, METRIC_TYPE_KEY: self.metric_type}
        if self.index_type == AUTOINDEX:
            return out
        build = self.build.to_params()
        out[PARAMS_KEY] = json.dumps(build, separators=(",", ":"))
        out.update({key: go_text(value) for key, value in build.items()})
        out.update(dict(self.extra))
        return out

    def same_as(self, other: IndexSpec) -> bool:
        """Milvus's rule for a repeated CreateIndex: equal definitions succeed, others fail.

        Parameters are compared after resolution, so ``M="16"`` equals
        ``M=16`` and an omitted default equals the default spelled out.
        """
        return self == other


def merge_client_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Flat key/values and the JSON ``params`` object merged into one string map."""
    merged: dict[str, str] = {}
    for key, value in params.items():
        if key == PARAMS_KEY:
            decoded = _decode_params_object(value)
            for inner_key, inner_value in decoded.items():
                if inner_value is not None:
                    merged[str(inner_key)] = go_text(inner_value)
        elif value is not None:
            merged[str(key)] = value if isinstance(value, str) else go_text(value)
    return merged


def _decode_params_object(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str | bytes):
        if not value.strip():
            return {}
        try:
            decoded = json.loads(value)
        except ValueError as err:
            raise ParameterInvalid.msg(f"index params must be a JSON object: {err}") from err
        if isinstance(decoded, dict):
            return decoded
    raise ParameterInvalid.msg(f"index params must be a JSON object, got {value!r}")


def parse_index_spec(
    field: FieldSchema, index_type: str, metric_type: str, params: Mapping[str, Any]
) -> IndexSpec:
    """Validate a CreateIndex request for ``field`` and resolve it to an :class:`IndexSpec`."""
    merged = merge_client_params(params)
    requested = (index_type or merged.get(INDEX_TYPE_KEY, "")).strip().upper() or AUTOINDEX
    raw_metric = (metric_type or merged.get(METRIC_TYPE_KEY, "")).strip()
    check_known_index_type(requested)
    if not field.dtype.is_vector:
        raise knowhere_build_error(f"index {requested} only supports vector data type")
    kind = kind_of(field.dtype)

    if requested == AUTOINDEX:
        if set(merged) - {INDEX_TYPE_KEY, METRIC_TYPE_KEY}:
            raise ParamRejected("only metric type can be passed when use AutoIndex")
        engine, auto_build = _AUTOINDEX[kind]
    else:
        engine, auto_build = requested, None

    metric = _metric(kind, raw_metric)
    if requested != AUTOINDEX:
        _check_data_type(requested, field, kind)
    if engine == BIN_IVF_FLAT and metric not in (HAMMING, JACCARD):
        supported = " ".join((HAMMING, JACCARD))
        raise ParamRejected(
            f"metric type {metric} not found or not supported, supported: [{supported}]"
        )
    dim = _dim(field, kind, merged)

    try:
        build = auto_build if auto_build is not None else parse_build(engine, merged, dim)
    except ParamText as err:
        raise knowhere_build_error(str(err)) from err
    except MilvusCheck as err:
        raise index_params_error(str(err)) from err
    known = _RESERVED_KEYS | BUILD_KEYS[engine]
    extra = tuple(sorted((k, v) for k, v in merged.items() if k not in known))
    return IndexSpec(requested, metric, dim, build, extra, field.dtype, engine)


def check_known_index_type(requested: str) -> None:
    """Milvus's first check: is there a checker for this type name at all?"""
    known = (
        requested in SUPPORTED_INDEX_TYPES or requested in _NOT_BUILT or requested in _SCALAR_TYPES
    )
    if not known:
        raise ParameterInvalid.expected("valid index", f"invalid index type: {requested}")


def _metric(kind: VectorKind, raw: str) -> str:
    if not raw:
        return kind.default_metric
    metric = canonical_metric(raw, kind.metrics)
    if metric is not None:
        return metric
    if kind is VectorKind.SPARSE:
        raise index_params_error("only IP&BM25 is the supported metric type for sparse index")
    if kind is VectorKind.BINARY:
        raise index_params_error(f"binary vector index does not support metric type: {raw}")
    if kind is VectorKind.INT8:
        raise index_params_error(f"int vector index does not support metric type: {raw}")
    raise index_params_error(f"float vector index does not support metric type: {raw}")


def _check_data_type(requested: str, field: FieldSchema, kind: VectorKind) -> None:
    if requested in _TYPES_BY_KIND[kind]:
        return
    if kind in _NOT_BUILT.get(requested, frozenset()):
        raise IndexNotSupported.wrap(
            f"index type {requested} is not built by Sluice", indexType=requested
        )
    raise index_params_error(
        f"data type {field.dtype.milvus_name} can't build with this index {requested}"
    )


def _dim(field: FieldSchema, kind: VectorKind, merged: Mapping[str, str]) -> int:
    if kind is VectorKind.SPARSE:
        return 0
    dim = field.dim
    if dim is None or dim <= 0:
        raise index_params_error("dimension not found in schema")
    if DIM_KEY in merged and merged[DIM_KEY] != str(dim):
        raise index_params_error(
            f"dimension mismatch, dimension in schema: {dim}, dimension: {merged[DIM_KEY]}"
        )
    return dim
