"""Indexes on struct vector sub-fields and embedding-list (MAX_SIM) search over them.

A vector sub-field of an array of structs (``chunks[vec]``) holds, per row,
a list of vectors: an *embedding list*.  Milvus 2.6 indexes it as a whole
(``HNSW`` or ``AUTOINDEX`` with ``MAX_SIM_COSINE``, ``MAX_SIM_IP`` or
``MAX_SIM_L2``) and searches it with embedding-list queries, scoring an
entity by MAX_SIM: for each query vector, the best similarity over the
entity's elements, summed over the query vectors.

- ``MAX_SIM_IP`` (and ``MAX_SIM``): sum over query vectors of the largest
  inner product; larger is better.
- ``MAX_SIM_COSINE``: the same with cosines (vectors normalised); larger is better.
- ``MAX_SIM_L2``: sum over query vectors of the smallest squared L2
  distance (Milvus's L2 is squared); smaller is better.

A plain metric (``COSINE``, ``IP``, ``L2``) on the same field makes the
search element-level: each element is a vector of its own, the query is an
ordinary vector and an entity scores as its best element -- MAX_SIM of a
one-vector list, so both share the code below.

Sluice answers every segment exactly: one matrix product of the query
vectors against all of the segment's elements, a reduction per entity with
``np.maximum.reduceat`` over the element offsets, then a sum per query.  No
index structure is built, so the declared index is kept and described only;
exact scores are at least as good as an approximate index's.  Rows with no
elements never match.  The elements of a segment are gathered once per
segment snapshot (:meth:`SegmentView.element_vectors`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Final

import numpy as np

from sluice.errors import IndexNotSupported, ParameterInvalid, Unimplemented
from sluice.index import IndexSpec, SearchParams
from sluice.index.spec import (
    AUTOINDEX,
    check_known_index_type,
    merge_client_params,
    parse_index_spec,
)
from sluice.schema import CollectionSchema, DataType, FieldSchema

MAX_SIM: Final = "MAX_SIM"
MAX_SIM_COSINE: Final = "MAX_SIM_COSINE"
MAX_SIM_IP: Final = "MAX_SIM_IP"
MAX_SIM_L2: Final = "MAX_SIM_L2"
#: Embedding-list metrics Milvus 2.6 offers for float vectors.
EMB_LIST_METRICS: Final = (MAX_SIM_COSINE, MAX_SIM_IP, MAX_SIM_L2, MAX_SIM)
#: Index types an embedding list may be declared with.
EMB_LIST_INDEX_TYPES: Final = ("HNSW", AUTOINDEX)
#: Plain metrics: an element-level index and search (each element its own vector).
ELEMENT_METRICS: Final = ("COSINE", "IP", "L2")
#: The plain metric each embedding-list metric builds on.
_BASE: Final = {MAX_SIM_COSINE: "COSINE", MAX_SIM_IP: "IP", MAX_SIM: "IP", MAX_SIM_L2: "L2"}
#: The MAX_SIM metric that scores an element-level search (one query vector per list).
_AS_MAX_SIM: Final = {"COSINE": MAX_SIM_COSINE, "IP": MAX_SIM_IP, "L2": MAX_SIM_L2}


_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_ELEMENT_FILTER = re.compile(r"\belement_filter\s*\(", re.IGNORECASE)


def refuse_struct_filters(expr: str, schema: CollectionSchema) -> None:
    """Refuse, by name, filters on arrays of structs: Sluice evaluates none of them.

    ``element_filter(chunks, $[chapter] == 'x')`` and any mention of a struct
    field or ``struct[sub]`` outside string literals are refused (code 10)
    rather than reported as a syntax error.
    """
    if not schema.struct_fields or not expr:
        return
    bare = _QUOTED.sub("''", expr)
    if _ELEMENT_FILTER.search(bare):
        raise Unimplemented(
            f"{Unimplemented.base_message}: element_filter (element-level filtering of an "
            "array of structs) is not supported by Sluice"
        )
    for fld in schema.struct_fields:
        if re.search(rf"(?<![\w$]){re.escape(fld.name)}\b", bare):
            raise Unimplemented(
                f"{Unimplemented.base_message}: filtering on the array of structs field "
                f"{fld.name} is not supported by Sluice"
            )


def struct_vector(schema: CollectionSchema, name: str) -> FieldSchema | None:
    """``chunks[vec]`` as a vector field named by its path (``None``: not a vector sub-field)."""
    member = schema.struct_member(name)
    if member is None or not member[1].dtype.is_vector:
        return None
    return replace(member[1], name=name)


def parse_emb_list_index(fld: FieldSchema, params: Mapping[str, Any]) -> IndexSpec:
    """CreateIndex on a struct vector sub-field: HNSW/AUTOINDEX with a MAX_SIM metric
    (embedding lists) or a plain one (element-level search)."""
    merged = merge_client_params(params)
    requested = merged.get("index_type", "").strip().upper() or AUTOINDEX
    check_known_index_type(requested)
    if requested not in EMB_LIST_INDEX_TYPES:
        raise IndexNotSupported.wrap(
            f"data type {DataType.FLOAT_VECTOR.milvus_name} in struct field {fld.name} can't "
            f"build with this index {requested}",
            indexType=requested,
        )
    raw_metric = merged.get("metric_type", "").strip()
    metric = raw_metric.upper() or MAX_SIM_COSINE
    if metric in ELEMENT_METRICS:
        return parse_index_spec(fld, requested, metric, merged)
    if metric not in EMB_LIST_METRICS:
        raise ParameterInvalid.msg(
            f"float vector index does not support metric type: {raw_metric}; a struct vector "
            f"field ({fld.name}) takes {', '.join((*EMB_LIST_METRICS[:3], *ELEMENT_METRICS))}"
        )
    base = dict(merged)
    base["metric_type"] = _BASE[metric]
    spec = parse_index_spec(fld, requested, _BASE[metric], base)
    return replace(spec, metric_type=metric)


def is_element_level(metric: str) -> bool:
    """A plain metric on a struct vector field: every element is searched on its own."""
    return metric.upper() in ELEMENT_METRICS


@dataclass(frozen=True)
class EmbeddingLists:
    """A search's embedding-list queries as they arrive: each list's floats, flattened.

    Clients send a list's vectors back to back without their dimension; the
    searched field gives it (:meth:`matrix`).  ``shape`` is ``(lists, 0)`` so
    the search machinery counts queries as it does for plain vectors.
    """

    values: np.ndarray
    #: How many floats each list holds.
    sizes: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.sizes), 0

    def resolve(self, fld: FieldSchema) -> ListQueries:
        """The lists as vectors of the searched field's dimension."""
        dim = int(fld.dim or 0)
        if dim <= 0 or (self.sizes % dim).any() or not self.sizes.all():
            bad = next((int(n) for n in self.sizes if dim <= 0 or n % dim or not n), 0)
            raise ParameterInvalid.msg(
                f"the length ({bad}) of an embedding list query is not a multiple of the dim "
                f"({dim}) of field {fld.name}"
            )
        offsets = np.zeros(len(self.sizes) + 1, dtype=np.int64)
        np.cumsum(self.sizes // dim, out=offsets[1:])
        vectors = np.asarray(self.values, dtype=np.float32).reshape(-1, dim)
        return ListQueries(vectors, offsets)


@dataclass(frozen=True)
class ListQueries:
    """Embedding-list queries of a known dimension: list ``i`` is
    ``vectors[offsets[i]:offsets[i + 1]]``; ``shape`` is ``(lists, dim)``."""

    vectors: np.ndarray
    offsets: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.offsets) - 1, int(self.vectors.shape[1])


