"""Vector indexes for Sluice: specs, exact search and FAISS-backed ANN with Milvus semantics.

Modules, one job each:

* :mod:`~sluice.index.spec`: :class:`IndexSpec` and :func:`parse_index_spec`
  (CreateIndex parameters, AUTOINDEX, DescribeIndex, duplicate-index rule);
* :mod:`~sluice.index.search_params`: :class:`SearchParams` and
  :func:`parse_search_params` (``ef``, ``nprobe``, range windows, metric match);
* :mod:`~sluice.index.metrics`: the distance convention shared by everything;
* :mod:`~sluice.index.topk`: top-k selection and :func:`merge_topk` across segments;
* :mod:`~sluice.index.exact`: :func:`exact_search` and :func:`exact_range_search`;
* :mod:`~sluice.index.base`: the :class:`VectorIndex` protocol;
* :mod:`~sluice.index.building`: :func:`build` and :func:`load_index`;
* :mod:`~sluice.index.faiss_index`: :class:`FaissIndex`, search over FAISS;
* :mod:`~sluice.index.format`: the serialised form;
* :mod:`~sluice.index.filtering`: how row masks reach FAISS, and when to scan;
* :mod:`~sluice.index.threads`: OpenMP thread policy;
* :mod:`~sluice.index.coerce` and :mod:`~sluice.index.errors`: knowhere's
  parameter parsing and Milvus's error shapes.

This package imports nothing from the API, engine, storage or client layers,
nor gRPC, protobuf or pymilvus.

Importing it sets ``OMP_WAIT_POLICY=PASSIVE`` unless the environment already
chooses, before FAISS loads its OpenMP runtime; :mod:`~sluice.index.threads`
explains why.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from sluice.index.base import VectorIndex
from sluice.index.building import build, load_index
from sluice.index.errors import ParamRejected
from sluice.index.exact import exact_range_search, exact_search
from sluice.index.faiss_index import FaissIndex
from sluice.index.metrics import (
    COSINE,
    DEFAULT_METRIC,
    FLOAT_METRICS,
    IP,
    L2,
    larger_is_better,
    worst_score,
)
from sluice.index.search_params import SearchParams, parse_search_params
from sluice.index.spec import (
    AUTOINDEX,
    FLAT,
    HNSW,
    IVF_FLAT,
    IVF_PQ,
    IVF_SQ8,
    SUPPORTED_INDEX_TYPES,
    BuildParams,
    FlatParams,
    HnswParams,
    IndexSpec,
    IvfFlatParams,
    IvfPqParams,
    IvfSq8Params,
    parse_index_spec,
)
from sluice.index.threads import ThreadSettings, configure_threads, thread_settings
from sluice.index.topk import merge_topk

__all__ = [
    "AUTOINDEX",
    "COSINE",
    "DEFAULT_METRIC",
    "FLAT",
    "FLOAT_METRICS",
    "HNSW",
    "IP",
    "IVF_FLAT",
    "IVF_PQ",
    "IVF_SQ8",
    "L2",
    "SUPPORTED_INDEX_TYPES",
    "BuildParams",
    "FaissIndex",
    "FlatParams",
    "HnswParams",
    "IndexSpec",
    "IvfFlatParams",
    "IvfPqParams",
    "IvfSq8Params",
    "ParamRejected",
    "SearchParams",
    "ThreadSettings",
    "VectorIndex",
    "build",
    "configure_threads",
    "exact_range_search",
    "exact_search",
    "larger_is_better",
    "load_index",
    "merge_topk",
    "parse_index_spec",
    "parse_search_params",
    "thread_settings",
    "worst_score",
]
