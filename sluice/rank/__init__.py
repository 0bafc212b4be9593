"""Rerankers: fusion of several searches (RRF, weighted) and rescoring (decay, boost).

Lives beside the text package rather than in it: ranking works on any
search's hits (dense, sparse, BM25) and needs nothing from analyzers.
Imports only ``sluice.errors``, ``sluice.schema`` and third-party libraries.
"""

from sluice.rank.function_score import (
    BoostApplication,
    BoostRanker,
    DecayRanker,
    apply_boosts,
    to_greater,
)
from sluice.rank.fusion import Hits, Ranked, RRFRanker, WeightedRanker, Window, normalize
from sluice.rank.grouping import SCORERS, GroupedRanking, select_groups
from sluice.rank.params import (
    Ranker,
    RerankParamsError,
    ranker_from_function,
    ranker_from_rank_params,
)

__all__ = [
    "SCORERS",
    "BoostApplication",
    "BoostRanker",
    "DecayRanker",
    "GroupedRanking",
    "Hits",
    "RRFRanker",
    "Ranked",
    "Ranker",
    "RerankParamsError",
    "WeightedRanker",
    "Window",
    "apply_boosts",
    "normalize",
    "ranker_from_function",
    "ranker_from_rank_params",
    "select_groups",
    "to_greater",
]
