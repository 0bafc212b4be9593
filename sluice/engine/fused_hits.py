"""Applying a rerank plan to the hits of one or more searches.

Each search arrives as a :class:`SearchOutcome`: its hits for every query
(best first, as the vector search ordered them) and, aligned with them, a
table holding the client's output fields plus the columns the plan reads
(decay input, boost filter fields).  Per query, in Milvus's order:

1. boosts rescore each search's own hits (a boost filter is evaluated on
   the hits' rows, once per search for all queries);
2. the ranker fuses the searches (RRF, weighted) or rescores them (decay),
   keeping ``offset``/``limit`` and rounding; with a group-by field the
   fused hits are regrouped (:func:`sluice.rank.select_groups`);
3. each kept hit takes its row from the first search that found it.

Without a ranker (a search with boosts only), the boosted hits are the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from sluice.engine.output import OutputSpec, project_dynamic
from sluice.engine.rerank import RerankPlan
from sluice.engine.search import SearchHits
from sluice.engine.text_match import TableTextLookup
from sluice.query import evaluate
from sluice.rank import (
    BoostApplication,
    DecayRanker,
    Hits,
    Ranked,
    Window,
    apply_boosts,
    select_groups,
)
from sluice.schema import DYNAMIC_FIELD


@dataclass(frozen=True)
class SearchOutcome:
    """One search's hits for every query; ``hits.fields`` also holds the plan's columns."""

    hits: SearchHits
    metric: str


@dataclass(frozen=True)
class Grouping:
    field: str
    size: int = 1
    strict: bool = False
    scorer: str = "max"


def rerank(
    outcomes: Sequence[SearchOutcome],
    plan: RerankPlan,
    window: Window,
    output: OutputSpec,
    grouping: Grouping | None = None,
) -> SearchHits:
    """The reranked hits of every query, with the client's output columns only."""
    nq = len(outcomes[0].hits.topks)
    starts = [np.concatenate(([0], np.cumsum(o.hits.topks))).astype(np.int64) for o in outcomes]
    bases = np.concatenate(([0], np.cumsum([len(o.hits.pks) for o in outcomes]))).astype(np.int64)
    boost_masks = [_boost_masks(plan, o) for o in outcomes]
    random_values = [_random_values(plan, o) for o in outcomes]
    decay_values = [_decay_values(plan, o) for o in outcomes]
    groups = _group_values(outcomes) if grouping is not None else None
    topks: list[int] = []
    rows: list[np.ndarray] = []
    ids: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    for q in range(nq):
        per_search: list[tuple[Hits, np.ndarray]] = []
        values: list[np.ndarray] = []
        for s, outcome in enumerate(outcomes):
            lo, hi = int(starts[s][q]), int(starts[s][q + 1])
            hits = Hits(
                outcome.hits.pks[lo:hi],
                outcome.hits.scores[lo:hi].astype(np.float32),
                outcome.metric,
            )
            hit_rows = bases[s] + np.arange(lo, hi, dtype=np.int64)
            if plan.boosts:
                hits, hit_rows = _boosted(
                    plan, hits, hit_rows, boost_masks[s], random_values[s], lo
                )
            per_search.append((hits, hit_rows))
            decay = decay_values[s]
            values.append(decay[hit_rows - bases[s]] if decay is not None else np.zeros(0))
        kept_ids, kept_scores, kept_rows = _rank(plan, per_search, values, window, grouping, groups)
        topks.append(len(kept_ids))
        ids.append(kept_ids)
        scores.append(kept_scores)
        rows.append(kept_rows)
    return _assemble(outcomes, topks, ids, scores, rows, output, groups)


