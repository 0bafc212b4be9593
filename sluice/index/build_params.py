"""Build parameters read from CreateIndex's string map, with knowhere's and Milvus's checks.

Every value arrives as text (see :mod:`sluice.index.coerce`).  Integer and
float ranges and their sentences are knowhere's config declarations
(``src/index/*/..._config.h``); the sparse checks are Milvus's
``sparseFloatVectorBaseChecker``.  Failures raise
:class:`~sluice.index.coerce.ParamText` (knowhere's sentence) or
:class:`MilvusCheck` (a proxy checker's sentence); :mod:`sluice.index.spec`
wraps both into Milvus's error shape.

Which keys each type reads is :data:`BUILD_KEYS`; anything else is kept as an
extra and echoed by DescribeIndex, as Milvus does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from sluice.index.coerce import (
    INT32_MAX,
    ParamText,
    bool_param,
    float_param,
    int_param,
)
from sluice.index.params import (
    REFINE_TYPES,
    SQ_TYPES,
    BinFlatParams,
    BinIvfFlatParams,
    BuildParams,
    DiskannParams,
    FlatParams,
    HnswParams,
    HnswPqParams,
    HnswPrqParams,
    HnswSqParams,
    IvfFlatParams,
    IvfPqParams,
    IvfRabitqParams,
    IvfSq8Params,
    ScannParams,
    SparseParams,
)

FLAT: Final = "FLAT"
IVF_FLAT: Final = "IVF_FLAT"
IVF_SQ8: Final = "IVF_SQ8"
IVF_PQ: Final = "IVF_PQ"
HNSW: Final = "HNSW"
HNSW_SQ: Final = "HNSW_SQ"
HNSW_PQ: Final = "HNSW_PQ"
HNSW_PRQ: Final = "HNSW_PRQ"
IVF_RABITQ: Final = "IVF_RABITQ"
SCANN: Final = "SCANN"
DISKANN: Final = "DISKANN"
BIN_FLAT: Final = "BIN_FLAT"
BIN_IVF_FLAT: Final = "BIN_IVF_FLAT"
SPARSE_INVERTED_INDEX: Final = "SPARSE_INVERTED_INDEX"
SPARSE_WAND: Final = "SPARSE_WAND"

# Ranges from knowhere's configs.
HNSW_M_RANGE: Final = (2, 2048)
HNSW_EF_CONSTRUCTION_RANGE: Final = (1, INT32_MAX)
NLIST_RANGE: Final = (1, 65536)
PQ_M_RANGE: Final = (1, 65536)
PQ_NBITS_RANGE: Final = (1, 24)
HNSW_PQ_NBITS_RANGE: Final = (1, 16)
PRQ_NRQ_RANGE: Final = (1, 64)
PRQ_NBITS_RANGE: Final = (1, 64)
SUB_DIM_RANGE: Final = (1, 65536)
MAX_DEGREE_RANGE: Final = (1, 2048)
SEARCH_LIST_SIZE_RANGE: Final = (1, INT32_MAX)
FLOAT_MAX: Final = 3.4028234663852886e38
#: FAISS trains ``2**nbits`` centroids per sub-quantizer; past 16 that is
#: impractical, so Sluice stops there although knowhere's range reaches 24.
PQ_MAX_NBITS: Final = 16
INVERTED_INDEX_ALGOS: Final = ("TAAT_NAIVE", "DAAT_WAND", "DAAT_MAXSCORE")

_REFINE_KEYS: Final = frozenset({"refine", "refine_type"})
_HNSW_KEYS: Final = frozenset({"M", "efConstruction"})

#: Build keys each concrete type reads; anything else is kept as an extra.
BUILD_KEYS: Final[dict[str, frozenset[str]]] = {
    FLAT: frozenset(),
    HNSW: _HNSW_KEYS,
    IVF_FLAT: frozenset({"nlist"}),
    IVF_SQ8: frozenset({"nlist"}),
    IVF_PQ: frozenset({"nlist", "m", "nbits"}),
    HNSW_SQ: _HNSW_KEYS | _REFINE_KEYS | {"sq_type"},
    HNSW_PQ: _HNSW_KEYS | _REFINE_KEYS | {"m", "nbits"},
    HNSW_PRQ: _HNSW_KEYS | _REFINE_KEYS | {"m", "nrq", "nbits"},
    IVF_RABITQ: _REFINE_KEYS | {"nlist"},
    SCANN: frozenset({"nlist", "with_raw_data", "sub_dim"}),
    DISKANN: frozenset(
        {
            "max_degree",
            "search_list_size",
            "pq_code_budget_gb_ratio",
            "search_cache_budget_gb_ratio",
        }
    ),
    BIN_FLAT: frozenset(),
    BIN_IVF_FLAT: frozenset({"nlist"}),
    SPARSE_INVERTED_INDEX: frozenset(
        {"drop_ratio_build", "inverted_index_algo", "bm25_k1", "bm25_b", "bm25_avgdl"}
    ),
    SPARSE_WAND: frozenset(
        {"drop_ratio_build", "inverted_index_algo", "bm25_k1", "bm25_b", "bm25_avgdl"}
    ),
}


class MilvusCheck(ValueError):
    """A proxy checker refused a parameter; ``str(self)`` is the checker's sentence."""


