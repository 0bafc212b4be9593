"""ARRAY, GEOMETRY and TIMESTAMPTZ filters against independent references.

Each expression is evaluated by the filter engine over a random batch and
compared with the same predicate written directly in Python over the rows
(lists for arrays, shapely for geometry, datetime arithmetic for time), with
Milvus's null rule: a null field never matches, under ``not`` either.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import shapely
import shapely.ops

from sluice.errors import ExpressionError, SluiceError
from sluice.query import compile_filter, evaluate
from sluice.schema import CollectionSchema, DataType, FieldSchema, with_field_ids
from sluice.types.geometry import wkb_from_wkt
from sluice.types.temporal import parse_iso

N = 400
UTC = dt.UTC

SCHEMA = CollectionSchema(
    "typed",
    with_field_ids(
        [
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema(
                "ints", DataType.ARRAY, element_type=DataType.INT64, max_capacity=8, nullable=True
            ),
            FieldSchema(
                "tags",
                DataType.ARRAY,
                element_type=DataType.VARCHAR,
                max_capacity=8,
                max_length=8,
            ),
            FieldSchema("floats", DataType.ARRAY, element_type=DataType.DOUBLE, max_capacity=8),
            FieldSchema("geo", DataType.GEOMETRY, nullable=True),
            FieldSchema("ts", DataType.TIMESTAMPTZ, nullable=True),
            FieldSchema("vec", DataType.FLOAT_VECTOR, dim=2),
        ]
    ),
)


def _rows() -> list[dict[str, Any]]:
    rng = random.Random(7)
    base = dt.datetime(2025, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(N):
        shape = rng.choice(["point", "box", "line"])
        x, y = rng.uniform(0, 10), rng.uniform(0, 10)
        if shape == "point":
            wkt = f"POINT ({x:.3f} {y:.3f})"
        elif shape == "box":
            wkt = f"POLYGON (({x:.3f} {y:.3f}, {x + 2:.3f} {y:.3f}, {x + 2:.3f} {y + 2:.3f}, {x:.3f} {y + 2:.3f}, {x:.3f} {y:.3f}))"
        else:
            wkt = f"LINESTRING ({x:.3f} {y:.3f}, {x + 3:.3f} {y + 1:.3f})"
        if i % 50 == 1:
            wkt = "POINT (2 4)"  # on the query box's edge: it touches
        rows.append(
            {
                "id": i,
                "ints": None
                if i % 17 == 0
                else [rng.randrange(10) for _ in range(rng.randrange(0, 5))],
                "tags": [
                    rng.choice("abcde") * rng.randrange(1, 3) for _ in range(rng.randrange(3))
                ],
                "floats": [rng.choice([0.5, 1.5, 2.0, -1.0]) for _ in range(rng.randrange(1, 4))],
                "geo": None if i % 23 == 0 else wkt,
                "ts": None
                if i % 19 == 0
                else base + dt.timedelta(hours=rng.randrange(0, 24 * 90), microseconds=i),
            }
        )
    return rows


ROWS = _rows()


def _batch() -> pa.Table:
    ts = [
        None if r["ts"] is None else int(r["ts"].timestamp()) * 1_000_000 + r["ts"].microsecond
        for r in ROWS
    ]
    return pa.table(
        {
            "id": pa.array([r["id"] for r in ROWS], pa.int64()),
            "ints": pa.array([r["ints"] for r in ROWS], pa.list_(pa.int64())),
            "tags": pa.array([r["tags"] for r in ROWS], pa.list_(pa.string())),
            "floats": pa.array([r["floats"] for r in ROWS], pa.list_(pa.float64())),
            "geo": wkb_from_wkt(pa.array([r["geo"] for r in ROWS], pa.string())),
            "ts": pa.array(ts, pa.int64()),
        }
    )


BATCH = _batch()
GEOMS = [None if r["geo"] is None else shapely.from_wkt(r["geo"]) for r in ROWS]
Q_BOX = "POLYGON ((2 2, 6 2, 6 6, 2 6, 2 2))"
Q_POINT = "POINT (5 5)"
Q_LINE = "LINESTRING (0 0, 10 10)"


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _shift_months(t: dt.datetime, months: int) -> dt.datetime:
    """Go's AddDate: move the month, let an overflowing day roll into the next month."""
    year, month = divmod(t.month - 1 + months, 12)
    first = t.replace(year=t.year + year, month=month + 1, day=1)
    return first + dt.timedelta(days=t.day - 1)


def _geo(fn: Callable[[Any], bool]) -> Callable[[dict[str, Any]], bool]:
    return lambda r: GEOMS[r["id"]] is not None and bool(fn(GEOMS[r["id"]]))


