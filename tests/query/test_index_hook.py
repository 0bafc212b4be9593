"""The evaluator's index hook: the same masks with and without scalar indexes.

Every expression is evaluated by scanning and through several sets of
indexes (each index family over the same data); the masks must be equal, and
the hook must have answered leaves for most expressions, so the test fails
if the hook is silently bypassed.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pytest

from sluice.index.scalar import SegmentIndexes, build_scalar_index, parse_scalar_index_spec
from sluice.index.scalar.base import ScalarIndex
from sluice.query import IndexLeaf, ast, compile_filter, evaluate, parse
from sluice.query.numeric import BoolArray
from sluice.schema import (
    CollectionSchema,
    DataType,
    FieldSchema,
    dynamic_meta_field,
    with_field_ids,
)

ROWS = 600

SCHEMA = CollectionSchema(
    "h",
    with_field_ids(
        [
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("n", DataType.INT64, nullable=True),
            FieldSchema("small", DataType.INT8),
            FieldSchema("f", DataType.FLOAT),
            FieldSchema("d", DataType.DOUBLE, nullable=True),
            FieldSchema("s", DataType.VARCHAR, max_length=32, nullable=True),
            FieldSchema("b", DataType.BOOL, nullable=True),
            FieldSchema("info", DataType.JSON, nullable=True),
            dynamic_meta_field(),
        ]
    ),
    enable_dynamic_field=True,
)


def _json_value(rng: np.random.Generator) -> Any:
    return [
        1,
        2,
        2.0,
        2.5,
        -3,
        True,
        False,
        "x",
        "xy",
        "yx",
        None,
        [1, 2],
        [2, "x"],
        ["xy", "z"],
        [True],
        {"q": 1},
    ][rng.integers(0, 16)]


def _table() -> pa.Table:
    rng = np.random.default_rng(2026)

    def maybe(value: Any, p: float = 0.1) -> Any:
        return None if rng.random() < p else value

    words = ["apple", "apricot", "banana", "cherry", "a%b", "grape", "", "xyz"]
    info, meta = [], []
    for _ in range(ROWS):
        doc: dict[str, Any] = {}
        if rng.random() < 0.9:
            doc["a"] = _json_value(rng)
        doc["nested"] = {"v": int(rng.integers(0, 20))}
        info.append(None if rng.random() < 0.08 else orjson.dumps(doc))
        m: dict[str, Any] = {}
        if rng.random() < 0.8:
            m["k"] = _json_value(rng)
        meta.append(orjson.dumps(m) if rng.random() > 0.05 else None)
    return pa.table(
        {
            "id": pa.array(np.arange(ROWS)),
            "n": pa.array([maybe(int(v)) for v in rng.integers(-50, 50, ROWS)], pa.int64()),
            "small": pa.array(rng.integers(-100, 100, ROWS), pa.int8()),
            "f": pa.array(np.round(rng.normal(0, 10, ROWS), 1), pa.float32()),
            "d": pa.array(
                [maybe(float(v)) for v in np.round(rng.normal(0, 10, ROWS), 2)], pa.float64()
            ),
            "s": pa.array([maybe(str(rng.choice(words))) for _ in range(ROWS)], pa.string()),
            "b": pa.array([maybe(bool(v)) for v in rng.integers(0, 2, ROWS)], pa.bool_()),
            "info": pa.array(info, pa.binary()),
            "$meta": pa.array(meta, pa.binary()),
        }
    )


TABLE = _table()

EXPRESSIONS = [
    "n == 7",
    "n != 7",
    "n > 10",
    "n >= -5 and n < 5",
    "-5 < n <= 5",
    "n in [1, 2, 3, 99]",
    "n not in [1, 2, 3]",
    "not (n > 0)",
    "n > 2.5",
    "n <= -10.5 or n == 3",
    "n > 9223372036854775807",
    "small < 0 and small >= -50",
    "small in [-1, 0, 1, 1000]",
    "small == 1.5",
    "f > 1.5",
    "f <= -2.5 and f > -10",
    "f == 0.1",
    "d >= 0 and d < 3",
    "d != 1.25",
    "d in [1.5, 2.0]",
    "s == 'apple'",
    "s != 'apple'",
    "s > 'b'",
    "s like 'ap%'",
    "s like '%an%'",
    "s like 'a\\%b'",
    "s not like 'ap%'",
    "s in ['banana', 'grape', 'nope']",
    "b == true",
    "b != false",
    "not (b == true) and n > 0",
    "info['a'] == 2",
    "info['a'] != 2",
    "info['a'] > 1",
    "info['a'] >= 1 and info['a'] < 3",
    "info['a'] == 'x'",
    "info['a'] > 'x'",
    "info['a'] like 'x%'",
    "info['a'] like '%y%'",
    "info['a'] in [2, 'x', true]",
    "info['a'] == true",
    "info['nested']['v'] < 5",
    "json_contains(info['a'], 2)",
    "json_contains_any(info['a'], ['x', 'z'])",
    "json_contains_all(info['a'], [1, 2])",
    "json_contains_all(info['a'], [])",
    "k == 1",
    "k != 'x'",
    "k in [1, 2]",
    "$meta['k'] >= 2",
    "n > 0 and (s like 'a%' or info['a'] == 'x')",
    "(n < 0 or d > 5) and not (s == 'apple')",
    "n is null or b == true",
]


def _resolve(text: str) -> tuple[str | int, ...]:
    root = parse(text).root
    assert isinstance(root, ast.Identifier)
    return root.path


def _index(name: str, index_type: str, **params: Any) -> ScalarIndex:
    field = SCHEMA.get(name)
    assert field is not None
    spec = parse_scalar_index_spec(field, index_type, params, resolve_json_path=_resolve)
    return build_scalar_index(spec, TABLE.column(name))


def _json(index_type: str, cast: str, path: str, field: str = "info", **extra: Any) -> ScalarIndex:
    return _index(field, index_type, json_cast_type=cast, json_path=path, **extra)


def _index_sets() -> dict[str, dict[tuple[str, tuple[str | int, ...]], ScalarIndex]]:
    scalars = ("n", "small", "f", "d", "s", "b")
    sets: dict[str, dict[tuple[str, tuple[str | int, ...]], ScalarIndex]] = {}
    for kind in ("INVERTED", "STL_SORT", "BITMAP", "AUTOINDEX"):
        chosen: dict[tuple[str, tuple[str | int, ...]], ScalarIndex] = {}
        for name in scalars:
            try:
                chosen[(name, ())] = _index(name, kind)
            except Exception:
                chosen[(name, ())] = _index(name, "INVERTED")
        sets[kind] = chosen
    sets["TRIE+NGRAM"] = {
        ("s", ()): _index("s", "TRIE"),
        ("n", ()): _index("n", "STL_SORT"),
    }
    sets["NGRAM"] = {("s", ()): _index("s", "NGRAM", min_gram=1, max_gram=2)}
    sets["json-double"] = {
        ("info", ("a",)): _json("INVERTED", "DOUBLE", "info['a']"),
        ("info", ("nested", "v")): _json("STL_SORT", "DOUBLE", "info['nested']['v']"),
        ("$meta", ("k",)): _json("INVERTED", "DOUBLE", "$meta['k']", field="$meta"),
    }
    sets["json-varchar"] = {
        ("info", ("a",)): _json("INVERTED", "VARCHAR", "info['a']"),
        ("$meta", ("k",)): _json("BITMAP", "VARCHAR", "$meta['k']", field="$meta"),
    }
    sets["json-json"] = {
        ("info", ("a",)): _json("INVERTED", "JSON", "info['a']"),
        ("$meta", ("k",)): _json("INVERTED", "JSON", "$meta['k']", field="$meta"),
    }
    sets["json-bool"] = {("info", ("a",)): _json("BITMAP", "BOOL", "info['a']")}
    sets["json-array"] = {("info", ("a",)): _json("INVERTED", "ARRAY_DOUBLE", "info['a']")}
    sets["json-array-str"] = {("info", ("a",)): _json("INVERTED", "ARRAY_VARCHAR", "info['a']")}
    sets["json-ngram"] = {
        ("info", ("a",)): _json("NGRAM", "VARCHAR", "info['a']", min_gram=1, max_gram=2)
    }
    return sets


class CountingLookup:
    """Wraps the engine-side lookup to count the leaves it answered."""

    def __init__(self, inner: SegmentIndexes) -> None:
        self.inner = inner
        self.answered = 0

    def lookup(self, leaf: IndexLeaf, num_rows: int) -> BoolArray | None:
        mask = self.inner.lookup(leaf, num_rows)
        self.answered += mask is not None
        return mask


INDEX_SETS = _index_sets()


def _column(name: str) -> pa.ChunkedArray:
    return TABLE.column(name)


def test_there_are_enough_expressions() -> None:
    assert len(EXPRESSIONS) >= 30


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_masks_equal_with_and_without_indexes(text: str) -> None:
    bound = compile_filter(text, SCHEMA)
    assert bound is not None
    scanned = evaluate(bound, TABLE)
    answered = 0
    for name, indexes in INDEX_SETS.items():
        lookup = CountingLookup(SegmentIndexes(ROWS, indexes, _column))
        through = evaluate(bound, TABLE, index=lookup)
        assert through.dtype == np.bool_
        assert np.array_equal(through, scanned), f"{text!r} differs with {name} indexes"
        answered += lookup.answered
    if "is null" not in text:
        assert answered > 0, f"no index answered any leaf of {text!r}"


def test_a_lookup_for_other_rows_is_ignored() -> None:
    bound = compile_filter("n == 7", SCHEMA)
    assert bound is not None
    lookup = CountingLookup(SegmentIndexes(ROWS, INDEX_SETS["INVERTED"]))
    half = TABLE.slice(0, ROWS // 2)
    assert np.array_equal(evaluate(bound, half, index=lookup), evaluate(bound, half))
    assert lookup.answered == 0


def test_range_pairs_use_one_lookup() -> None:
    seen: list[str] = []

    class Recording(CountingLookup):
        def lookup(self, leaf: IndexLeaf, num_rows: int) -> BoolArray | None:
            seen.append(leaf.op)
            return super().lookup(leaf, num_rows)

    bound = compile_filter("n >= 1 and n < 9 and s == 'apple'", SCHEMA)
    assert bound is not None
    evaluate(bound, TABLE, index=Recording(SegmentIndexes(ROWS, INDEX_SETS["STL_SORT"])))
    assert sorted(seen) == ["==", "range"]


def test_hook_combinations_cover_every_family() -> None:
    families = {type(i).__name__ for s in INDEX_SETS.values() for i in s.values()}
    assert {
        "InvertedIndex",
        "SortIndex",
        "BitmapIndex",
        "TrieIndex",
        "NgramIndex",
        "JsonPathIndex",
    } <= families
    assert len(list(itertools.chain.from_iterable(INDEX_SETS.values()))) > 20