def parse_build(engine: str, merged: Mapping[str, str], dim: int) -> BuildParams:
    """The typed build parameters of ``engine`` from the merged string map."""
    if engine in (FLAT,):
        return FlatParams()
    if engine == BIN_FLAT:
        return BinFlatParams()
    if engine == HNSW:
        if _get_bool(merged, "refine", False) or "refine_type" in merged:
            raise ParamText("refine is not supported for this index")
        m, ef = _hnsw(merged)
        return HnswParams(M=m, ef_construction=ef)
    if engine in (IVF_FLAT, IVF_SQ8, BIN_IVF_FLAT):
        nlist = _get_int(merged, "nlist", 128, NLIST_RANGE)
        if engine == IVF_FLAT:
            return IvfFlatParams(nlist=nlist)
        if engine == IVF_SQ8:
            return IvfSq8Params(nlist=nlist)
        return BinIvfFlatParams(nlist=nlist)
    if engine == IVF_PQ:
        return _ivf_pq(merged, dim)
    if engine in (SPARSE_INVERTED_INDEX, SPARSE_WAND):
        return _sparse(merged)
    parse = _PARSERS.get(engine)
    if parse is None:
        raise ValueError(f"no build parameters for {engine}")
    return parse(merged, dim)


def _hnsw(merged: Mapping[str, str]) -> tuple[int, int]:
    m = _get_int(merged, "M", 30, HNSW_M_RANGE)
    ef = _get_int(merged, "efConstruction", 360, HNSW_EF_CONSTRUCTION_RANGE)
    return m, ef


def _refine(merged: Mapping[str, str]) -> tuple[bool, str | None]:
    """``refine`` and ``refine_type`` (any case, stored upper-case); FP32 when refining untyped."""
    refine = _get_bool(merged, "refine", False)
    raw = merged.get("refine_type")
    refine_type: str | None = None
    if raw is not None:
        if raw.upper() not in REFINE_TYPES:
            allowed = ", ".join(t.lower() for t in REFINE_TYPES)
            raise ParamText(f"invalid refine type : {raw}, optional types are [{allowed}]")
        refine_type = raw.upper()
    if refine and refine_type is None:
        refine_type = "FP32"
    return refine, refine_type


def _hnsw_sq(merged: Mapping[str, str], dim: int) -> HnswSqParams:
    m, ef = _hnsw(merged)
    sq_type = merged.get("sq_type", "SQ8")
    if sq_type not in SQ_TYPES:
        raise ParamText("invalid scalar quantizer type")
    refine, refine_type = _refine(merged)
    return HnswSqParams(m, ef, sq_type, refine, refine_type)


def _hnsw_pq(merged: Mapping[str, str], dim: int) -> HnswPqParams:
    m, ef = _hnsw(merged)
    pq_m = _get_int(merged, "m", 32, PQ_M_RANGE)
    nbits = _get_int(merged, "nbits", 8, HNSW_PQ_NBITS_RANGE)
    _check_divides(dim, pq_m)
    refine, refine_type = _refine(merged)
    return HnswPqParams(m, ef, pq_m, nbits, refine, refine_type)


def _hnsw_prq(merged: Mapping[str, str], dim: int) -> HnswPrqParams:
    m, ef = _hnsw(merged)
    splits = _get_int(merged, "m", 2, PQ_M_RANGE)
    nrq = _get_int(merged, "nrq", 2, PRQ_NRQ_RANGE)
    nbits = _get_int(merged, "nbits", 8, PRQ_NBITS_RANGE)
    _check_divides(dim, splits)
    _check_nbits(nbits)
    refine, refine_type = _refine(merged)
    return HnswPrqParams(m, ef, splits, nrq, nbits, refine, refine_type)


def _ivf_rabitq(merged: Mapping[str, str], dim: int) -> IvfRabitqParams:
    nlist = _get_int(merged, "nlist", 128, NLIST_RANGE)
    refine, refine_type = _refine(merged)
    return IvfRabitqParams(nlist, refine, refine_type)


