"""Rerank functions of a search: ``function_score`` and hybrid search's ``rank_params``, planned.

A search's ``function_score`` holds RERANK functions: at most one ranker
that combines or rescores hits (``rrf``, ``weighted``, ``decay``) and any
number of ``boost`` functions, which Milvus applies to each search's own
hits before the ranker runs.  ``model`` rerankers call an external
inference service and are refused by name, as is any other function type.
Hybrid search without ``function_score`` uses its legacy ``rank_params``
(``strategy`` + JSON ``params``; RRF with k=60 when no strategy is given).

Planning checks everything that depends only on the request and the schema,
once, and yields a :class:`RerankPlan`: the ranker, the boosts with their
filters compiled, and the columns the hits must carry for them.  Applying a
plan to hits is :mod:`sluice.engine.fused_hits`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sluice.engine.text_fields import field_analyzer
from sluice.errors import ExpressionError, ParameterInvalid
from sluice.query import BoundExpr, compile_filter
from sluice.rank import (
    BoostRanker,
    DecayRanker,
    Ranker,
    RerankParamsError,
    RRFRanker,
    WeightedRanker,
    ranker_from_function,
    ranker_from_rank_params,
)
from sluice.rank.params import BUILDER
from sluice.schema import CollectionSchema, FunctionSchema, FunctionType
from sluice.text import Analyzer

_MODES = ("multiply", "sum")


@dataclass(frozen=True)
class FunctionScore:
    """``schema.FunctionScore``: rerank functions and how boosts combine."""

    functions: tuple[FunctionSchema, ...]
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BoostPlan:
    ranker: BoostRanker
    #: Which hits the boost applies to (``None``: all of them).
    flt: BoundExpr | None
    #: Analyzers of the fields the filter's ``text_match``/``phrase_match`` read.
    analyzers: Mapping[str, Analyzer] = field(default_factory=dict)


@dataclass(frozen=True)
class RerankPlan:
    """What to do with a search's hits after the vector search."""

    #: RRF, weighted or decay (``None``: the hits keep their order, boosted if any).
    ranker: RRFRanker | WeightedRanker | DecayRanker | None
    #: The decay ranker's input field.
    decay_field: str | None = None
    boosts: tuple[BoostPlan, ...] = ()
    boost_mode: str = "multiply"
    function_mode: str = "multiply"

    @property
    def columns(self) -> tuple[str, ...]:
        """Stored fields the hits must carry (besides the client's output fields)."""
        names: list[str] = []
        if self.decay_field:
            names.append(self.decay_field)
        for boost in self.boosts:
            if boost.flt is not None:
                names.extend(sorted(boost.flt.fields))
            if boost.ranker.random_field:
                names.append(boost.ranker.random_field)
        return tuple(dict.fromkeys(names))


def plan_function_score(schema: CollectionSchema, score: FunctionScore) -> RerankPlan:
    """Check a ``function_score`` against ``schema`` the way Milvus's proxy does."""
    ranker: RRFRanker | WeightedRanker | DecayRanker | None = None
    decay_field: str | None = None
    boosts: list[BoostPlan] = []
    types = {f.name: f.dtype for f in schema.fields if not f.is_dynamic}
    for function in score.functions:
        if function.type != FunctionType.RERANK:
            raise RerankParamsError(f"{function.type.milvus_name} is not rerank function.")
        if function.output_field_names:
            raise RerankParamsError(
                "Rerank function should not have output field, but now is "
                f"{len(function.output_field_names)}"
            )
        _check_input_fields(schema, function)
        built: Ranker = ranker_from_function(function.params, function.input_field_names, types)
        if isinstance(built, BoostRanker):
            flt = _boost_filter(schema, function.params)
            analyzers = {}
            for name in flt.text_match_fields if flt is not None else ():
                found = schema.get(name)
                assert found is not None
                analyzers[name] = field_analyzer(found)
            boosts.append(BoostPlan(built, flt, analyzers))
            continue
        if ranker is not None:
            raise RerankParamsError("Currently only supports one rerank")
        ranker = built
        if isinstance(built, DecayRanker):
            decay_field = function.input_field_names[0]
    lowered = {k.lower(): v for k, v in score.params.items()}
    return RerankPlan(
        ranker,
        decay_field,
        tuple(boosts),
        _mode(lowered, "boost_mode"),
        _mode(lowered, "function_mode"),
    )


def plan_rank_params(strategy: str | None, params: str) -> RerankPlan:
    """Hybrid search's legacy ``rank_params`` (RRF with its default k without a strategy)."""
    if strategy is None:
        return RerankPlan(RRFRanker())
    built = ranker_from_rank_params(strategy, params)
    assert isinstance(built, RRFRanker | WeightedRanker)
    return RerankPlan(built)


def _check_input_fields(schema: CollectionSchema, function: FunctionSchema) -> None:
    names: Sequence[str] = function.input_field_names
    for name in names:
        if not name:
            raise ParameterInvalid.msg("rerank input field name cannot be empty string")
        if names.count(name) > 1:
            raise ParameterInvalid.msg(
                "each function input field should be used exactly once in the same function, "
                f"input field: {name}"
            )
        found = schema.get(name)
        if found is None or found.is_dynamic:
            raise RerankParamsError(f"{BUILDER}input field {name} not found in collection schema")


def _boost_filter(schema: CollectionSchema, params: Mapping[str, str]) -> BoundExpr | None:
    text = next((v for k, v in params.items() if k.lower() == "filter"), "")
    try:
        return compile_filter(text, schema)
    except ExpressionError as exc:
        raise ParameterInvalid.msg(f"failed to create boost filter: {exc.message}") from None


def _mode(params: Mapping[str, str], key: str) -> str:
    value = params.get(key, "multiply").lower()
    if value not in _MODES:
        raise RerankParamsError(
            f"{key}: {params[key]} is not supported, only support [multiply, sum]"
        )
    return value
