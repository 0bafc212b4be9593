"""Typed build parameters of every vector index type, with their memory cost.

One frozen dataclass per type; :func:`sluice.index.build_params.parse_build`
fills them from CreateIndex's parameters, :meth:`to_params` gives them back
for DescribeIndex, and ``estimated_bytes(rows, dim)`` is the resident size of
an index over ``rows`` vectors of ``dim`` dimensions (bits for binary types,
ignored for sparse ones, whose size depends on their non-zeros).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: ``sq_type`` / ``refine_type`` spellings and the bytes one dimension takes.
SQ_TYPES: Final = ("SQ4U", "SQ6", "SQ8", "BF16", "FP16")
REFINE_TYPES: Final = ("SQ6", "SQ8", "FP16", "BF16", "FP32", "FLAT")
_CODE_BITS: Final = {"SQ4U": 4, "SQ6": 6, "SQ8": 8, "BF16": 16, "FP16": 16, "FP32": 32, "FLAT": 32}


def _graph_bytes(rows: int, m: int) -> int:
    """HNSW links: ``2M`` on the bottom layer, about ``M`` more above, 4 bytes each."""
    return rows * ((2 * m + 1) * 4 + 12)


def _refine_bytes(rows: int, dim: int, refine_type: str | None) -> int:
    if refine_type is None:
        return 0
    return rows * (dim * _CODE_BITS[refine_type] + 7) // 8


@dataclass(frozen=True)
class FlatParams:
    """FLAT: the raw vectors, searched exhaustively.

    Memory ``n * dim * 4`` bytes; no training; every query reads every vector
    (``O(n * dim)``), so it is exact and slow past ~100k rows.
    """

    def to_params(self) -> dict[str, object]:
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

    def to_params(self) -> dict[str, object]:
        return {"M": self.M, "efConstruction": self.ef_construction}

    def estimated_bytes(self, rows: int, dim: int) -> int:
        return rows * dim * 4 + _graph_bytes(rows, self.M)


@dataclass(frozen=True)
class IvfFlatParams:
    """IVF_FLAT: k-means into ``nlist`` lists, raw vectors stored per list.

    Memory ``n * (dim * 4 + 8) + nlist * dim * 4`` bytes.  Training runs
    k-means (cost ``~ nlist * sample * dim`` per iteration); a query scans
    ``nprobe / nlist`` of the data sequentially.
    """

    nlist: int = 128

    def to_params(self) -> dict[str, object]:
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

    def to_params(self) -> dict[str, object]:
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

    def to_params(self) -> dict[str, object]:
        return {"nlist": self.nlist, "m": self.m, "nbits": self.nbits}

    def estimated_bytes(self, rows: int, dim: int) -> int:
        code = -(-self.m * self.nbits // 8)
        return rows * (code + 8) + self.nlist * dim * 4 + (1 << self.nbits) * dim * 4


@dataclass(frozen=True)
class HnswSqParams:
    """HNSW_SQ: an HNSW graph over scalar-quantised vectors (FAISS ``IndexHNSWSQ``).

    ``sq_type`` sets the bits per dimension (SQ4U 4, SQ6 6, SQ8 8, BF16/FP16
    16); with ``refine`` a second copy at ``refine_type`` precision re-scores
    ``refine_k * k`` candidates (FAISS ``IndexRefine``).  Memory
    ``n * dim * bits / 8`` plus the graph plus the refine copy.
    """

    M: int = 30
    ef_construction: int = 360
    sq_type: str = "SQ8"
    refine: bool = False
    refine_type: str | None = None

    def to_params(self) -> dict[str, object]:
        out: dict[str, object] = {
            "M": self.M,
            "efConstruction": self.ef_construction,
            "sq_type": self.sq_type,
            "refine": self.refine,
        }
        if self.refine_type is not None:
            out["refine_type"] = self.refine_type
        return out

    def estimated_bytes(self, rows: int, dim: int) -> int:
        codes = rows * (dim * _CODE_BITS[self.sq_type] + 7) // 8
        refine = _refine_bytes(rows, dim, self.refine_type) if self.refine else 0
        return codes + _graph_bytes(rows, self.M) + refine


@dataclass(frozen=True)
class HnswPqParams:
    """HNSW_PQ: an HNSW graph over product-quantised codes (FAISS ``IndexHNSWPQ``).

    ``m`` sub-quantizers of ``nbits`` bits (``m`` divides ``dim``).  Memory
    ``n * m * nbits / 8`` plus the graph plus ``2**nbits * dim * 4`` of
    codebooks plus the optional refine copy.
    """

    M: int = 30
    ef_construction: int = 360
    m: int = 32
    nbits: int = 8
    refine: bool = False
    refine_type: str | None = None

    def to_params(self) -> dict[str, object]:
        out: dict[str, object] = {
            "M": self.M,
            "efConstruction": self.ef_construction,
            "m": self.m,
            "nbits": self.nbits,
            "refine": self.refine,
        }
        if self.refine_type is not None:
            out["refine_type"] = self.refine_type
        return out

    def estimated_bytes(self, rows: int, dim: int) -> int:
        codes = rows * -(-self.m * self.nbits // 8) + (1 << self.nbits) * dim * 4
        refine = _refine_bytes(rows, dim, self.refine_type) if self.refine else 0
        return codes + _graph_bytes(rows, self.M) + refine


@dataclass(frozen=True)
class HnswPrqParams:
    """HNSW_PRQ: an HNSW graph over product-residual codes.

    FAISS ``IndexHNSW`` over ``IndexProductResidualQuantizer(dim, m, nrq,
    nbits)``: ``m`` splits, each encoded by ``nrq`` residual quantizers of
    ``nbits`` bits.  Memory ``n * m * nrq * nbits / 8`` plus the graph plus the
    optional refine copy; training (beam search per residual step) is the
    slowest of all types.
    """

    M: int = 30
    ef_construction: int = 360
    m: int = 2
    nrq: int = 2
    nbits: int = 8
    refine: bool = False
    refine_type: str | None = None

    def to_params(self) -> dict[str, object]:
        out: dict[str, object] = {
            "M": self.M,
            "efConstruction": self.ef_construction,
            "m": self.m,
            "nrq": self.nrq,
            "nbits": self.nbits,
            "refine": self.refine,
        }
        if self.refine_type is not None:
            out["refine_type"] = self.refine_type
        return out

    def estimated_bytes(self, rows: int, dim: int) -> int:
        codes = rows * -(-self.m * self.nrq * self.nbits // 8)
        refine = _refine_bytes(rows, dim, self.refine_type) if self.refine else 0
        return codes + _graph_bytes(rows, self.M) + refine


@dataclass(frozen=True)
class IvfRabitqParams:
    """IVF_RABITQ: IVF lists of 1-bit RaBitQ codes (FAISS ``IndexIVFRaBitQ``).

    About ``dim / 8 + 8`` bytes a row plus ``nlist * dim * 4`` of centroids;
    ``refine`` keeps a ``refine_type`` copy to re-score ``refine_k * k``
    candidates.
    """

    nlist: int = 128
    refine: bool = False
    refine_type: str | None = None

    def to_params(self) -> dict[str, object]:
        out: dict[str, object] = {"nlist": self.nlist, "refine": self.refine}
        if self.refine_type is not None:
            out["refine_type"] = self.refine_type
        return out

    def estimated_bytes(self, rows: int, dim: int) -> int:
        refine = _refine_bytes(rows, dim, self.refine_type) if self.refine else 0
        return rows * (dim // 8 + 16) + self.nlist * dim * 4 + refine


@dataclass(frozen=True)
class ScannParams:
    """SCANN: IVF lists of 4-bit fast-scan PQ codes, one per ``sub_dim`` dimensions.

    FAISS ``IndexIVFPQFastScan(m = dim / sub_dim, nbits = 4)``, the
    anisotropic-quantisation-free cousin of ScaNN; ``with_raw_data`` keeps the
    float32 vectors (``IndexRefineFlat``) so ``reorder_k`` candidates are
    re-scored exactly.  Memory ``n * dim / sub_dim / 2`` bytes of codes, plus
    ``n * dim * 4`` with raw data.
    """

    nlist: int = 128
    with_raw_data: bool = True
    sub_dim: int = 2

    def to_params(self) -> dict[str, object]:
        return {"nlist": self.nlist, "with_raw_data": self.with_raw_data, "sub_dim": self.sub_dim}

    def estimated_bytes(self, rows: int, dim: int) -> int:
        raw = rows * dim * 4 if self.with_raw_data else 0
        return rows * (dim // self.sub_dim // 2 + 8) + self.nlist * dim * 4 + raw


@dataclass(frozen=True)
class DiskannParams:
    """DISKANN, built in memory as an HNSW graph whose bottom layer has ``max_degree`` links.

    ``search_list_size`` is the build candidate list (HNSW's efConstruction).
    The SSD budgets (``pq_code_budget_gb_ratio``, ``search_cache_budget_gb_ratio``)
    are validated and reported but have nothing to size: the graph and the raw
    vectors stay in RAM (memory as HNSW with ``M = max_degree / 2``).
    """

    max_degree: int = 56
    search_list_size: int = 100
    pq_code_budget_gb_ratio: float = 0.125
    search_cache_budget_gb_ratio: float = 0.1

    @property
    def hnsw_m(self) -> int:
        return max(2, self.max_degree // 2)

    def to_params(self) -> dict[str, object]:
        return {
            "max_degree": self.max_degree,
            "search_list_size": self.search_list_size,
            "pq_code_budget_gb_ratio": self.pq_code_budget_gb_ratio,
            "search_cache_budget_gb_ratio": self.search_cache_budget_gb_ratio,
        }

    def estimated_bytes(self, rows: int, dim: int) -> int:
        return rows * dim * 4 + _graph_bytes(rows, self.hnsw_m)


@dataclass(frozen=True)
class BinFlatParams:
    """BIN_FLAT: the packed codes, scanned exhaustively (FAISS ``IndexBinaryFlat``).

    Memory ``n * dim / 8`` bytes; a HAMMING query is one XOR-popcount per row.
    """

    def to_params(self) -> dict[str, object]:
        return {}

    def estimated_bytes(self, rows: int, dim: int) -> int:
        return rows * dim // 8


@dataclass(frozen=True)
class BinIvfFlatParams:
    """BIN_IVF_FLAT: binary k-means into ``nlist`` lists of packed codes.

    Memory ``n * (dim / 8 + 8) + nlist * dim / 8`` bytes; a query scans
    ``nprobe / nlist`` of the rows.
    """

    nlist: int = 128

    def to_params(self) -> dict[str, object]:
        return {"nlist": self.nlist}

    def estimated_bytes(self, rows: int, dim: int) -> int:
        return rows * (dim // 8 + 8) + self.nlist * dim // 8


@dataclass(frozen=True)
class SparseParams:
    """SPARSE_INVERTED_INDEX / SPARSE_WAND: posting lists per column.

    Memory about 12 bytes per non-zero (row id and value, CSC) plus 8 per
    column and 4 per row.  ``drop_ratio_build`` is validated and kept but, as
    in Milvus 2.6 (knowhere deprecated it), drops nothing.  BM25 keeps
    ``bm25_k1``/``bm25_b`` from the build and ``bm25_avgdl`` as the fallback
    average document length.
    """

    drop_ratio_build: float = 0.0
    inverted_index_algo: str = "DAAT_MAXSCORE"
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    bm25_avgdl: float = 100.0

    def to_params(self) -> dict[str, object]:
        return {
            "drop_ratio_build": self.drop_ratio_build,
            "inverted_index_algo": self.inverted_index_algo,
            "bm25_k1": self.bm25_k1,
            "bm25_b": self.bm25_b,
            "bm25_avgdl": self.bm25_avgdl,
        }

    def estimated_bytes(self, rows: int, dim: int) -> int:
        return rows * 4


BuildParams = (
    FlatParams
    | HnswParams
    | IvfFlatParams
    | IvfSq8Params
    | IvfPqParams
    | HnswSqParams
    | HnswPqParams
    | HnswPrqParams
    | IvfRabitqParams
    | ScannParams
    | DiskannParams
    | BinFlatParams
    | BinIvfFlatParams
    | SparseParams
)
