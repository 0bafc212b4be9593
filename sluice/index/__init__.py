"""Vector indexes for Sluice: specs, exact search and FAISS-backed ANN with Milvus semantics.

Modules, one job each:

* :mod:`~sluice.index.kinds`: the six vector kinds and the batches the engine
  passes for each (the contract, see below);
* :mod:`~sluice.index.spec`: :class:`IndexSpec` and :func:`parse_index_spec`
  (CreateIndex parameters per data type, AUTOINDEX, DescribeIndex, duplicate
  rule), with :mod:`~sluice.index.params` (typed build parameters and their
  memory cost) and :mod:`~sluice.index.build_params` (knowhere's checks);
* :mod:`~sluice.index.search_params`: :class:`SearchParams` and
  :func:`parse_search_params` (``ef``, ``nprobe``, range windows, metric match);
* :mod:`~sluice.index.metrics`: the distance convention shared by everything;
* :mod:`~sluice.index.topk`: top-k selection and :func:`merge_topk` across segments;
* :mod:`~sluice.index.exact`: :func:`exact_search` and :func:`exact_range_search`
  over float32; :mod:`~sluice.index.exact_any`: :func:`search_exact` for every kind;
* :mod:`~sluice.index.base`: the :class:`VectorIndex` protocol;
* :mod:`~sluice.index.building`: :func:`build` and :func:`load_index` for every kind;
* :mod:`~sluice.index.faiss_factory`: the FAISS structure per dense type (the
  mapping, and what differs from Milvus);
* :mod:`~sluice.index.faiss_index`: :class:`FaissIndex`, dense search over FAISS;
* :mod:`~sluice.index.binary_index`: BIN_FLAT/BIN_IVF_FLAT, HAMMING, JACCARD,
  SUBSTRUCTURE, SUPERSTRUCTURE;
* :mod:`~sluice.index.sparse_index` and :mod:`~sluice.index.bm25`:
  SPARSE_INVERTED_INDEX/SPARSE_WAND with IP and BM25;
* :mod:`~sluice.index.rows`: nullable vector fields (validity masks);
* :mod:`~sluice.index.format`: the serialised form;
* :mod:`~sluice.index.filtering`: how row masks reach FAISS, and when to scan;
* :mod:`~sluice.index.threads`: OpenMP thread policy;
* :mod:`~sluice.index.coerce` and :mod:`~sluice.index.errors`: knowhere's
  parameter parsing and Milvus's error shapes.

Contract with the engine, per data type (details in :mod:`~sluice.index.kinds`):
FLOAT_VECTOR float32 ``(n, dim)``; FLOAT16_VECTOR ``numpy.float16`` and
BFLOAT16_VECTOR ``ml_dtypes.bfloat16`` ``(n, dim)``; INT8_VECTOR int8
``(n, dim)``; BINARY_VECTOR uint8 ``(n, dim / 8)`` packed bits;
SPARSE_FLOAT_VECTOR a ``scipy.sparse.csr_matrix`` (float32 values, column
indices below ``2**32``).  Queries come in the field's kind.  Row ids are
segment row offsets; a nullable field passes its validity mask as ``valid``
to :func:`build` (null rows are never results), and folds it into
``allowed`` for :func:`search_exact`.  BM25 corpus statistics travel in
:attr:`SearchParams.bm25` (:class:`Bm25Stats`, mergeable across segments).

This package imports nothing from the API, engine, storage or client layers,
nor gRPC, protobuf or pymilvus.

Importing it sets ``OMP_WAIT_POLICY=PASSIVE`` unless the environment already
chooses, before FAISS loads its OpenMP runtime; :mod:`~sluice.index.threads`
explains why.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from sluice.index.base import VectorIndex
from sluice.index.binary_index import BinaryIndex
from sluice.index.bm25 import Bm25Stats
from sluice.index.build_params import (
    BIN_FLAT,
    BIN_IVF_FLAT,
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
)
from sluice.index.building import build, load_index, load_mapped_index
from sluice.index.errors import ParamRejected
from sluice.index.exact import exact_range_search, exact_search
from sluice.index.exact_any import search_exact
from sluice.index.faiss_index import FaissIndex
from sluice.index.kinds import VectorKind, binary_dim_error, check_binary_dim, kind_of
from sluice.index.metrics import (
    BINARY_METRICS,
    BM25,
    COSINE,
    DEFAULT_METRIC,
    FLOAT_METRICS,
    HAMMING,
    IP,
    JACCARD,
    L2,
    SPARSE_METRICS,
    SUBSTRUCTURE,
    SUPERSTRUCTURE,
    larger_is_better,
    worst_score,
)
from sluice.index.params import (
    BuildParams,
    FlatParams,
    HnswParams,
    IvfFlatParams,
    IvfPqParams,
    IvfSq8Params,
)
from sluice.index.rows import RowMappedIndex
from sluice.index.search_params import SearchParams, parse_search_params
from sluice.index.sparse_index import SparseIndex
from sluice.index.spec import AUTOINDEX, SUPPORTED_INDEX_TYPES, IndexSpec, parse_index_spec
from sluice.index.threads import ThreadSettings, configure_threads, scan_blocks, thread_settings
from sluice.index.topk import merge_topk

__all__ = [
    "AUTOINDEX",
    "BINARY_METRICS",
    "BIN_FLAT",
    "BIN_IVF_FLAT",
    "BM25",
    "COSINE",
    "DEFAULT_METRIC",
    "DISKANN",
    "FLAT",
    "FLOAT_METRICS",
    "HAMMING",
    "HNSW",
    "HNSW_PQ",
    "HNSW_PRQ",
    "HNSW_SQ",
    "IP",
    "IVF_FLAT",
    "IVF_PQ",
    "IVF_RABITQ",
    "IVF_SQ8",
    "JACCARD",
    "L2",
    "SCANN",
    "SPARSE_INVERTED_INDEX",
    "SPARSE_METRICS",
    "SPARSE_WAND",
    "SUBSTRUCTURE",
    "SUPERSTRUCTURE",
    "SUPPORTED_INDEX_TYPES",
    "BinaryIndex",
    "Bm25Stats",
    "BuildParams",
    "FaissIndex",
    "FlatParams",
    "HnswParams",
    "IndexSpec",
    "IvfFlatParams",
    "IvfPqParams",
    "IvfSq8Params",
    "ParamRejected",
    "RowMappedIndex",
    "SearchParams",
    "SparseIndex",
    "ThreadSettings",
    "VectorIndex",
    "VectorKind",
    "binary_dim_error",
    "build",
    "check_binary_dim",
    "configure_threads",
    "exact_range_search",
    "exact_search",
    "kind_of",
    "larger_is_better",
    "load_index",
    "load_mapped_index",
    "merge_topk",
    "parse_index_spec",
    "parse_search_params",
    "scan_blocks",
    "search_exact",
    "thread_settings",
    "worst_score",
]
