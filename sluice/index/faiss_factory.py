"""The FAISS structure built for each dense index type, untrained and empty.

==========  ==========================================================  =========================
Type        FAISS structure                                             Differs from Milvus
==========  ==========================================================  =========================
FLAT        ``IndexFlat``                                               no
HNSW        ``IndexHNSWFlat(M)``                                        IP built in L2 space (all HNSW types)
IVF_FLAT    ``IndexIVFFlat``                                            no
IVF_SQ8     ``IndexIVFScalarQuantizer(QT_8bit)``                        re-ranked (see faiss_index)
IVF_PQ      ``IndexIVFPQ(m, nbits)``                                    re-ranked (see faiss_index)
HNSW_SQ     ``IndexHNSWSQ(sq_type)`` [+ ``IndexRefine``]                no (SQ4U = QT_4bit_uniform)
HNSW_PQ     ``IndexHNSWPQ(m, nbits)`` [+ ``IndexRefine``]               no
HNSW_PRQ    ``IndexHNSW`` over ``IndexProductResidualQuantizer(m, nrq,  no
            nbits)`` [+ ``IndexRefine``]
IVF_RABITQ  ``IndexIVFRaBitQ`` [+ ``IndexRefine``]                      FAISS's RaBitQ, 1 bit
SCANN       ``IndexIVFPQFastScan(dim / sub_dim, 4 bits)``               PQ, not anisotropic
            [+ ``IndexRefineFlat`` when ``with_raw_data``]              quantisation
DISKANN     ``IndexHNSWFlat(max_degree / 2)``, efConstruction =         in RAM, HNSW not Vamana,
            ``search_list_size``                                        no PQ navigation codes
==========  ==========================================================  =========================

``refine`` builds FAISS's ``IndexRefine`` around the base index with a second
copy at ``refine_type`` precision (``IndexScalarQuantizer`` for SQ6, SQ8,
FP16 and BF16, ``IndexFlat`` for FP32/FLAT); a search asks the base for
``refine_k * k`` candidates and re-scores them with the copy, exactly
knowhere's refine.

Small segments: IVF types train ``max(1, n // 39)`` lists; codebook types
(IVF_PQ, HNSW_PQ, HNSW_PRQ, SCANN) need ``39 * 2 ** nbits`` rows to train
their k-means, so a smaller segment gets the exact structure instead (FLAT
for the IVF types, HNSW over raw vectors for the HNSW types).  The spec still
says what was asked for.
"""

from __future__ import annotations

from typing import Any, Final

import faiss as _faiss_typed

from sluice.index.metrics import L2
from sluice.index.params import (
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
)
from sluice.index.spec import IndexSpec

faiss: Any = _faiss_typed

#: FAISS warns below 39 training rows per k-means centroid.
MIN_ROWS_PER_LIST: Final = 39
#: SCANN's fast-scan PQ codes are 4 bits per sub-quantizer.
SCANN_NBITS: Final = 4

_SQ_TYPES: Final = {
    "SQ4U": "QT_4bit_uniform",
    "SQ6": "QT_6bit",
    "SQ8": "QT_8bit",
    "FP16": "QT_fp16",
    "BF16": "QT_bf16",
}


def faiss_metric(metric: str) -> int:
    """FAISS's metric constant for a float backend metric (L2 or IP)."""
    return int(faiss.METRIC_L2 if metric == L2 else faiss.METRIC_INNER_PRODUCT)


