"""Key ranges of a filter: which clustered segments a read may skip.

Each case is checked two ways: the ranges themselves, and against brute
force, a segment ``[lo, hi]`` is kept whenever any value in it passes the
filter (skipping must never lose a row).
"""

from __future__ import annotations

import pytest

from sluice.query import compile_filter
from sluice.query.key_ranges import KeyRange, field_ranges, meets_any
from sluice.schema import CollectionSchema, DataType, FieldSchema

SCHEMA = CollectionSchema(
    "c",
    (
        FieldSchema("id", DataType.INT64, is_primary=True),
        FieldSchema("v", DataType.FLOAT_VECTOR, dim=2),
        FieldSchema("k", DataType.INT64, is_clustering_key=True),
        FieldSchema("s", DataType.VARCHAR, max_length=16),
        FieldSchema("x", DataType.DOUBLE),
    ),
)


def _ranges(text: str, field: str = "k") -> list[KeyRange] | None:
    return field_ranges(compile_filter(text, SCHEMA), field)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("k == 5", [KeyRange(5, 5)]),
        ("k in [3, 1]", [KeyRange(3, 3), KeyRange(1, 1)]),
        ("k > 10", [KeyRange(lo=10, lo_open=True)]),
        ("k <= 10", [KeyRange(hi=10)]),
        ("k >= 10 and k < 20", [KeyRange(10, 20, hi_open=True)]),
        ("10 < k < 20", [KeyRange(10, 20, lo_open=True, hi_open=True)]),
        ("k < 5 or k > 90", [KeyRange(hi=5, hi_open=True), KeyRange(lo=90, lo_open=True)]),
        ("k in [1, 5, 9] and k > 4", [KeyRange(5, 5), KeyRange(9, 9)]),
        ("x > 1 and k == 7", [KeyRange(7, 7)]),
        ("k > 10 and k < 5", []),
        ("k == 5 and k == 6", []),
    ],
)
def test_confining_filters_give_their_ranges(text: str, expected: list[KeyRange]) -> None:
    assert _ranges(text) == expected


@pytest.mark.parametrize(
    "text",
    ["k != 5", "not (k == 5)", "k + 1 == 5", "k == 5 or x > 1", "x > 1", "s like 'a%'", ""],
)
def test_filters_that_do_not_confine_the_key_prune_nothing(text: str) -> None:
    assert _ranges(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "k == 5",
        "k in [0, 12, 30]",
        "k > 10",
        "k >= 10",
        "k < 10 and k >= 3",
        "k > 25 or k <= 2",
        "(k > 5 and k < 8) or k == 20",
        "k > 10 and k < 5",
    ],
)
def test_a_skipped_segment_never_holds_a_matching_value(text: str) -> None:
    """Segments [lo, hi] over 0..31: kept exactly when some value in them matches."""
    ranges = _ranges(text)
    assert ranges is not None
    matches = {k for k in range(32) if eval(text, {}, {"k": k})}
    for lo in range(32):
        for hi in range(lo, 32):
            holds_match = any(lo <= k <= hi for k in matches)
            assert meets_any(ranges, lo, hi) == holds_match, (text, lo, hi)


def test_string_keys_compare_as_text_and_null_segments_are_skipped() -> None:
    schema = CollectionSchema(
        "c",
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("v", DataType.FLOAT_VECTOR, dim=2),
            FieldSchema("tag", DataType.VARCHAR, max_length=8, is_clustering_key=True),
        ),
    )
    ranges = field_ranges(compile_filter('tag >= "b" and tag < "d"', schema), "tag")
    assert ranges == [KeyRange("b", "d", hi_open=True)]
    assert meets_any(ranges, "a", "b") and meets_any(ranges, "c", "z")
    assert not meets_any(ranges, "d", "z") and not meets_any(ranges, "aa", "az")
    assert not meets_any(ranges, None, None)  # a segment of null keys only