def _ints(fn: Callable[[list[int]], bool]) -> Callable[[dict[str, Any]], bool]:
    return lambda r: r["ints"] is not None and fn(r["ints"])


def _ts(fn: Callable[[dt.datetime], bool]) -> Callable[[dict[str, Any]], bool]:
    return lambda r: r["ts"] is not None and fn(r["ts"])


def _haversine(a: Any, b: Any) -> float:
    lon1, lat1, lon2, lat2 = map(math.radians, (a.x, a.y, b.x, b.y))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371000.0 * math.asin(math.sqrt(min(1.0, h)))


BOX, POINT, LINE = (shapely.from_wkt(w) for w in (Q_BOX, Q_POINT, Q_LINE))

CASES: list[tuple[str, Callable[[dict[str, Any]], bool]]] = [
    ("array_contains(ints, 3)", _ints(lambda a: 3 in a)),
    ("ARRAY_CONTAINS(ints, 3)", _ints(lambda a: 3 in a)),
    ("array_contains_all(ints, [1, 2])", _ints(lambda a: 1 in a and 2 in a)),
    ("array_contains_any(ints, [7, 8, 9])", _ints(lambda a: bool({7, 8, 9} & set(a)))),
    ("array_contains_all(ints, [])", _ints(lambda a: True)),
    ("array_contains_any(ints, [])", _ints(lambda a: False)),
    ("not array_contains(ints, 0)", _ints(lambda a: 0 not in a)),
    ("array_length(ints) == 0", _ints(lambda a: len(a) == 0)),
    ("array_length(ints) >= 3", _ints(lambda a: len(a) >= 3)),
    ("array_length(tags) < 2", lambda r: len(r["tags"]) < 2),
    ("ints[0] == 4", _ints(lambda a: len(a) > 0 and a[0] == 4)),
    ("ints[1] > 5", _ints(lambda a: len(a) > 1 and a[1] > 5)),
    ("ints[2] != 1", _ints(lambda a: len(a) > 2 and a[2] != 1)),
    ("ints[0] in [1, 2, 3]", _ints(lambda a: len(a) > 0 and a[0] in (1, 2, 3))),
    ("ints[0] not in [1, 2, 3]", _ints(lambda a: len(a) > 0 and a[0] not in (1, 2, 3))),
    ("ints[0] + 1 > 5", _ints(lambda a: len(a) > 0 and a[0] + 1 > 5)),
    ('tags[0] == "aa"', lambda r: len(r["tags"]) > 0 and r["tags"][0] == "aa"),
    ('tags[0] like "a%"', lambda r: len(r["tags"]) > 0 and r["tags"][0].startswith("a")),
    ('array_contains(tags, "e")', lambda r: "e" in r["tags"]),
    ('array_contains_any(tags, ["bb", "cc"])', lambda r: bool({"bb", "cc"} & set(r["tags"]))),
    ("array_contains(floats, 1.5)", lambda r: 1.5 in r["floats"]),
    ("floats[0] < 1", lambda r: r["floats"][0] < 1),
    ("ints is null", lambda r: r["ints"] is None),
    ("ints is not null and array_length(ints) == 1", _ints(lambda a: len(a) == 1)),
    (f"ST_INTERSECTS(geo, '{Q_BOX}')", _geo(lambda g: g.intersects(BOX))),
    (f"st_within(geo, '{Q_BOX}')", _geo(lambda g: g.within(BOX))),
    (f"ST_CONTAINS(geo, '{Q_POINT}')", _geo(lambda g: g.contains(POINT))),
    (f"ST_CROSSES(geo, '{Q_LINE}')", _geo(lambda g: g.crosses(LINE))),
    (f"ST_OVERLAPS(geo, '{Q_BOX}')", _geo(lambda g: g.overlaps(BOX))),
    (f"ST_TOUCHES(geo, '{Q_BOX}')", _geo(lambda g: g.touches(BOX))),
    (f"ST_EQUALS(geo, '{ROWS[1]['geo'] or Q_POINT}')", _geo(lambda g: g.equals(GEOMS[1]))),
    (f"not ST_INTERSECTS(geo, '{Q_BOX}')", _geo(lambda g: not g.intersects(BOX))),
    ("ST_ISVALID(geo)", _geo(lambda g: g.is_valid)),
    (
        f"ST_DWITHIN(geo, '{Q_POINT}', 300000)",
        _geo(lambda g: _haversine(shapely.ops.nearest_points(g, POINT)[0], POINT) <= 300000),
    ),
    (
        "ts > ISO '2025-02-01T00:00:00Z'",
        _ts(lambda t: t > _at("2025-02-01T00:00:00+00:00")),
    ),
    (
        "ts <= ISO '2025-01-15T08:00:00+08:00'",
        _ts(lambda t: t <= _at("2025-01-15T08:00:00+08:00")),
    ),
    (
        "ts + INTERVAL 'P1D' < ISO '2025-01-10T00:00:00Z'",
        _ts(lambda t: t + dt.timedelta(days=1) < _at("2025-01-10T00:00:00+00:00")),
    ),
    (
        "ts - INTERVAL 'PT36H' >= ISO '2025-03-01T00:00:00Z'",
        _ts(lambda t: t - dt.timedelta(hours=36) >= _at("2025-03-01T00:00:00+00:00")),
    ),
    (
        "ts + INTERVAL 'P1M' > ISO '2025-03-31T00:00:00Z'",
        _ts(lambda t: _shift_months(t, 1) > _at("2025-03-31T00:00:00+00:00")),
    ),
    (
        "ISO '2025-01-05T00:00:00Z' < ts and ts < ISO '2025-01-06T00:00:00Z'",
        _ts(lambda t: _at("2025-01-05T00:00:00+00:00") < t < _at("2025-01-06T00:00:00+00:00")),
    ),
    ("ts is null", lambda r: r["ts"] is None),
]


