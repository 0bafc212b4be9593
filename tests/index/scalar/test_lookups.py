"""Every index type x data type x operator against a row-by-row reference, and round trips."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from sluice.index.scalar import (
    ScalarIndex,
    build_scalar_index,
    from_bytes,
    parse_scalar_index_spec,
    to_bytes,
)
from sluice.schema import DataType, FieldSchema

from . import reference as ref

ROWS = 400
RNG_SEED = 20261204

_ARROW = {
    DataType.BOOL: pa.bool_(),
    DataType.INT8: pa.int8(),
    DataType.INT16: pa.int16(),
    DataType.INT32: pa.int32(),
    DataType.INT64: pa.int64(),
    DataType.TIMESTAMPTZ: pa.int64(),
    DataType.FLOAT: pa.float32(),
    DataType.DOUBLE: pa.float64(),
    DataType.VARCHAR: pa.string(),
}
_LIMITS = {DataType.INT8: 100, DataType.INT16: 3000, DataType.INT32: 10**6}


def _values(dtype: DataType, rng: np.random.Generator, distinct: int) -> list[Any]:
    """Random values with nulls; ``distinct`` bounds the cardinality."""
    if dtype == DataType.BOOL:
        pool: list[Any] = [True, False]
    elif dtype in (DataType.FLOAT, DataType.DOUBLE):
        pool = [float(np.float32(v)) for v in rng.normal(0, 50, distinct)]
        pool += [0.0, -0.0, 1.5, float("inf"), float("-inf"), float("nan")]
    elif dtype == DataType.VARCHAR:
        letters = ["a", "b", "ab", "é", "\U0001f600", "Z", ""]
        pool = ["".join(rng.choice(letters, rng.integers(0, 4))) for _ in range(distinct)]
    else:
        limit = _LIMITS.get(dtype, 2**62)
        pool = [int(v) for v in rng.integers(-limit, limit, distinct)] + [0, -1, 7]
        if dtype in (DataType.INT64, DataType.TIMESTAMPTZ):
            pool += [2**63 - 1, -(2**63), 2**53 + 1]
    picks = rng.integers(0, len(pool), ROWS)
    return [None if rng.random() < 0.1 else pool[i] for i in picks]


def _constants(dtype: DataType, values: list[Any]) -> list[Any]:
    present = [v for v in values if v is not None and not ref.is_nan(v)]
    chosen = present[:5] + present[-3:]
    if dtype == DataType.BOOL:
        return [True, False]
    if dtype == DataType.VARCHAR:
        return [*chosen, "", "a", "ab", "b", "\U0010ffff", "zzz"]
    extra: list[Any] = [0, 2.5, -0.5, 1e30, -1e30, float("inf"), float("-inf"), float("nan")]
    if dtype in (DataType.INT64, DataType.TIMESTAMPTZ):
        extra += [2**63 - 1, 2**64, -(2**70), 2**53 + 1]
    if dtype in (DataType.FLOAT, DataType.DOUBLE):
        extra += [1.5, 0.1, 3.4e38, 1e300]
    return chosen + extra


def _field(dtype: DataType, element: DataType | None = None) -> FieldSchema:
    return FieldSchema("f", dtype, element_type=element)


SCALAR_TYPES = [
    DataType.BOOL,
    DataType.INT8,
    DataType.INT16,
    DataType.INT32,
    DataType.INT64,
    DataType.TIMESTAMPTZ,
    DataType.FLOAT,
    DataType.DOUBLE,
    DataType.VARCHAR,
]
INDEX_TYPES = ["INVERTED", "STL_SORT", "BITMAP", "TRIE", "AUTOINDEX"]


def _accepted(field: FieldSchema, index_type: str) -> bool:
    try:
        parse_scalar_index_spec(field, index_type, {})
    except Exception:
        return False
    return True


SCALAR_CASES = [
    (dtype, index_type, distinct)
    for dtype, index_type in itertools.product(SCALAR_TYPES, INDEX_TYPES)
    if _accepted(_field(dtype), index_type)
    for distinct in (8, 300)
]


def _build(field: FieldSchema, index_type: str, column: pa.Array) -> ScalarIndex:
    spec = parse_scalar_index_spec(field, index_type, {})
    index = build_scalar_index(spec, column)
    reloaded = from_bytes(to_bytes(index))
    assert type(reloaded) is type(index)
    return reloaded


def _rows(hits: Any) -> set[int]:
    assert hits is not None, "the index declined a predicate it should answer"
    mask = hits.to_mask()
    assert mask.dtype == np.bool_ and len(mask) == ROWS
    return set(np.flatnonzero(mask).tolist())


@pytest.mark.parametrize(("dtype", "index_type", "distinct"), SCALAR_CASES)
def test_scalar_index_matches_reference(dtype: DataType, index_type: str, distinct: int) -> None:
    rng = np.random.default_rng(RNG_SEED + int(dtype) + distinct)
    values = _values(dtype, rng, distinct)
    column = pa.array(values, type=_ARROW[dtype])
    index = _build(_field(dtype), index_type, column)
    f32 = dtype == DataType.FLOAT
    for const in _constants(dtype, values):
        ops = ["==", "!="] if dtype == DataType.BOOL else list(ref.OPS)
        for op in ops:
            assert _rows(index.compare(op, const)) == ref.compare(values, op, const, f32), (
                op,
                const,
            )
    if dtype != DataType.BOOL:
        consts = _constants(dtype, values)
        for lower, upper in zip(consts, reversed(consts), strict=True):
            for lo_inc, hi_inc in itertools.product((True, False), repeat=2):
                expected = ref.in_range(values, lower, lo_inc, upper, hi_inc, f32)
                assert _rows(index.range(lower, lo_inc, upper, hi_inc)) == expected
        assert _rows(index.range(consts[0], True, None, True)) == ref.in_range(
            values, consts[0], True, None, True, f32
        )
    members = _constants(dtype, values)[::2]
    assert _rows(index.isin(members)) == ref.members(values, members, f32)
    assert _rows(index.isin([])) == set()
    assert index.contains("any", [members[0]]) is None


@pytest.mark.parametrize("index_type", ["INVERTED", "STL_SORT", "BITMAP", "TRIE", "AUTOINDEX"])
def test_varchar_like_prefix_and_exact(index_type: str) -> None:
    rng = np.random.default_rng(5)
    words = ["apple", "apricot", "banana", "ap", "a%b", "a_b", "", "\U0010ffffx", "b"]
    values = [None if rng.random() < 0.1 else str(rng.choice(words)) for _ in range(ROWS)]
    index = _build(_field(DataType.VARCHAR), index_type, pa.array(values, type=pa.string()))
    for pattern in ["ap%", "ap%%", "apple", "", "%", "a\\%b", "a\\_%", "\U0010ffff%", "b%"]:
        assert _rows(index.like(pattern)) == ref.like(values, pattern), pattern
    for pattern in ["%an%", "a_b", "%b"]:
        assert index.like(pattern) is None


ARRAY_CASES = [
    (element, index_type)
    for element in (DataType.INT64, DataType.INT8, DataType.VARCHAR, DataType.BOOL, DataType.DOUBLE)
    for index_type in ("INVERTED", "BITMAP", "AUTOINDEX")
    if _accepted(_field(DataType.ARRAY, element), index_type)
]


@pytest.mark.parametrize(("element", "index_type"), ARRAY_CASES)
def test_array_contains(element: DataType, index_type: str) -> None:
    rng = np.random.default_rng(int(element) + len(index_type))
    pool = [v for v in _values(element, rng, 12) if v is not None and not ref.is_nan(v)]
    arrays: list[Any] = []
    for _ in range(ROWS):
        if rng.random() < 0.1:
            arrays.append(None)
        else:
            arrays.append([pool[i] for i in rng.integers(0, len(pool), rng.integers(0, 5))])
    column = pa.array(arrays, type=pa.list_(_ARROW[element]))
    index = _build(_field(DataType.ARRAY, element), index_type, column)
    targets = pool[:4]
    for target in targets:
        assert _rows(index.contains("contains", [target])) == ref.contains(arrays, "any", [target])
    for chosen in ([], targets[:1], targets[:2], targets[:3], [*targets[:2], targets[0]]):
        for mode in ("all", "any"):
            assert _rows(index.contains(mode, chosen)) == ref.contains(arrays, mode, chosen), (
                mode,
                chosen,
            )
    assert index.compare("==", targets[0]) is None


def test_hybrid_picks_bitmap_below_the_cardinality_limit() -> None:
    field = _field(DataType.INT64)
    low = pa.array(np.arange(ROWS) % 10)
    high = pa.array(np.arange(ROWS))
    spec = parse_scalar_index_spec(field, "AUTOINDEX", {})
    assert spec.engine_type == "HYBRID"
    assert build_scalar_index(spec, low).index_type == "BITMAP"
    assert build_scalar_index(spec, high).index_type == "STL_SORT"
    text = parse_scalar_index_spec(_field(DataType.VARCHAR), "AUTOINDEX", {})
    words = pa.array([f"w{i}" for i in range(ROWS)])
    assert build_scalar_index(text, words).index_type == "INVERTED"
    limited = parse_scalar_index_spec(field, "AUTOINDEX", {"bitmap_cardinality_limit": "5"})
    assert build_scalar_index(limited, low).index_type == "STL_SORT"


def test_chunked_and_sliced_columns() -> None:
    values = [*range(50), None, *range(49, -1, -1)]
    chunked = pa.chunked_array([pa.array(values[:30]), pa.array(values[30:])])
    sliced = pa.array([999, *values, 999]).slice(1, len(values))
    for column in (chunked, sliced):
        index = build_scalar_index(
            parse_scalar_index_spec(_field(DataType.INT64), "INVERTED", {}), column
        )
        hits = index.compare("==", 7)
        assert hits is not None and hits.to_rows().tolist() == [7, 93]


def test_timestamp_column_reads_as_int64() -> None:
    column = pa.array([1_000_000, None, 5], type=pa.timestamp("us", tz="UTC"))
    spec = parse_scalar_index_spec(_field(DataType.TIMESTAMPTZ), "STL_SORT", {})
    index = build_scalar_index(spec, column)
    hits = index.range(2, True, None, True)
    assert hits is not None and hits.to_rows().tolist() == [0, 2]


def test_row_hits_conversions_agree() -> None:
    index = build_scalar_index(
        parse_scalar_index_spec(_field(DataType.INT64), "BITMAP", {}), pa.array([1, 2, 1, None, 1])
    )
    hits = index.compare("==", 1)
    assert hits is not None
    assert hits.to_rows().tolist() == [0, 2, 4]
    assert list(hits.to_bitmap()) == [0, 2, 4]
    assert hits.count() == 3
    assert hits.to_mask().tolist() == [True, False, True, False, True]
