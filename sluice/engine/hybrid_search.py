"""Hybrid search: several vector searches over one collection, fused into one ranking.

Each sub-search (Milvus's ``AnnSearchRequest``) names its own vector field,
filter, search parameters and limit; the hybrid request adds the final
``limit``/``offset``/``round_decimal``, output fields, partitions, an
optional group-by and the ranker (a ``function_score``, or the legacy
``rank_params`` strategy; RRF when neither is given).  As in Milvus 2.6:

* every sub-search has the same number of queries, at most 1024 sub-searches;
* a sub-search's own offset and rounding are ignored (the fused list has them);
* the partitions, consistency and group-by of the hybrid request apply to
  every sub-search, and all of them read one snapshot, at one timestamp;
* a fused hit takes its output fields from the first sub-search that found
  it (no second read by primary key is needed: one snapshot serves all).

Sub-search plans are kept like single searches' (see
:func:`sluice.engine.prepared_search.cached_plan`), under the caller's key
for the hybrid request's shape and the sub-search's position.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from sluice.engine.collection import Collection
from sluice.engine.data import check_result_window, read_timestamp
from sluice.engine.functions import QueryTexts
from sluice.engine.fused_hits import Grouping, SearchOutcome, rerank
from sluice.engine.output import resolve_output
from sluice.engine.partitions import read_partitions
from sluice.engine.prepared_search import (
    PreparedSearch,
    SearchRequest,
    SearchResult,
    cached_plan,
    prepare_search,
    run_search,
)
from sluice.engine.rerank import FunctionScore, RerankPlan, plan_function_score, plan_rank_params
from sluice.errors import ParameterInvalid, RequestError
from sluice.rank import SCORERS, WeightedRanker, Window

#: One sub-search's queries: vectors, or texts for a field a function computes.
Queries = np.ndarray | QueryTexts
#: Milvus's ``defaultMaxSearchRequest``.
MAX_SEARCH_REQUESTS = 1024


@dataclass(frozen=True)
class HybridSearchRequest:
    """Everything about a hybrid search except the sub-searches' query vectors."""

    searches: tuple[SearchRequest, ...]
    limit: int
    offset: int = 0
    round_decimal: int = -1
    output_fields: tuple[str, ...] = ()
    group_by_field: str | None = None
    group_size: int = 1
    strict_group_size: bool = False
    #: How a group's score derives from its hits: ``max``, ``sum`` or ``avg``.
    group_scorer: str = "max"
    partition_names: tuple[str, ...] = ()
    function_score: FunctionScore | None = None
    #: Legacy ``rank_params``: ``strategy`` (``None``: not given) and its JSON ``params``.
    rank_strategy: str | None = None
    rank_params: str = ""
    #: Identifies the request's shape, so sub-search plans are kept (``None``: plan per call).
    plan_key: Hashable | None = field(default=None, compare=False)


def hybrid_search(
    collection: Collection,
    req: HybridSearchRequest,
    vectors: Sequence[Queries],
) -> SearchResult:
    """Run every sub-search at one timestamp and fuse their hits.

    ``vectors[i]`` are the queries of ``req.searches[i]``.
    """
    read_partitions(collection, req.partition_names, "search")
    _check_shape(req, vectors)
    check_result_window(req.limit, req.offset)
    if req.round_decimal != -1 and not 0 <= req.round_decimal <= 6:
        raise RequestError(
            f"round_decimal [{req.round_decimal}] is invalid, should be -1 or an integer in "
            "range [0, 6]"
        )
    plan = _rerank_plan(collection, req)
    wanted = (*req.output_fields, *plan.columns)
    subs = [_sub_request(req, sub, wanted) for sub in req.searches]
    if req.plan_key is None:
        prepared = [prepare_search(collection, sub) for sub in subs]
    else:
        prepared = [
            cached_plan(collection, (req.plan_key, i), functools.partial(_same, sub))
            for i, sub in enumerate(subs)
        ]
    output = resolve_output(collection.schema, req.output_fields, with_primary=False)
    ts = read_timestamp(collection, None)
    outcomes = [
        SearchOutcome(run_search(p, v, ts).hits, p.plan.params.metric_type)
        for p, v in zip(prepared, vectors, strict=True)
    ]
    grouping = _grouping(req, prepared)
    hits = rerank(
        outcomes, plan, Window(req.limit, req.offset, req.round_decimal), output, grouping
    )
    shown = SearchRequest(
        anns_field=None,
        limit=req.limit,
        metric=None,
        output_fields=req.output_fields,
        offset=req.offset,
        round_decimal=req.round_decimal,
        group_by_field=req.group_by_field,
        group_size=req.group_size,
        strict_group_size=req.strict_group_size,
        partition_names=req.partition_names,
    )
    return SearchResult(shown, hits, output, ts, collection.schema)


def _check_shape(req: HybridSearchRequest, vectors: Sequence[Queries]) -> None:
    if not req.searches:
        raise RequestError("minimum of ann search requests is 1")
    if len(req.searches) > MAX_SEARCH_REQUESTS:
        raise ParameterInvalid.msg(f"maximum of ann search requests is {MAX_SEARCH_REQUESTS}")
    if len(vectors) != len(req.searches):
        raise RequestError("every ann search request needs its own query vectors")
    nq = _rows(vectors[0])
    for sub in vectors[1:]:
        if _rows(sub) != nq:
            raise ParameterInvalid.expected(
                nq, _rows(sub), "sub search request nq should be the same"
            )


def _rerank_plan(collection: Collection, req: HybridSearchRequest) -> RerankPlan:
    if req.function_score is not None:
        plan = plan_function_score(collection.schema, req.function_score)
    else:
        plan = plan_rank_params(req.rank_strategy, req.rank_params)
    if plan.ranker is None:
        # Boosts alone rescore one search; several searches still need a fusion.
        plan = replace(plan, ranker=plan_rank_params(None, "").ranker)
    ranker = plan.ranker
    if isinstance(ranker, WeightedRanker) and len(ranker.weights) != len(req.searches):
        raise ParameterInvalid.expected(
            len(req.searches),
            len(ranker.weights),
            "the length of weights param mismatch with ann search requests",
        )
    if req.group_by_field and req.group_scorer not in SCORERS:
        raise ParameterInvalid.msg(f"input group scorer type: {req.group_scorer} is not supported!")
    return plan


def _sub_request(
    req: HybridSearchRequest, sub: SearchRequest, output_fields: Sequence[str]
) -> SearchRequest:
    """A sub-search as it runs: the hybrid request's window, partitions and group-by."""
    return replace(
        sub,
        output_fields=tuple(output_fields),
        offset=0,
        round_decimal=-1,
        partition_names=req.partition_names,
        group_by_field=req.group_by_field,
        group_size=req.group_size,
        strict_group_size=req.strict_group_size,
        function_score=None,
        iterator=False,
        iterator_last_bound=None,
    )


def _same(sub: SearchRequest) -> SearchRequest:
    return sub


def _grouping(req: HybridSearchRequest, prepared: Sequence[PreparedSearch]) -> Grouping | None:
    group = prepared[0].plan.group_by
    if group is None:
        return None
    return Grouping(group.field, group.size, group.strict, req.group_scorer)


def _rows(queries: Queries) -> int:
    """How many queries a request holds (sparse matrices have no ``len``)."""
    if isinstance(queries, QueryTexts):
        return len(queries)
    return int(queries.shape[0])