def _rank(
    plan: RerankPlan,
    per_search: Sequence[tuple[Hits, np.ndarray]],
    values: Sequence[np.ndarray],
    window: Window,
    grouping: Grouping | None,
    groups: pa.Array | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    searches = [h for h, _ in per_search]
    all_rows = [r for _, r in per_search]
    wide = Window(sum(len(h.ids) for h in searches), 0, -1) if grouping is not None else window
    ranker = plan.ranker
    if ranker is None:
        hits, hit_rows = per_search[0]
        if grouping is None:
            stop = window.offset + window.limit
            out = _round(hits.scores[window.offset : stop], window.round_decimal)
            return hits.ids[window.offset : stop], out, hit_rows[window.offset : stop]
        ranked = Ranked(hits.ids, hits.scores)
    elif isinstance(ranker, DecayRanker):
        ranked = ranker.rerank(searches, values, wide)
    else:
        ranked = ranker.fuse(searches, wide)
    rows = _first_rows(searches, all_rows, ranked.ids)
    if grouping is None or groups is None:
        return ranked.ids, ranked.scores, rows
    group_of = groups.take(pa.array(rows)).to_pylist() if len(rows) else []
    chosen = select_groups(
        ranked.ids,
        ranked.scores,
        group_of,
        window,
        grouping.size,
        strict=grouping.strict,
        scorer=grouping.scorer,
    )
    return chosen.ids, chosen.scores, rows[chosen.positions]


def _boosted(
    plan: RerankPlan,
    hits: Hits,
    hit_rows: np.ndarray,
    masks: Sequence[np.ndarray | None],
    random_values: Sequence[np.ndarray | None],
    lo: int,
) -> tuple[Hits, np.ndarray]:
    n = len(hits.ids)
    applications = [
        BoostApplication(
            boost.ranker,
            np.ones(n, dtype=np.bool_) if mask is None else mask[lo : lo + n],
            None if values is None else values[lo : lo + n],
        )
        for boost, mask, values in zip(plan.boosts, masks, random_values, strict=True)
    ]
    ranked = apply_boosts(hits, applications, Window(n), plan.boost_mode, plan.function_mode)
    positions = _positions(hits.ids, ranked.ids)
    return Hits(ranked.ids, ranked.scores, hits.metric), hit_rows[positions]


def _positions(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Where each of ``wanted`` sits in ``ids`` (every one is present; ``ids`` are unique)."""
    if len(wanted) == 0:
        return np.zeros(0, dtype=np.int64)
    sorter = np.argsort(ids, kind="stable")
    return sorter[np.searchsorted(ids[sorter], wanted)]


def _first_rows(
    searches: Sequence[Hits], rows: Sequence[np.ndarray], wanted: np.ndarray
) -> np.ndarray:
    """The row of each wanted id in the first search that found it (Milvus's ``idLocations``)."""
    if len(wanted) == 0:
        return np.zeros(0, dtype=np.int64)
    nonempty = [(h.ids, r) for h, r in zip(searches, rows, strict=True) if len(h.ids)]
    all_ids = np.concatenate([i for i, _ in nonempty])
    all_rows = np.concatenate([r for _, r in nonempty])
    unique, first = np.unique(all_ids, return_index=True)
    return all_rows[first[np.searchsorted(unique, wanted)]]


def _round(scores: np.ndarray, decimals: int) -> np.ndarray:
    out = scores.astype(np.float32)
    if decimals == -1:
        return out
    mult = 10.0**decimals
    return (np.floor(out.astype(np.float64) * mult + 0.5) / mult).astype(np.float32)


def _boost_masks(plan: RerankPlan, outcome: SearchOutcome) -> list[np.ndarray | None]:
    table = outcome.hits.fields
    masks: list[np.ndarray | None] = []
    for boost in plan.boosts:
        if boost.flt is None or table.num_rows == 0:
            masks.append(None)
        else:
            lookup = TableTextLookup(dict(boost.analyzers), table) if boost.analyzers else None
            masks.append(np.asarray(evaluate(boost.flt, table, index=lookup), dtype=np.bool_))
    return masks


def _random_values(plan: RerankPlan, outcome: SearchOutcome) -> list[np.ndarray | None]:
    table = outcome.hits.fields
    out: list[np.ndarray | None] = []
    for boost in plan.boosts:
        name = boost.ranker.random_field
        if boost.ranker.random_seed is None or not name or name not in table.column_names:
            out.append(None)
        else:
            out.append(np.asarray(table.column(name).to_pylist(), dtype=object))
    return out


def _decay_values(plan: RerankPlan, outcome: SearchOutcome) -> np.ndarray | None:
    """The decay input of every hit as float64; a null becomes NaN (its hit scores 0)."""
    if plan.decay_field is None:
        return None
    column = outcome.hits.fields.column(plan.decay_field)
    values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype=np.float64)


def _group_values(outcomes: Sequence[SearchOutcome]) -> pa.Array | None:
    parts = [o.hits.group_values for o in outcomes]
    if any(p is None for p in parts):
        return None
    return pa.concat_arrays([p for p in parts if p is not None])


def _assemble(
    outcomes: Sequence[SearchOutcome],
    topks: list[int],
    ids: list[np.ndarray],
    scores: list[np.ndarray],
    rows: list[np.ndarray],
    output: OutputSpec,
    groups: pa.Array | None,
) -> SearchHits:
    flat_rows = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, np.int64)
    pk_dtype = outcomes[0].hits.pks.dtype
    flat_ids = np.concatenate(ids).astype(pk_dtype) if ids else outcomes[0].hits.pks[:0]
    flat_scores = np.concatenate(scores).astype(np.float32) if scores else np.zeros(0, np.float32)
    tables = [o.hits.fields for o in outcomes]
    fields = _narrow(pa.concat_tables(tables).take(pa.array(flat_rows)), output)
    group_values = groups.take(pa.array(flat_rows)) if groups is not None else None
    return SearchHits(topks, flat_ids, flat_scores, fields, group_values)


def _narrow(table: pa.Table, output: OutputSpec) -> pa.Table:
    """Only the client's columns; ``$meta`` cut down to the keys the client asked for."""
    if not output.columns:
        return pa.table({})
    table = table.select(list(output.columns))
    if output.dynamic_keys:
        idx = table.column_names.index(DYNAMIC_FIELD)
        projected = project_dynamic(table.column(DYNAMIC_FIELD), output.dynamic_keys)
        table = table.set_column(idx, DYNAMIC_FIELD, projected)
    return table
