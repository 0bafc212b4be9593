"""Whole filters answered as rows by one lookup: the same rows as the evaluator's mask."""

from __future__ import annotations

import numpy as np
import pytest

from sluice.index.scalar import SegmentIndexes
from sluice.query import compile_filter, evaluate, indexed_rows
from tests.query.test_index_hook import EXPRESSIONS, INDEX_SETS, ROWS, SCHEMA, TABLE, _column

#: Filters of one leaf (or one range) on an indexed field: the rows path must take them.
SINGLE_LEAVES = [
    "n == 7",
    "n != 7",
    "n >= -5 and n < 5",
    "n in [1, 2, 3, 99]",
    "s like 'ap%'",
    "info['a'] == 2",
    "json_contains_any(info['a'], ['x', 'z'])",
    "k in [1, 2]",
]


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_rows_equal_the_mask_or_decline(text: str) -> None:
    bound = compile_filter(text, SCHEMA)
    assert bound is not None
    expected = np.flatnonzero(evaluate(bound, TABLE))
    for name, indexes in INDEX_SETS.items():
        rows = indexed_rows(bound, TABLE, SegmentIndexes(ROWS, indexes, _column))
        if rows is not None:
            assert np.array_equal(rows, expected), f"{text!r} differs with {name} indexes"


@pytest.mark.parametrize("text", SINGLE_LEAVES)
def test_single_leaves_take_the_rows_path(text: str) -> None:
    bound = compile_filter(text, SCHEMA)
    assert bound is not None
    answered = [
        indexed_rows(bound, TABLE, SegmentIndexes(ROWS, indexes, _column))
        for indexes in INDEX_SETS.values()
    ]
    assert any(rows is not None for rows in answered), f"no index set answered {text!r}"


def test_combinations_are_left_to_the_mask() -> None:
    bound = compile_filter("n == 7 or s == 'apple'", SCHEMA)
    assert bound is not None
    lookup = SegmentIndexes(ROWS, INDEX_SETS["INVERTED"], _column)
    assert indexed_rows(bound, TABLE, lookup) is None
