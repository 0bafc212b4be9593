"""Grouped reranking: hits fused into one score each, then regrouped by a field's value.

Milvus's ``newGroupingIDScores``: hits are ordered by fused score (descending,
ties by the smaller primary key); each group value collects its first
``group_size`` hits; a group scores the ``max`` (Milvus starts the maximum
at 0), ``sum`` or ``avg`` of its members' scores in float32; groups are
ordered by that score (ties: the larger group, then the smaller first key);
``offset``/``limit`` count groups, and with ``strict`` a group short of
``group_size`` members is left out of the page.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sluice.errors import ParameterInvalid
from sluice.rank.fusion import Ids, Window

SCORERS = ("max", "sum", "avg")


@dataclass(frozen=True)
class GroupedRanking:
    """The kept hits, group by group, best group first."""

    ids: Ids
    scores: npt.NDArray[np.float32]
    #: Position of each kept hit in the input arrays.
    positions: npt.NDArray[np.int64]


def select_groups(
    ids: Ids,
    scores: npt.NDArray[np.float32],
    groups: Sequence[Hashable],
    window: Window,
    group_size: int,
    *,
    strict: bool = False,
    scorer: str = "max",
) -> GroupedRanking:
    """Regroup fused hits (``groups[i]`` is hit ``i``'s group value)."""
    if scorer not in SCORERS:
        raise ParameterInvalid.msg(f"input group scorer type: {scorer} is not supported!")
    # By score (descending), ties by the smaller key.
    if ids.dtype == object:
        order = np.asarray(
            sorted(range(len(ids)), key=lambda i: (-float(scores[i]), ids[i])), dtype=np.int64
        )
    else:
        order = np.lexsort((ids, -scores.astype(np.float64)))
    members: dict[Hashable, list[int]] = {}
    for i in order.tolist():
        bucket = members.setdefault(groups[i], [])
        if len(bucket) < group_size:
            bucket.append(i)
    ranked = []
    for bucket in members.values():
        values = scores[bucket].astype(np.float32)
        if scorer == "max":
            final = max(np.float32(0), values.max())
        else:
            total = np.float32(0)
            for v in values:
                total = np.float32(total + v)
            final = total if scorer == "sum" else np.float32(total / np.float32(len(bucket)))
        ranked.append((float(final), len(bucket), ids[bucket[0]], bucket))
    ranked.sort(key=lambda g: (-g[0], -g[1], g[2]))
    page = ranked[window.offset : window.offset + window.limit]
    kept = [i for _, size, _, bucket in page if not (strict and size < group_size) for i in bucket]
    positions = np.asarray(kept, dtype=np.int64)
    out = scores[positions].astype(np.float32)
    if window.round_decimal != -1:
        mult = 10.0**window.round_decimal
        out = (np.floor(out.astype(np.float64) * mult + 0.5) / mult).astype(np.float32)
    return GroupedRanking(ids[positions], out, positions)
