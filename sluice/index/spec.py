"""Vector index specifications: what CreateIndex asked for, validated the way Milvus does.

A spec is immutable: every sealed segment's index is built from one, and
DescribeIndex reports it back.  Parsing follows Milvus's proxy
(``internal/proxy/task_index.go``) and knowhere's config checks:

* Parameters arrive as flat key/values (pymilvus's ``MilvusClient`` flattens
  ``params``) and/or a ``params`` key holding a JSON object (the ORM
  ``Collection.create_index`` form).  Both are merged in the order received,
  later keys winning; JSON values become strings exactly as Milvus's
  ``funcutil.JSONToMap`` prints them, then are parsed like knowhere parses
  strings (see :mod:`sluice.index.coerce`).  Explicit ``index_type`` and
  ``metric_type`` arguments win over keys of the same name.
* Index types are FLAT, IVF_FLAT, IVF_SQ8, IVF_PQ, HNSW and AUTOINDEX (an
  empty type means AUTOINDEX).  Names are matched case-insensitively.
* Metrics are L2, IP and COSINE, case-insensitive, stored upper-case; an empty
  metric means COSINE, Milvus's float-vector default since 2.4
  (``FloatVectorDefaultMetricType`` in ``pkg/util/paramtable/autoindex_param.go``).

AUTOINDEX resolves to HNSW with M=18, efConstruction=240: Milvus's own default
``autoIndex.params.build`` for float vectors.  As in Milvus, AUTOINDEX accepts
only a metric type (anything else is "only metric type can be passed when use
AutoIndex"), and DescribeIndex shows just ``index_type``/``metric_type`` for it.

Parameters left out take knowhere's defaults: HNSW M=30, efConstruction=360;
IVF nlist=128; IVF_PQ nbits=8 (``m`` is required).  Unknown keys are accepted,
kept in :attr:`IndexSpec.extra` and echoed by DescribeIndex, as Milvus does.

Errors and their sources:

* unknown type name: ``invalid parameter[expected=valid index][actual=invalid
  index type: FOO]`` (code 1100, ``parseIndexParams``);
* a Milvus type that cannot index a float vector (BIN_FLAT, SPARSE_*, scalar
  types) or that Sluice does not build (DISKANN, SCANN, GPU_*...):
  :class:`~sluice.errors.IndexNotSupported` (code 701) carrying Milvus's
  ``data type 101 can't build with this index BIN_FLAT`` where it applies;
* a bad metric: ``float vector index does not support metric type: X``;
* out-of-range or malformed build parameters: knowhere's sentences, e.g.
  ``Out of range in json: param 'M' (3000) should be in range [2, 2048]``,
  wrapped as Milvus 2.6 wraps them (see :mod:`sluice.index.errors`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sluice.errors import IndexNotSupported, ParameterInvalid
from sluice.index.coerce import INT32_MAX, ParamText, go_text, int_param
from sluice.index.errors import ParamRejected, index_params_error, knowhere_build_error
from sluice.index.metrics import DEFAULT_METRIC, canonical_metric
from sluice.schema import DataType, FieldSchema

FLAT: Final = "FLAT"
IVF_FLAT: Final = "IVF_FLAT"
IVF_SQ8: Final = "IVF_SQ8"
IVF_PQ: Final = "IVF_PQ"
HNSW: Final = "HNSW"
AUTOINDEX: Final = "AUTOINDEX"

#: Index types Sluice builds for a float vector field.
SUPPORTED_INDEX_TYPES: Final = (FLAT, IVF_FLAT, IVF_SQ8, IVF_PQ, HNSW, AUTOINDEX)

#: Milvus float-vector index types Sluice recognises but does not build.
_MILVUS_ONLY_FLOAT_TYPES: Final = frozenset(
    {
        "DISKANN",
        "SCANN",
        "SCANN_DVR",
        "IVF_RABITQ",
        "HNSW_SQ",
        "HNSW_PQ",
        "HNSW_PRQ",
        "IVF_FLAT_CC",
        "IVF_SQ_CC",
        "GPU_IVF_FLAT",
        "GPU_IVF_PQ",
        "GPU_CAGRA",
        "GPU_BRUTE_FORCE",
        "AISAQ",
    }
)

#: Milvus index types for other data types; on a float vector Milvus says
#: ``data type 101 can't build with this index X``.
_OTHER_DATA_TYPES: Final = frozenset(
    {
        "BIN_FLAT",
        "BIN_IVF_FLAT",
        "MINHASH_LSH",
        "SPARSE_INVERTED_INDEX",
        "SPARSE_WAND",
        "INVERTED",
        "STL_SORT",
        "TRIE",
        "BITMAP",
        "HYBRID",
        "NGRAM",
        "RTREE",
    }
)

INDEX_TYPE_KEY: Final = "index_type"
METRIC_TYPE_KEY: Final = "metric_type"
PARAMS_KEY: Final = "params"
DIM_KEY: Final = "dim"

# Ranges from knowhere's configs (src/index/hnsw/base_hnsw_config.h, src/index/ivf/ivf_config.h).
HNSW_M_RANGE: Final = (2, 2048)
HNSW_EF_CONSTRUCTION_RANGE: Final = (1, INT32_MAX)
NLIST_RANGE: Final = (1, 65536)
PQ_M_RANGE: Final = (1, 65536)
PQ_NBITS_RANGE: Final = (1, 24)
#: FAISS trains ``2**nbits`` centroids per sub-quantizer; past 16 that is
#: impractical, so Sluice stops there although knowhere's range reaches 24.
PQ_MAX_NBITS: Final = 16


@dataclass(frozen=True)
class FlatParams:
    """FLAT: the raw vectors, searched exhaustively.

    Memory ``n * dim * 4`` bytes; no training; every query reads every vector
    (``O(n * dim)``), so it is exact and slow past ~100k rows.
    """

    def to_params(self) -> dict[str, int]:
        return {}

    def estimated_bytes(self, rows: int, dim: int) -> int:
        return rows * dim * 4


@dataclass(frozen=True)
class HnswParams:
    """HNSW graph over the raw vectors.

    ``M`` is the number of links per node on upper layers (``2 * M`` on the
    bottom layer); ``ef_construction`` the candidate list size while inserting.
    Memory ``n * (dim * 4 + (2M + 1) * 4 + 12)`` bytes: at dim 128, M 16 about
    650 bytes a row.  Build time grows with ``M * ef_construction``; a query
    touches roughly ``ef * 2M`` vectors at random, so it wants the whole index
    in RAM.
    """

    M: int = 30
    ef_construction: int = 360

    def to_params(self) -> dict[str, int]:
        return {"M": self.M, "efConstruction": self.ef_construction}

    def estimated_bytes(self, rows: int, dim: int) -> int:
        return rows * (dim * 4 + (2 * self.M + 1) * 4 + 12)


@dataclass(frozen=True)
class IvfFlatParams:
    """IVF_FLAT: k-means into ``nlist`` lists, raw vectors stored per list.

    Memory ``n * (dim * 4 + 8) + nlist * dim * 4`` bytes.  Training runs
    k-means (cost ``~ nlist * sample * dim`` per iteration); a query scans
    ``nprobe / nlist`` of the data sequentially.
    """

    nlist: int = 128

    def to_params(self) -> dict[str, int]:
        return {"nlist": self.nlist}

    def estimated_bytes(self, rows: int, dim: int) -> int:
        return rows * (dim * 4 + 8) + self.nlist * dim * 4


@dataclass(frozen=True)
class IvfSq8Params:
    """IVF_SQ8: IVF lists holding one byte per dimension (scalar quantisation).

    Memory ``n * (dim + 8) + nlist * dim * 4`` bytes, about a quarter of
    IVF_FLAT; distances are approximate, so recall is slightly lower at the
    same ``nprobe``.
    """

    nlist: int = 128

    def to_params(self) -> dict[str, int]:
        return {"nlist": self.nlist}

    def estimated_bytes(self, rows: int, dim: int) -> int:
        return rows * (dim + 8) + self.nlist * dim * 4 + dim * 8


@dataclass(frozen=True)
class IvfPqParams:
    """IVF_PQ: IVF lists holding product-quantised codes of ``m * nbits`` bits.

    ``m`` sub-quantizers must divide ``dim``; each has ``2 ** nbits``
    centroids.  Memory ``n * (ceil(m * nbits / 8) + 8) + nlist * dim * 4 +
    2 ** nbits * dim * 4`` bytes: the most compact type, and the least
    accurate.  From codes alone recall@10 is often 0.5-0.9; with the segment's
    vectors attached for re-ranking it reaches 0.95+ (see
    :mod:`sluice.index.faiss_index`).  Training runs one k-means per
    sub-quantizer and wants ``39 * 2 ** nbits`` rows; smaller segments are
    stored FLAT (see :mod:`sluice.index.building`).
    """

    nlist: int = 128
    m: int = 0
    nbits: int = 8

    def to_params(self) -> dict[str, int]:
        return {"nlist": self.nlist, "m": self.m, "nbits": self.nbits}

    def estimated_bytes(self, rows: int, dim: int) -> int:
        code = -(-self.m * self.nbits // 8)
        return rows * (code + 8) + self.nlist * dim * 4 + (1 << self.nbits) * dim * 4


BuildParams = FlatParams | HnswParams | IvfFlatParams | IvfSq8Params | IvfPqParams

_ENGINE_TYPES: Final[dict[type, str]] = {
    FlatParams: FLAT,
    HnswParams: HNSW,
    IvfFlatParams: IVF_FLAT,
    IvfSq8Params: IVF_SQ8,
    IvfPqParams: IVF_PQ,
}

#: Build keys each concrete type reads; anything else is kept as an extra.
_BUILD_KEYS: Final[dict[str, frozenset[str]]] = {
    FLAT: frozenset(),
    HNSW: frozenset({"M", "efConstruction"}),
    IVF_FLAT: frozenset({"nlist"}),
    IVF_SQ8: frozenset({"nlist"}),
    IVF_PQ: frozenset({"nlist", "m", "nbits"}),
}

_RESERVED_KEYS: Final = frozenset({INDEX_TYPE_KEY, METRIC_TYPE_KEY, PARAMS_KEY, DIM_KEY})

#: What AUTOINDEX builds for a float vector (Milvus's ``autoIndex.params.build``).
AUTOINDEX_BUILD: Final = HnswParams(M=18, ef_construction=240)


@dataclass(frozen=True)
class IndexSpec:
    """One vector index definition: type, metric, dimension and typed build params.

    ``index_type`` is what the user asked for (``AUTOINDEX`` stays
    ``AUTOINDEX``); :attr:`engine_type` is what gets built.  ``extra`` holds
    parameters Sluice does not interpret, sorted, so DescribeIndex can echo
    them and :meth:`same_as` can compare them.
    """

    index_type: str
    metric_type: str
    dim: int
    build: BuildParams
    extra: tuple[tuple[str, str], ...] = ()

    @property
    def engine_type(self) -> str:
        """The concrete index type built: AUTOINDEX resolves to HNSW."""
        return _ENGINE_TYPES[type(self.build)]

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
        out.update({key: str(value) for key, value in build.items()})
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
    _check_index_type(requested, field)

    if requested == AUTOINDEX:
        if set(merged) - {INDEX_TYPE_KEY, METRIC_TYPE_KEY}:
            raise ParamRejected("only metric type can be passed when use AutoIndex")
        engine = HNSW
    else:
        engine = requested

    metric = canonical_metric(raw_metric) if raw_metric else DEFAULT_METRIC
    if metric is None:
        raise index_params_error(f"float vector index does not support metric type: {raw_metric}")

    if not field.dtype.is_vector:
        raise knowhere_build_error(f"index {requested} only supports vector data type")
    dim = field.dim
    if dim is None or dim <= 0:
        raise index_params_error("dimension not found in schema")
    if DIM_KEY in merged and merged[DIM_KEY] != str(dim):
        raise index_params_error(
            f"dimension mismatch, dimension in schema: {dim}, dimension: {merged[DIM_KEY]}"
        )

    build = AUTOINDEX_BUILD if requested == AUTOINDEX else _build_params(engine, merged, dim)
    known = _RESERVED_KEYS | _BUILD_KEYS[engine]
    extra = tuple(sorted((k, v) for k, v in merged.items() if k not in known))
    return IndexSpec(requested, metric, dim, build, extra)


def _check_index_type(requested: str, field: FieldSchema) -> None:
    if requested in SUPPORTED_INDEX_TYPES:
        if field.dtype.is_vector and field.dtype != DataType.FLOAT_VECTOR:
            raise IndexNotSupported.wrap(
                f"Sluice indexes FloatVector fields only, not {field.dtype.milvus_name}",
                indexType=requested,
            )
        return
    if requested in _OTHER_DATA_TYPES:
        raise IndexNotSupported.wrap(
            f"data type {int(field.dtype)} can't build with this index {requested}",
            indexType=requested,
        )
    if requested in _MILVUS_ONLY_FLOAT_TYPES:
        supported = " ".join(SUPPORTED_INDEX_TYPES)
        raise IndexNotSupported.wrap(
            f"index type {requested} is not built by Sluice, supported: [{supported}]",
            indexType=requested,
        )
    raise ParameterInvalid.expected("valid index", f"invalid index type: {requested}")


def _build_params(engine: str, merged: Mapping[str, str], dim: int) -> BuildParams:
    try:
        if engine == FLAT:
            return FlatParams()
        if engine == HNSW:
            return HnswParams(
                M=_get_int(merged, "M", HnswParams.M, HNSW_M_RANGE),
                ef_construction=_get_int(
                    merged,
                    "efConstruction",
                    HnswParams.ef_construction,
                    HNSW_EF_CONSTRUCTION_RANGE,
                ),
            )
        nlist = _get_int(merged, "nlist", IvfFlatParams.nlist, NLIST_RANGE)
        if engine == IVF_FLAT:
            return IvfFlatParams(nlist=nlist)
        if engine == IVF_SQ8:
            return IvfSq8Params(nlist=nlist)
        return _pq_params(merged, nlist, dim)
    except ParamText as err:
        raise knowhere_build_error(str(err)) from err


def _pq_params(merged: Mapping[str, str], nlist: int, dim: int) -> IvfPqParams:
    nbits = _get_int(merged, "nbits", IvfPqParams.nbits, PQ_NBITS_RANGE)
    if "m" not in merged:
        raise ParamText("param 'm' not exist in json")
    m = _get_int(merged, "m", 0, PQ_M_RANGE)
    if dim % m != 0:
        raise ParamText(
            "The dimension of a vector (dim) should be a multiple of the number of "
            f"subquantizers (m). Dimension: {dim}, m: {m}"
        )
    if nbits > PQ_MAX_NBITS:
        raise ParamText(
            f"param 'nbits' ({nbits}) is above {PQ_MAX_NBITS}, the largest Sluice builds: "
            f"FAISS would train 2^{nbits} centroids per sub-quantizer"
        )
    return IvfPqParams(nlist=nlist, m=m, nbits=nbits)


def _get_int(merged: Mapping[str, str], key: str, default: int, bounds: tuple[int, int]) -> int:
    if key not in merged:
        return default
    return int_param(key, merged[key], bounds[0], bounds[1])