def _scann(merged: Mapping[str, str], dim: int) -> ScannParams:
    nlist = _get_int(merged, "nlist", 128, NLIST_RANGE)
    with_raw_data = _get_bool(merged, "with_raw_data", True)
    sub_dim = _get_int(merged, "sub_dim", 2, SUB_DIM_RANGE)
    if dim % sub_dim != 0:
        raise ParamText(
            "The dimension of a vector (dim) should be a multiple of sub_dim. "
            f"Dimension:{dim}, sub_dim:{sub_dim}"
        )
    return ScannParams(nlist, with_raw_data, sub_dim)


def _diskann(merged: Mapping[str, str], dim: int) -> DiskannParams:
    return DiskannParams(
        max_degree=_get_int(merged, "max_degree", 56, MAX_DEGREE_RANGE),
        search_list_size=_get_int(merged, "search_list_size", 100, SEARCH_LIST_SIZE_RANGE),
        pq_code_budget_gb_ratio=_get_float(merged, "pq_code_budget_gb_ratio", 0.125),
        search_cache_budget_gb_ratio=_get_float(merged, "search_cache_budget_gb_ratio", 0.1),
    )


_PARSERS: Final[dict[str, Callable[[Mapping[str, str], int], BuildParams]]] = {
    HNSW_SQ: _hnsw_sq,
    HNSW_PQ: _hnsw_pq,
    HNSW_PRQ: _hnsw_prq,
    IVF_RABITQ: _ivf_rabitq,
    SCANN: _scann,
    DISKANN: _diskann,
}


def _ivf_pq(merged: Mapping[str, str], dim: int) -> IvfPqParams:
    nlist = _get_int(merged, "nlist", 128, NLIST_RANGE)
    nbits = _get_int(merged, "nbits", 8, PQ_NBITS_RANGE)
    if "m" not in merged:
        raise ParamText("param 'm' not exist in json")
    m = _get_int(merged, "m", 0, PQ_M_RANGE)
    _check_divides(dim, m)
    _check_nbits(nbits)
    return IvfPqParams(nlist=nlist, m=m, nbits=nbits)


def _sparse(merged: Mapping[str, str]) -> SparseParams:
    drop = _checked_ratio(merged, "drop_ratio_build", 0.0, 1.0, "[0, 1)", high_open=True)
    k1 = _checked_ratio(merged, "bm25_k1", 1.2, 3.0, "[0, 3]", high_open=False)
    b = _checked_ratio(merged, "bm25_b", 0.75, 1.0, "[0, 1]", high_open=False)
    avgdl = _get_float(merged, "bm25_avgdl", 100.0)
    algo = merged.get("inverted_index_algo", "DAAT_MAXSCORE")
    if algo not in INVERTED_INDEX_ALGOS:
        supported = " ".join(INVERTED_INDEX_ALGOS)
        raise ParamText(
            f"sparse inverted index algo {algo} not found or not supported, supported: [{supported}]"
        )
    return SparseParams(drop, algo, k1, b, avgdl)


def _checked_ratio(
    merged: Mapping[str, str], key: str, default: float, high: float, shown: str, *, high_open: bool
) -> float:
    """Milvus's proxy check of a sparse float: ``invalid <key>: <text>, must be in range <shown>``."""
    text = merged.get(key)
    if text is None:
        return default
    try:
        number = float(text)
    except ValueError:
        number = float("nan")
    too_high = number >= high if high_open else number > high
    if not number >= 0 or too_high:
        raise MilvusCheck(f"invalid {key}: {text}, must be in range {shown}")
    return number


def _check_divides(dim: int, m: int) -> None:
    if dim % m != 0:
        raise ParamText(
            "The dimension of a vector (dim) should be a multiple of the number of "
            f"subquantizers (m). Dimension: {dim}, m: {m}"
        )


def _check_nbits(nbits: int) -> None:
    if nbits > PQ_MAX_NBITS:
        raise ParamText(
            f"param 'nbits' ({nbits}) is above {PQ_MAX_NBITS}, the largest Sluice builds: "
            f"FAISS would train 2^{nbits} centroids per sub-quantizer"
        )


def _get_int(merged: Mapping[str, str], key: str, default: int, bounds: tuple[int, int]) -> int:
    if key not in merged:
        return default
    return int_param(key, merged[key], bounds[0], bounds[1])


def _get_bool(merged: Mapping[str, str], key: str, default: bool) -> bool:
    if key not in merged:
        return default
    return bool_param(key, merged[key])


def _get_float(merged: Mapping[str, str], key: str, default: float) -> float:
    if key not in merged:
        return default
    return float_param(key, merged[key], 0.0, FLOAT_MAX)
