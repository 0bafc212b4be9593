"""Evaluation edge cases: nulls, integer widths, float32, C arithmetic, JSON typing, batches."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pytest

from sluice.errors import ExpressionError
from sluice.query import compile_filter, evaluate
from sluice.schema import (
    CollectionSchema,
    DataType,
    FieldSchema,
    dynamic_meta_field,
    with_field_ids,
)

SCHEMA = CollectionSchema(
    "e",
    with_field_ids(
        [
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("i8", DataType.INT8, nullable=True),
            FieldSchema("big", DataType.INT64),
            FieldSchema("x", DataType.INT32, nullable=True),
            FieldSchema("f", DataType.FLOAT),
            FieldSchema("s", DataType.VARCHAR, max_length=16, nullable=True),
            FieldSchema("info", DataType.JSON, nullable=True),
            dynamic_meta_field(),
        ]
    ),
    enable_dynamic_field=True,
)


def meta(*docs: Any) -> pa.Array:
    return pa.array([None if d is None else orjson.dumps(d) for d in docs], type=pa.binary())


BATCH = pa.table(
    {
        "id": pa.array([0, 1, 2, 3, 4], pa.int64()),
        "i8": pa.array([-128, 127, None, 0, 5], pa.int8()),
        "big": pa.array([2**53 + 1, 2**63 - 1, -(2**63), -7, 7], pa.int64()),
        "x": pa.array([3, None, 0, -7, 2], pa.int32()),
        "f": pa.array([0.1, 0.2, float("nan"), -1.5, 16777217.0], pa.float32()),
        "s": pa.array(["a%c", "abc", None, "a_c", "ü"], pa.string()),
        "info": meta({"a": 1}, None, {"a": "1"}, {"a": [1, 2]}, {"b": 1}),
        "$meta": meta(
            {"k": 1, "t": [1, "x", [2, 3]]},
            {"k": 1.0, "t": [True]},
            {"k": True, "t": []},
            {"k": "1", "big": 18446744073709551615},
            {"k": None, "t": [1.5], "big": 2**63 - 1},
        ),
        "$ts": pa.array([1, 2, 3, 4, 5], pa.uint64()),
        "extra": pa.array(["ignored"] * 5),
    }
)


def rows(text: str, batch: pa.Table | pa.RecordBatch = BATCH) -> list[int]:
    bound = compile_filter(text, SCHEMA)
    assert bound is not None
    mask = evaluate(bound, batch)
    assert mask.dtype == np.bool_ and len(mask) == batch.num_rows
    return np.flatnonzero(mask).tolist()


# --- nulls ---------------------------------------------------------------------------------


def test_comparisons_with_null_are_false_and_stay_false_under_not() -> None:
    assert rows("i8 >= -128") == [0, 1, 3, 4]
    assert rows("not (i8 >= 0)") == [0]
    assert rows("not (i8 > 1000)") == [0, 1, 3, 4]
    assert rows("i8 is null") == [2]
    assert rows("i8 is not null") == [0, 1, 3, 4]


def test_null_validity_through_and_or() -> None:
    # Row 2: i8 is null (invalid, false); id == 2 is true, so the `or` is valid and true.
    assert rows("i8 > 0 or id == 2") == [1, 2, 4]
    # Row 1: x is null but id == 1 is a valid false: `and` is false and valid, so `not` is true.
    assert rows("not (x > 0 and id == 0)") == [1, 2, 3, 4]


def test_is_null_results_are_always_valid() -> None:
    assert rows("not (i8 is not null)") == [2]
    assert rows("not (i8 is null)") == [0, 1, 3, 4]


def test_column_comparison_with_nulls() -> None:
    assert rows("i8 < x") == [0]
    assert rows("not (i8 < x)") == [3, 4]


# --- numbers -------------------------------------------------------------------------------


def test_literals_outside_the_integer_width_compare_mathematically() -> None:
    assert rows("i8 < 1000") == [0, 1, 3, 4]
    assert rows("i8 > -1000") == [0, 1, 3, 4]
    assert rows("i8 == 300") == []
    assert rows("i8 != 300") == [0, 1, 3, 4]
    assert rows("i8 in [-128, 300, 127]") == [0, 1]


def test_integer_against_float_is_exact_beyond_2_pow_53() -> None:
    assert rows("big > 9007199254740992.0") == [0, 1]
    assert rows("big == 9007199254740992.0") == []
    assert rows("big < 9.3e18") == [0, 1, 2, 3, 4]
    assert rows("big > -9.3e18 and big < 2.5") == [2, 3]
    assert rows("big == 7.0") == [4]
    assert rows("big <= 6.5") == [2, 3]


def test_float_fields_compare_in_float32() -> None:
    assert rows("f == 0.1") == [0]
    assert rows("f == 16777216") == [4]
    assert rows("f in [0.2, -1.5]") == [1, 3]


def test_nan_matches_only_not_equal() -> None:
    assert 2 not in rows("f == f")
    assert 2 in rows("f != 0.5")
    assert 2 not in rows("f < 1e30 or f > -1e30")


def test_integer_arithmetic_follows_c() -> None:
    assert rows("x / 2 == -3") == [3]
    assert rows("x % 2 == -1") == [3]
    assert rows("x % 4 == 3") == [0]
    assert rows("-x == 7") == [3]
    assert rows("x * 2 + 1 == 7") == [0]
    assert rows("i8 + 1 == 128") == [1]
    assert rows("i8 - 1 == -129") == [0]


def test_division_by_a_zero_column_is_invalid() -> None:
    # x is 0 in row 2: the row neither matches nor matches the negation.
    assert rows("id / x > 0") == [4]
    assert rows("not (id / x > 0)") == [0, 3]


def test_arithmetic_with_float_operands() -> None:
    assert rows("x + 0.5 > 2") == [0, 4]
    assert rows("x / 2.0 == 1.5") == [0]
    assert rows("f * 2 == -3") == [3]


# --- strings -------------------------------------------------------------------------------


def test_like_wildcards_and_escapes() -> None:
    assert rows('s like "a%"') == [0, 1, 3]
    assert rows('s like "a_c"') == [0, 1, 3]
    assert rows('s like "a\\\\_c"') == [3]
    assert rows('s like "a\\%c"') == [0]
    assert rows('s like "_"') == [4]
    assert rows('s not like "a%"') == [4]


def test_string_ordering_is_by_code_point() -> None:
    assert rows('s > "b"') == [4]


# --- JSON ----------------------------------------------------------------------------------


def test_json_values_match_only_their_own_type() -> None:
    assert rows("k == 1") == [0, 1]
    assert rows('k == "1"') == [3]
    assert rows("k == true") == [2]
    assert rows("k > 0") == [0, 1]
    assert rows("k != 1") == [2, 3, 4]


def test_json_ne_is_true_for_missing_keys_but_false_for_null_documents() -> None:
    assert rows('info["a"] != 1') == [2, 3, 4]
    assert rows('info["a"] == 1') == [0]
    assert rows('not (info["a"] == 1)') == [2, 3, 4]


def test_json_is_null_and_exists() -> None:
    assert rows("k is null") == [4]
    assert rows("exists k") == [0, 1, 2, 3]
    assert rows('info["a"] is null') == [1, 4]
    assert rows("info is null") == [1]
    assert rows("nokey is null") == [0, 1, 2, 3, 4]


def test_json_integers_past_int64_compare_as_floats() -> None:
    assert rows('$meta["big"] > 1e19') == [3]
    assert rows('$meta["big"] == 9223372036854775807') == [4]
    assert rows('$meta["big"] > 9223372036854775806') == [3, 4]


def test_json_contains_is_type_aware() -> None:
    assert rows("json_contains(t, 1)") == [0]
    assert rows("json_contains(t, true)") == [1]
    assert rows("json_contains(t, [2, 3])") == [0]
    assert rows('json_contains_all(t, [1, "x"])') == [0]
    assert rows("json_contains_any(t, [true, 1.5])") == [1, 4]
    assert rows("json_contains_all(t, [])") == [0, 1, 2, 4]
    assert rows("json_contains_any(t, [])") == []


def test_json_contains_matches_numbers_numerically() -> None:
    assert rows("json_contains(t, 1.0)") == [0]


def test_array_length_and_index() -> None:
    assert rows("array_length(t) == 0") == [2]
    assert rows("array_length(t) >= 1") == [0, 1, 4]
    assert rows('info["a"][1] == 2') == [3]
    assert rows("t[2][0] == 2") == [0]


def test_json_arithmetic() -> None:
    assert rows("k + 1 == 2") == [0, 1]
    assert rows("k * 2 > 1.5") == [0, 1]
    assert rows("k % 2 == 1") == [0]
    # An integer JSON value divided by an integer truncates, whatever it is compared with.
    assert rows("k / 2 == 0") == [0]
    assert rows("k / 2 == 0.5") == [1]


def test_json_in() -> None:
    assert rows('k in [1, "1"]') == [0, 1, 3]
    assert rows("k in [true]") == [2]
    assert rows("k not in [1]") == [2, 3, 4]


# --- batches -------------------------------------------------------------------------------


def test_record_batches_and_chunked_tables_agree() -> None:
    chunked = pa.concat_tables([BATCH.slice(0, 2), BATCH.slice(2)])
    for text in ["i8 > 0 or k == 1", 's like "a%" and x is not null', "json_contains(t, 1)"]:
        expected = rows(text)
        assert rows(text, chunked) == expected
        assert rows(text, BATCH.to_batches()[0]) == expected


def test_empty_batch() -> None:
    assert rows("i8 > 0 and k == 1", BATCH.slice(0, 0)) == []


def test_null_and_missing_meta_cells_read_as_empty_objects() -> None:
    batch = BATCH.set_column(
        BATCH.schema.get_field_index("$meta"), "$meta", meta(None, {"k": 1}, None, None, None)
    )
    assert rows("k == 1", batch) == [1]
    assert rows("k != 1", batch) == [0, 2, 3, 4]
    assert rows("k != 1", BATCH.drop_columns(["$meta"])) == [0, 1, 2, 3, 4]


def test_undecodable_json_reads_as_null() -> None:
    bad = pa.array([b"{not json", b'{"a": 1}', None, b"[", b"1"], type=pa.binary())
    batch = BATCH.set_column(BATCH.schema.get_field_index("info"), "info", bad)
    assert rows('info["a"] == 1', batch) == [1]


def test_missing_column_is_an_expression_error() -> None:
    bound = compile_filter("x > 1", SCHEMA)
    assert bound is not None
    with pytest.raises(ExpressionError, match="field x is not present"):
        evaluate(bound, BATCH.drop_columns(["x"]))


def test_result_is_a_fresh_writable_array() -> None:
    bound = compile_filter("i8 is not null", SCHEMA)
    assert bound is not None
    first = evaluate(bound, BATCH)
    first[:] = False
    assert evaluate(bound, BATCH).tolist() == [True, True, False, True, True]
