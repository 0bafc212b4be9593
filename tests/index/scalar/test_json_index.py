"""JSON path indexes against a row-by-row reference with the filter language's JSON typing."""

from __future__ import annotations

import json
import operator
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from sluice.index.scalar import build_scalar_index, from_bytes, parse_scalar_index_spec, to_bytes
from sluice.index.scalar.base import ScalarIndex
from sluice.schema import DataType, FieldSchema

from . import reference as ref

ROWS = 300
MISSING = object()
NULL_DOC = object()
_OPS = {"==": operator.eq, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def _scalar(rng: np.random.Generator) -> Any:
    choice = rng.integers(0, 8)
    if choice == 0:
        return bool(rng.integers(0, 2))
    if choice == 1:
        return int(rng.integers(-5, 6))
    if choice == 2:
        return float(rng.integers(-10, 11)) / 2
    if choice == 3:
        return str(rng.choice(["x", "xy", "y", "yz", "", "1"]))
    if choice == 4:
        return None
    if choice == 5:
        return [_scalar_leaf(rng) for _ in range(rng.integers(0, 4))]
    if choice == 6:
        return {"k": 1}
    return MISSING


def _scalar_leaf(rng: np.random.Generator) -> Any:
    return [True, False, 1, 2, 2.0, 2.5, -1, "x", "xy", None][rng.integers(0, 10)]


def _docs(seed: int) -> tuple[list[Any], pa.Array]:
    rng = np.random.default_rng(seed)
    values, cells = [], []
    for _ in range(ROWS):
        value = _scalar(rng)
        if rng.random() < 0.05:
            values.append(NULL_DOC)
            cells.append(None)
            continue
        doc: dict[str, Any] = {"other": 1}
        if value is not MISSING:
            doc["a"] = {"b": value}
        values.append(value)
        cells.append(json.dumps(doc).encode())
    return values, pa.array(cells, type=pa.binary())


def equal_rows(values: list[Any], const: Any) -> set[int]:
    return {
        r
        for r, v in enumerate(values)
        if _kind(v) is not None and _kind(v) == _kind(const) and v == const
    }


def compare_rows(values: list[Any], op: str, const: Any) -> set[int]:
    if op == "!=":
        documents = {r for r, v in enumerate(values) if v is not NULL_DOC}
        return documents - equal_rows(values, const)
    if op == "==":
        return equal_rows(values, const)
    return {
        r
        for r, v in enumerate(values)
        if _kind(v) is not None and _kind(v) == _kind(const) and _OPS[op](v, const)
    }


def contains_rows(values: list[Any], mode: str, targets: list[Any]) -> set[int]:
    rows = set()
    for r, v in enumerate(values):
        if type(v) is not list:
            continue
        hits = [
            any(_kind(e) == _kind(t) and _kind(e) is not None and e == t for e in v)
            for t in targets
        ]
        if (mode == "all" and all(hits)) or (mode != "all" and any(hits)):
            rows.add(r)
    return rows


def _resolve(text: str) -> tuple[str | int, ...]:
    assert text == "j['a']['b']"
    return ("a", "b")


def _index(index_type: str, cast: str, cells: pa.Array, **extra: Any) -> ScalarIndex:
    params = {"json_cast_type": cast, "json_path": "j['a']['b']", **extra}
    spec = parse_scalar_index_spec(
        FieldSchema("j", DataType.JSON), index_type, params, resolve_json_path=_resolve
    )
    return from_bytes(to_bytes(build_scalar_index(spec, cells)))


def _rows(hits: Any) -> set[int]:
    assert hits is not None
    return set(np.flatnonzero(hits.to_mask()).tolist())


SCALAR_CASTS = [
    ("INVERTED", "BOOL"),
    ("INVERTED", "DOUBLE"),
    ("INVERTED", "VARCHAR"),
    ("INVERTED", "JSON"),
    ("STL_SORT", "DOUBLE"),
    ("STL_SORT", "VARCHAR"),
    ("BITMAP", "BOOL"),
    ("BITMAP", "VARCHAR"),
    ("AUTOINDEX", "DOUBLE"),
]
COVERS = {
    "BOOL": {"bool"},
    "DOUBLE": {"number"},
    "VARCHAR": {"string"},
    "JSON": {"bool", "number", "string"},
}
CONSTS: list[Any] = [True, False, 1, 2, 2.0, 2.5, -0.5, 100, "x", "xy", "", "z"]


@pytest.mark.parametrize(("index_type", "cast"), SCALAR_CASTS)
def test_scalar_casts(index_type: str, cast: str) -> None:
    values, cells = _docs(len(index_type) * 7 + len(cast))
    index = _index(index_type, cast, cells)
    covered = COVERS[cast]
    bitmap_bool = index_type == "BITMAP" and cast == "BOOL"
    for const in CONSTS:
        ops = ["==", "!="] if isinstance(const, bool) else ["==", "!=", "<", "<=", ">", ">="]
        for op in ops:
            hits = index.compare(op, const)
            if _kind(const) not in covered or (bitmap_bool and op not in ("==", "!=")):
                assert hits is None, (op, const)
                continue
            assert _rows(hits) == compare_rows(values, op, const), (op, const)
    numbers = [c for c in CONSTS if _kind(c) == "number"]
    strings = [c for c in CONSTS if _kind(c) == "string"]
    for members in (numbers, strings, [True], numbers[:2] + strings[:2], []):
        hits = index.isin(members)
        if not {_kind(m) for m in members} <= covered:
            assert hits is None
            continue
        expected = set().union(*(equal_rows(values, m) for m in members)) if members else set()
        assert _rows(hits) == expected, members
    if "number" in covered:
        expected = compare_rows(values, ">=", -1) & compare_rows(values, "<", 2)
        assert _rows(index.range(-1, True, 2, False)) == expected
    if "string" in covered:
        string_values = [v if isinstance(v, str) else None for v in values]
        assert _rows(index.like("x%")) == ref.like(string_values, "x%")
        assert _rows(index.like("xy")) == ref.like(string_values, "xy")
    assert index.contains("any", [1]) is None


@pytest.mark.parametrize("cast", ["ARRAY_BOOL", "ARRAY_DOUBLE", "ARRAY_VARCHAR"])
def test_array_casts(cast: str) -> None:
    values, cells = _docs(len(cast))
    index = _index("INVERTED", cast, cells)
    kind = {"ARRAY_BOOL": "bool", "ARRAY_DOUBLE": "number", "ARRAY_VARCHAR": "string"}[cast]
    targets = [t for t in [True, False, 1, 2, 2.5, -1, "x", "xy", "q"] if _kind(t) == kind]
    for mode in ("contains", "any", "all"):
        for chosen in ([targets[0]], targets[:2], targets, []):
            if mode == "contains" and len(chosen) != 1:
                continue
            assert _rows(index.contains(mode, chosen)) == contains_rows(values, mode, chosen), (
                mode,
                chosen,
            )
    other = "x" if kind != "string" else 1
    assert index.contains("any", [other]) is None
    assert index.compare("==", targets[0]) is None


def test_ngram_on_json_path_verifies_against_the_documents() -> None:
    values, cells = _docs(99)
    index = _index("NGRAM", "varchar", cells, min_gram=1, max_gram=2)
    strings = [v if isinstance(v, str) else None for v in values]
    for pattern in ["%x%", "x%", "%yz", "%x_", "xy"]:
        assert _rows(index.like(pattern, cells)) == ref.like(strings, pattern), pattern


def test_large_integers_make_the_double_index_decline() -> None:
    cells = pa.array([b'{"a": {"b": 9007199254740993}}', b'{"a": {"b": 1}}'], type=pa.binary())
    index = _index("INVERTED", "DOUBLE", cells)
    assert index.compare("==", 1) is None
    assert _rows(index.compare("<", 2.0)) == {1}
    small = _index("INVERTED", "DOUBLE", pa.array([b'{"a": {"b": 1}}'], type=pa.binary()))
    assert small.compare("==", 2**60) is None


def test_cast_function_indexes_numeric_strings_but_declines_lookups() -> None:
    cells = pa.array([b'{"a": {"b": "7.5"}}', b'{"a": {"b": 7.5}}', b'{"a": {"b": "x"}}'])
    index = _index("INVERTED", "DOUBLE", cells, json_cast_function="STRING_TO_DOUBLE")
    assert index.compare("==", 7.5) is None
    assert index.nbytes > 0


def test_dynamic_field_null_cells_read_as_empty_documents() -> None:
    cells = pa.array([None, b'{"a": {"b": 1}}'], type=pa.binary())
    spec = parse_scalar_index_spec(
        FieldSchema("$meta", DataType.JSON, is_dynamic=True),
        "INVERTED",
        {"json_cast_type": "double", "json_path": "j['a']['b']"},
        resolve_json_path=_resolve,
    )
    index = build_scalar_index(spec, cells)
    assert _rows(index.compare("!=", 1)) == {0}
    assert _rows(index.compare("==", 1)) == {1}