def effective_nlist(nlist: int, rows: int) -> int:
    """The list count an IVF index trains on ``rows`` rows."""
    return max(1, min(nlist, rows // MIN_ROWS_PER_LIST))


def new_dense_index(spec: IndexSpec, rows: int, dim: int, space: str) -> Any:
    """The untrained FAISS index for ``spec`` over ``rows`` vectors of ``dim`` in metric ``space``."""
    params = spec.build
    metric = faiss_metric(space)
    if isinstance(params, HnswParams | DiskannParams):
        m = params.M if isinstance(params, HnswParams) else params.hnsw_m
        ef = params.ef_construction if isinstance(params, HnswParams) else params.search_list_size
        return _hnsw_flat(dim, m, ef, metric)
    if isinstance(params, FlatParams) or rows == 0:
        return faiss.IndexFlat(dim, metric)
    if isinstance(params, HnswSqParams | HnswPqParams | HnswPrqParams):
        return _quantised_hnsw(params, rows, dim, metric)
    if isinstance(params, IvfPqParams) and rows < MIN_ROWS_PER_LIST * (1 << params.nbits):
        return faiss.IndexFlat(dim, metric)
    if isinstance(params, ScannParams) and rows < MIN_ROWS_PER_LIST * (1 << SCANN_NBITS):
        return faiss.IndexFlat(dim, metric)
    nlist = effective_nlist(params.nlist, rows)  # type: ignore[union-attr]
    quantizer = faiss.IndexFlat(dim, metric)
    if isinstance(params, IvfFlatParams):
        return _owning(faiss.IndexIVFFlat(quantizer, dim, nlist, metric), quantizer)
    if isinstance(params, IvfSq8Params):
        sq8 = faiss.IndexIVFScalarQuantizer(
            quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, metric
        )
        return _owning(sq8, quantizer)
    if isinstance(params, IvfPqParams):
        pq = faiss.IndexIVFPQ(quantizer, dim, nlist, params.m, params.nbits, metric)
        return _owning(pq, quantizer)
    if isinstance(params, IvfRabitqParams):
        rabitq = _owning(faiss.IndexIVFRaBitQ(quantizer, dim, nlist, metric), quantizer)
        return _refined(rabitq, params.refine_type if params.refine else None, dim, metric)
    if isinstance(params, ScannParams):
        scann = faiss.IndexIVFPQFastScan(
            quantizer, dim, nlist, dim // params.sub_dim, SCANN_NBITS, metric
        )
        scann = _owning(scann, quantizer)
        return _refined(scann, "FP32" if params.with_raw_data else None, dim, metric)
    raise ValueError(f"no FAISS structure for {spec.engine_type}")


def _hnsw_flat(dim: int, m: int, ef_construction: int, metric: int) -> Any:
    hnsw = faiss.IndexHNSWFlat(dim, m, metric)
    hnsw.hnsw.efConstruction = ef_construction
    return hnsw


def _quantised_hnsw(
    params: HnswSqParams | HnswPqParams | HnswPrqParams, rows: int, dim: int, metric: int
) -> Any:
    if isinstance(params, HnswSqParams):
        qtype = getattr(faiss.ScalarQuantizer, _SQ_TYPES[params.sq_type])
        base = faiss.IndexHNSWSQ(dim, qtype, params.M, metric)
    elif rows < MIN_ROWS_PER_LIST * (1 << params.nbits):
        base = faiss.IndexHNSWFlat(dim, params.M, metric)
    elif isinstance(params, HnswPqParams):
        base = faiss.IndexHNSWPQ(dim, params.m, params.M, params.nbits, metric)
    else:
        storage = faiss.IndexProductResidualQuantizer(
            dim, params.m, params.nrq, params.nbits, metric
        )
        base = _owning(faiss.IndexHNSW(storage, params.M), storage)
        # IndexHNSW reports itself trained whatever its storage says; the
        # residual codebooks still need training.
        base.is_trained = False
    base.hnsw.efConstruction = params.ef_construction
    return _refined(base, params.refine_type if params.refine else None, dim, metric)


def _refined(base: Any, refine_type: str | None, dim: int, metric: int) -> Any:
    """``base`` wrapped in ``IndexRefine`` with a ``refine_type`` copy, or ``base`` itself."""
    if refine_type is None:
        return base
    if refine_type in ("FP32", "FLAT"):
        copy = faiss.IndexFlat(dim, metric)
    else:
        qtype = getattr(faiss.ScalarQuantizer, _SQ_TYPES[refine_type])
        copy = faiss.IndexScalarQuantizer(dim, qtype, metric)
    refine = faiss.IndexRefine(base, copy)
    refine.own_refine_index = True
    return _owning(refine, base, copy)


def _owning(index: Any, *parts: Any) -> Any:
    """Make ``index`` free ``parts`` itself, so they live exactly as long as it does."""
    index.own_fields = True
    for part in parts:
        part.this.disown()
    return index