@pytest.mark.parametrize(("expr", "reference"), CASES, ids=[c[0] for c in CASES])
def test_filter_matches_reference(expr: str, reference: Callable[[dict[str, Any]], bool]) -> None:
    bound = compile_filter(expr, SCHEMA)
    assert bound is not None
    got = np.flatnonzero(evaluate(bound, BATCH)).tolist()
    want = [r["id"] for r in ROWS if reference(r)]
    assert got == want
    assert 0 < len(want) < N or expr.endswith("[])") or "EQUALS" in expr or "is null" in expr


@pytest.mark.parametrize(
    ("expr", "why"),
    [
        ("ints == 3", "comparisons between Array and Int64 are not supported"),
        ('array_contains(ints, "x")', "is not a Int64 element of array field"),
        ("ints[0][1] == 3", "single integer index"),
        ("geo == 'POINT (1 1)'", "not supported"),
        ("ST_INTERSECTS(id, 'POINT (1 1)')", "can only be applied on a geometry field"),
        ("ST_DWITHIN(geo, 'POINT (1 1)', -1)", "must not be negative"),
        ("ST_DWITHIN(geo, 'POINT (1 1)')", "takes 3 arguments"),
        ("ST_CONTAINS(geo, 'NOT WKT')", "invalid WKT"),
        ("ts > '2025-01-01'", "comparisons between Timestamptz and VarChar are not supported"),
        ("ts > ISO '2025-13-01T00:00:00Z'", "invalid timestamp string"),
        ("id + INTERVAL 'P1D' > 3", "INTERVAL can only shift a TIMESTAMPTZ field"),
        ("ts + INTERVAL 'P1X' > 3", "invalid ISO-8601 duration"),
    ],
)
def test_refusals_name_the_problem(expr: str, why: str) -> None:
    with pytest.raises(ExpressionError, match="cannot parse expression") as info:
        compile_filter(expr, SCHEMA)
    assert why in info.value.message


def test_unknown_function_is_not_found_as_milvus_says() -> None:
    with pytest.raises(SluiceError) as info:
        compile_filter("ST_INTERSECT(geo, 'POINT (1 1)')", SCHEMA)
    assert info.value.code == 65535
    assert "st_intersect not found" in info.value.message


def test_iso_literal_matches_the_stored_microseconds() -> None:
    micros = parse_iso(pa.array(["2025-01-02T03:04:05.5+02:00"]))[0].as_py()
    expr = "ts == ISO '2025-01-02T01:04:05.5Z'"
    batch = pa.table({"ts": pa.array([micros, micros + 1], pa.int64())})
    bound = compile_filter(expr, SCHEMA)
    assert bound is not None
    assert evaluate(bound, batch).tolist() == [True, False]


def test_a_whole_json_field_compares_as_one_value() -> None:
    """``j == 3005`` / ``j in [...]`` test the document itself (a bare number or string)."""
    schema = CollectionSchema(
        name="c",
        fields=(
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("j", DataType.JSON),
            FieldSchema("v", DataType.FLOAT_VECTOR, dim=2),
        ),
    )
    docs = [{"a": 1}, 3005, "x", [1, 2], None, 7]
    table = pa.table(
        {"j": pa.array([None if d is None else json.dumps(d).encode() for d in docs], pa.binary())}
    )

    def rows(expr: str) -> list[int]:
        return np.flatnonzero(evaluate(compile_filter(expr, schema, None), table)).tolist()

    assert rows("j == 3005") == [1]
    assert rows("j in [7, 3005]") == [1, 5]
    assert rows('j == "x"') == [2]
    assert rows("j > 5") == [1, 5]