class SegmentElements:
    """One segment's elements of a struct vector sub-field, as searches read them.

    ``matrix`` holds every element's vector in row order and row ``i`` owns
    ``matrix[offsets[i]:offsets[i + 1]]``.  The unit vectors (COSINE) and
    squared norms (L2) are derived on first use and kept with the snapshot,
    whose rows never change.
    """

    def __init__(self, matrix: np.ndarray, offsets: np.ndarray) -> None:
        self.matrix = np.asarray(matrix, dtype=np.float32)
        self.offsets = offsets

    @cached_property
    def unit(self) -> np.ndarray:
        return _unit(self.matrix)

    @cached_property
    def squared_norms(self) -> np.ndarray:
        return _squared_norms(self.matrix)


def _squared_norms(matrix: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", matrix, matrix)


def _unit(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


#: Bound on one block's ``query vectors x elements`` product (floats): 64 MB of float32.
_BLOCK_FLOATS: Final = 1 << 24


def max_sim_scores(
    elements: np.ndarray,
    element_offsets: np.ndarray,
    query_vectors: np.ndarray,
    query_offsets: np.ndarray,
    metric: str,
    *,
    prepared: SegmentElements | None = None,
) -> np.ndarray:
    """``(lists, rows)`` MAX_SIM of every query list against every row (NaN: no elements).

    Per block of rows: one product of all query vectors against the block's
    elements, the best element per row for each query vector (``reduceat``
    over the offsets of the non-empty rows), then a sum over each list's
    vectors.  Blocks keep the product under ``_BLOCK_FLOATS`` whatever the
    segment's size.  ``prepared`` brings the elements' unit vectors and squared
    norms, computed once per segment snapshot rather than once per search.
    """
    metric = metric.upper()
    rows = len(element_offsets) - 1
    out = np.full((len(query_offsets) - 1, rows), np.nan, dtype=np.float32)
    if not rows or not len(query_vectors) or not len(elements):
        return out
    q = query_vectors.astype(np.float32, copy=False)
    e = elements.astype(np.float32, copy=False)
    e_norms: np.ndarray | None = None
    if metric == MAX_SIM_COSINE:
        q, e = _unit(q), (prepared.unit if prepared is not None else _unit(e))
    q_norms = np.einsum("ij,ij->i", q, q)[:, None] if metric == MAX_SIM_L2 else None
    if q_norms is not None:
        e_norms = prepared.squared_norms if prepared is not None else _squared_norms(e)
    per_block = max(1, _BLOCK_FLOATS // len(q))
    first = 0
    while first < rows:
        # The rows whose elements fit in one block (at least one row, however long).
        limit = element_offsets[first] + per_block
        last = max(first + 1, int(np.searchsorted(element_offsets, limit, side="right")) - 1)
        last = min(last, rows)
        _score_rows(e, e_norms, element_offsets, first, last, q, q_norms, query_offsets, out)
        first = last
    return out


def _score_rows(
    e: np.ndarray,
    e_norms: np.ndarray | None,
    element_offsets: np.ndarray,
    first: int,
    last: int,
    q: np.ndarray,
    q_norms: np.ndarray | None,
    query_offsets: np.ndarray,
    out: np.ndarray,
) -> None:
    """MAX_SIM of rows ``first:last`` into ``out`` (``q_norms`` given: squared L2)."""
    counts = np.diff(element_offsets[first : last + 1])
    filled = np.flatnonzero(counts > 0)
    if not len(filled):
        return
    low, high = int(element_offsets[first]), int(element_offsets[last])
    block = e[low:high]
    products = q @ block.T  # (query vectors, elements of the block)
    starts = element_offsets[first:last][filled] - low
    if q_norms is not None:
        assert e_norms is not None
        distances = q_norms - 2 * products + e_norms[None, low:high]
        best = np.minimum.reduceat(np.maximum(distances, 0), starts, axis=1)
    else:
        best = np.maximum.reduceat(products, starts, axis=1)
    out[:, first + filled] = np.add.reduceat(best, query_offsets[:-1], axis=0)


def top_rows(
    scores: np.ndarray, k: int, metric: str, allowed: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` rows per query list: ``(scores, rows)``, padded with row ``-1``."""
    larger = metric.upper() != MAX_SIM_L2
    usable = ~np.isnan(scores)
    if allowed is not None:
        usable &= allowed[None, :]
    worst = -np.inf if larger else np.inf
    keyed = np.where(usable, scores, worst)
    order = np.argsort(-keyed if larger else keyed, axis=1, kind="stable")[:, :k]
    picked = np.take_along_axis(keyed, order, axis=1)
    real = np.take_along_axis(usable, order, axis=1)
    rows = np.where(real, order, -1).astype(np.int64)
    return picked.astype(np.float32), rows


def plan_emb_list_search(
    fld: FieldSchema,
    spec: IndexSpec | None,
    metric: str | None,
    search_params: Mapping[str, Any],
    k: int,
) -> SearchParams:
    """Search parameters of a struct vector search (only the metric matters: it is exact).

    A MAX_SIM metric searches embedding lists; a plain one is element-level.
    """
    merged = merge_client_params(search_params)
    requested = (metric or merged.get("metric_type") or "").strip().upper()
    declared = spec.metric_type if spec is not None else MAX_SIM_COSINE
    chosen = requested or declared
    if chosen not in EMB_LIST_METRICS and chosen not in ELEMENT_METRICS:
        raise ParameterInvalid.msg(
            f"metric type {chosen} is not supported on the struct vector field {fld.name}"
        )
    if "radius" in merged or "range_filter" in merged:
        raise Unimplemented(
            f"{Unimplemented.base_message}: range search on the struct vector field {fld.name} "
            "is not supported by Sluice"
        )
    return SearchParams(chosen, k)


def element_queries(vectors: np.ndarray) -> ListQueries:
    """Plain query vectors as one-vector lists: MAX_SIM of one vector is its best element."""
    return ListQueries(vectors, np.arange(len(vectors) + 1, dtype=np.int64))


def segment_top_lists(
    elements: SegmentElements,
    queries: ListQueries,
    k: int,
    metric: str,
    allowed: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """One segment's best ``k`` rows per embedding list, exactly: ``(scores, rows)``."""
    scoring = _AS_MAX_SIM.get(metric.upper(), metric)
    scores = max_sim_scores(
        elements.matrix,
        elements.offsets,
        queries.vectors,
        queries.offsets,
        scoring,
        prepared=elements,
    )
    return top_rows(scores, k, scoring, allowed)
