"""Filter expressions end to end: every ``query`` and filtered ``search`` against pandas.

One collection holds every scalar type Milvus filters on (INT8/16/32/64,
FLOAT, DOUBLE, BOOL, VARCHAR), a nullable INT32, a JSON field and dynamic
keys, over two shards with part of the data flushed, part growing and a few
rows deleted.  Each expression has an independent pandas reference written
next to it (not derived from the expression text).  ``query`` must return
exactly the reference's keys; a FLAT-indexed ``search`` with the same filter
must return exactly the reference's top-k among the passing rows.

Milvus's semantics the references encode:

- a comparison on a null value is false, and so is its negation;
- a JSON path (or dynamic key) that is missing or of another type makes a
  comparison false, except ``!=``, which is true;
- integer ``%`` and ``/`` truncate toward zero, as in C++.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from helpers import brute_force, count, create_indexed, milvus_error
from pymilvus import DataType, MilvusClient

NAME = "filters"
DIM = 8
N = 600
FLUSHED = 350
STRONG = {"consistency_level": "Strong"}
WORDS = (
    "apple",
    "apricot",
    "banana",
    "blueberry",
    "cherry",
    "avocado",
    "grape",
    "Apple",
    "pineapple",
    "kiwi",
)
COLORS = ("red", "green", "blue")


def _make_rows() -> list[dict[str, Any]]:
    rng = np.random.default_rng(77)
    vecs = rng.standard_normal((N, DIM)).astype(np.float32)
    rows = []
    for i in range(N):
        meta: dict[str, Any] = {}
        if i % 4 != 0:
            meta["k"] = int(rng.integers(0, 10))
        elif i % 8 == 4:
            meta["k"] = float(rng.integers(0, 20)) / 2
        if i % 3 != 1:
            meta["tag"] = f"t{int(rng.integers(0, 30))}"
        if i % 5 != 0:
            meta["nested"] = {"x": float(rng.random())}
        meta["arr"] = [int(x) for x in rng.integers(0, 6, size=int(rng.integers(0, 4)))]
        row: dict[str, Any] = {
            "id": i,
            "i8": int(rng.integers(-128, 128)),
            "i16": int(rng.integers(-1000, 1000)),
            "i32": int(rng.integers(0, 50)),
            "i64": int(rng.integers(-(10**12), 10**12)) if i % 2 else int(rng.integers(-50, 50)),
            "f": float(rng.integers(-40, 41)) / 4,
            "d": float(rng.standard_normal()),
            "b": bool(rng.random() < 0.4),
            "s": WORDS[int(rng.integers(0, len(WORDS)))],
            "n": None if rng.random() < 0.3 else int(rng.integers(0, 10)),
            "meta": meta,
            "vector": vecs[i].tolist(),
        }
        if i % 4 != 0:
            row["color"] = COLORS[int(rng.integers(0, 3))]
        if i % 5 in (0, 1, 2):
            row["score"] = float(rng.random())
        rows.append(row)
    return rows


ROWS = _make_rows()
DELETED = {i for i in range(N) if i % 50 == 7}


def _frame() -> pd.DataFrame:
    """The rows as pandas columns; JSON paths and dynamic keys unpacked (NaN/None when absent)."""
    df = pd.DataFrame(
        {
            name: [r[name] for r in ROWS]
            for name in ("id", "i8", "i16", "i32", "i64", "f", "d", "b", "s")
        }
    )
    df["f"] = df["f"].astype(np.float32)
    df["n"] = pd.Series([np.nan if r["n"] is None else r["n"] for r in ROWS], dtype=float)
    df["mk"] = [r["meta"].get("k", np.nan) for r in ROWS]
    df["mtag"] = [r["meta"].get("tag") for r in ROWS]
    df["mx"] = [r["meta"].get("nested", {}).get("x", np.nan) for r in ROWS]
    df["arr"] = [r["meta"]["arr"] for r in ROWS]
    df["color"] = [r.get("color") for r in ROWS]
    df["score"] = [r.get("score", np.nan) for r in ROWS]
    return df


DF = _frame()
LIVE = ~DF["id"].isin(DELETED)


def _str(series: pd.Series, test: Callable[[str], bool]) -> pd.Series:
    """A per-value test on a column of strings that may hold None (None never passes)."""
    return series.map(lambda v: isinstance(v, str) and test(v)).astype(bool)


def _cmod(a: pd.Series, m: int) -> pd.Series:
    return pd.Series(np.fmod(a.to_numpy(), m), index=a.index)


Ref = Callable[[pd.DataFrame], pd.Series]
# (expression, filter_params, reference)
CASES: list[tuple[str, dict[str, Any] | None, Ref]] = [
    # comparisons on every type
    ("i8 > 0", None, lambda d: d.i8 > 0),
    ("i8 <= -100", None, lambda d: d.i8 <= -100),
    ("i16 >= 500 or i16 == -999", None, lambda d: (d.i16 >= 500) | (d.i16 == -999)),
    ("i32 >= 45", None, lambda d: d.i32 >= 45),
    ("i64 < -500000000000", None, lambda d: d.i64 < -500_000_000_000),
    ("i64 > 40 and i64 < 50", None, lambda d: (d.i64 > 40) & (d.i64 < 50)),
    ("f < 2.5", None, lambda d: d.f < 2.5),
    ("f == 1.25", None, lambda d: d.f == 1.25),
    ("d >= 1.5", None, lambda d: d.d >= 1.5),
    ("b == true", None, lambda d: d.b),
    ("b == False", None, lambda d: ~d.b),
    ('s == "banana"', None, lambda d: d.s == "banana"),
    ('s != "banana"', None, lambda d: d.s != "banana"),
    ('s > "cherry"', None, lambda d: d.s > "cherry"),
    ("id < 20", None, lambda d: d.id < 20),
    # chained ranges
    ("10 < i32 <= 20", None, lambda d: (d.i32 > 10) & (d.i32 <= 20)),
    ("-5 <= i8 < 5", None, lambda d: (d.i8 >= -5) & (d.i8 < 5)),
    ("1.5 > d > -0.5", None, lambda d: (d.d < 1.5) & (d.d > -0.5)),
    # in / not in
    ("i32 in [1, 2, 3, 49]", None, lambda d: d.i32.isin([1, 2, 3, 49])),
    ('s not in ["apple", "kiwi", "grape"]', None, lambda d: ~d.s.isin(["apple", "kiwi", "grape"])),
    ("id in [3, 7, 57, 599, 9999]", None, lambda d: d.id.isin([3, 7, 57, 599])),
    ("f in [0.25, -1.5]", None, lambda d: d.f.isin([0.25, -1.5])),
    # like
    ('s like "ap%"', None, lambda d: d.s.str.startswith("ap")),
    ('s like "%rry"', None, lambda d: d.s.str.endswith("rry")),
    ('s like "%an%"', None, lambda d: d.s.str.contains("an", regex=False)),
    ('s like "kiwi"', None, lambda d: d.s == "kiwi"),
    ('not (s like "a%")', None, lambda d: ~d.s.str.startswith("a")),
    # boolean operators and precedence
    (
        "i32 > 40 or i32 < 5 and b == true",
        None,
        lambda d: (d.i32 > 40) | ((d.i32 < 5) & d.b),
    ),
    ("(i32 > 40 or i32 < 5) and b == true", None, lambda d: ((d.i32 > 40) | (d.i32 < 5)) & d.b),
    ("not (i8 > 0 or b == true)", None, lambda d: ~((d.i8 > 0) | d.b)),
    ("i8 > 0 && i16 < 0 || b == false", None, lambda d: ((d.i8 > 0) & (d.i16 < 0)) | ~d.b),
    ("!(i32 < 25)", None, lambda d: ~(d.i32 < 25)),
    # upper-case keywords
    ("i8 > 0 AND b == TRUE", None, lambda d: (d.i8 > 0) & d.b),
    ("i32 IN [7, 8] OR i16 > 990", None, lambda d: d.i32.isin([7, 8]) | (d.i16 > 990)),
    ("NOT (i32 >= 10)", None, lambda d: d.i32 < 10),
    (
        'i32 NOT IN [0, 1] AND s LIKE "b%"',
        None,
        lambda d: ~d.i32.isin([0, 1]) & d.s.str.startswith("b"),
    ),
    # arithmetic
    ("i32 + 3 > 50", None, lambda d: d.i32 + 3 > 50),
    ("i16 % 7 == -3", None, lambda d: _cmod(d.i16, 7) == -3),
    ("i64 * 2 == 40", None, lambda d: d.i64 * 2 == 40),
    ("i8 - 100 >= 0", None, lambda d: d.i8 - 100 >= 0),
    ("f * 2 <= -15", None, lambda d: d.f * 2 <= -15),
    ("id % 10 == 3", None, lambda d: d.id % 10 == 3),
    # two fields
    ("i16 > i8", None, lambda d: d.i16 > d.i8),
    ("f < d", None, lambda d: d.f.astype(float) < d.d),
    # nulls
    ("n is null", None, lambda d: d.n.isna()),
    ("n IS NOT NULL", None, lambda d: d.n.notna()),
    ("n > 5", None, lambda d: d.n > 5),
    ("n != 5", None, lambda d: d.n.notna() & (d.n != 5)),
    ("not (n > 5)", None, lambda d: d.n <= 5),
    ("n in [1, 2] or n is null", None, lambda d: d.n.isin([1, 2]) | d.n.isna()),
    # JSON field
    ('meta["k"] > 6', None, lambda d: d.mk > 6),
    ('meta["k"] == 3', None, lambda d: d.mk == 3),
    ('meta["k"] != 3', None, lambda d: d.mk != 3),
    ('meta["k"] in [1, 8.5]', None, lambda d: d.mk.isin([1, 8.5])),
    ('meta["tag"] == "t7"', None, lambda d: d.mtag == "t7"),
    ('meta["tag"] like "t1%"', None, lambda d: _str(d.mtag, lambda v: v.startswith("t1"))),
    ('meta["nested"]["x"] < 0.25', None, lambda d: d.mx < 0.25),
    ('exists meta["tag"]', None, lambda d: d.mtag.notna()),
    ('json_contains(meta["arr"], 3)', None, lambda d: d.arr.map(lambda a: 3 in a).astype(bool)),
    (
        'json_contains_any(meta["arr"], [0, 5])',
        None,
        lambda d: d.arr.map(lambda a: 0 in a or 5 in a).astype(bool),
    ),
    ('array_length(meta["arr"]) == 2', None, lambda d: d.arr.map(len) == 2),
    (
        'meta["arr"][0] == 1',
        None,
        lambda d: d.arr.map(lambda a: len(a) > 0 and a[0] == 1).astype(bool),
    ),
    (
        'json_contains_all(meta["arr"], [1, 2])',
        None,
        lambda d: d.arr.map(lambda a: 1 in a and 2 in a).astype(bool),
    ),
    # literal forms
    ("s == 'banana' or s == \"kiwi\"", None, lambda d: d.s.isin(["banana", "kiwi"])),
    ("f >= 2", None, lambda d: d.f >= 2),
    ("b == True and i8 < 0", None, lambda d: d.b & (d.i8 < 0)),
    ("i32 in [] or i32 == 7", None, lambda d: d.i32 == 7),
    ('s like "%" and i32 < 3', None, lambda d: d.i32 < 3),
    # dynamic keys
    ('color == "red"', None, lambda d: d.color == "red"),
    (
        'color in ["red", "blue"] and score > 0.5',
        None,
        lambda d: d.color.isin(["red", "blue"]) & (d.score > 0.5),
    ),
    ('$meta["color"] == "green"', None, lambda d: d.color == "green"),
    ("score <= 0.1", None, lambda d: d.score <= 0.1),
    ('color != "red"', None, lambda d: d.color != "red"),
    # template parameters
    ("i32 > {lo} and i32 < {hi}", {"lo": 10, "hi": 20}, lambda d: (d.i32 > 10) & (d.i32 < 20)),
    ("s in {names}", {"names": ["apple", "cherry"]}, lambda d: d.s.isin(["apple", "cherry"])),
    ("id in {ids}", {"ids": [1, 2, 3, 107, 500]}, lambda d: d.id.isin([1, 2, 3, 107, 500])),
    ('meta["k"] == {k}', {"k": 4}, lambda d: d.mk == 4),
    ("d > {x} or b == {flag}", {"x": 1.0, "flag": True}, lambda d: (d.d > 1.0) | d.b),
    ("s like {p}", {"p": "blue%"}, lambda d: d.s.str.startswith("blue")),
]


# --- generated cases ------------------------------------------------------------------------


def _atom(rng: np.random.Generator) -> tuple[str, Ref]:
    ops = ("<", "<=", ">", ">=", "==", "!=")
    pyops: dict[str, Callable[[Any, Any], Any]] = {
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "==": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
    }
    kind = int(rng.integers(0, 7))
    op = ops[int(rng.integers(0, len(ops)))]
    fn = pyops[op]
    if kind == 0:
        field, value = ("i8", "i16", "i32")[int(rng.integers(0, 3))], int(rng.integers(-50, 50))
        return f"{field} {op} {value}", lambda d: fn(d[field], value)
    if kind == 1:
        value = float(rng.integers(-40, 41)) / 4
        return f"f {op} {value}", lambda d: fn(d.f, value)
    if kind == 2:
        value = round(float(rng.standard_normal()), 3)
        return f"d {op} {value}", lambda d: fn(d.d, value)
    if kind == 3:
        word = WORDS[int(rng.integers(0, len(WORDS)))]
        return f's {op} "{word}"', lambda d: fn(d.s, word)
    if kind == 4:
        values = sorted({int(v) for v in rng.integers(0, 50, size=int(rng.integers(1, 6)))})
        neg = bool(rng.integers(0, 2))
        text = f"i32 {'not in' if neg else 'in'} {values}"
        return text, (lambda d: ~d.i32.isin(values)) if neg else (lambda d: d.i32.isin(values))
    if kind == 5:
        lo = int(rng.integers(-1000, 900))
        hi = lo + int(rng.integers(1, 400))
        return f"{lo} <= i16 < {hi}", lambda d: (d.i16 >= lo) & (d.i16 < hi)
    flag = bool(rng.integers(0, 2))
    return f"b == {str(flag).lower()}", lambda d: d.b == flag


def _combine(rng: np.random.Generator, depth: int) -> tuple[str, Ref]:
    if depth == 0 or rng.random() < 0.3:
        return _atom(rng)
    left, lf = _combine(rng, depth - 1)
    right, rf = _combine(rng, depth - 1)
    choice = int(rng.integers(0, 5))
    if choice == 0:
        return f"({left}) and ({right})", lambda d: lf(d) & rf(d)
    if choice == 1:
        return f"({left}) or ({right})", lambda d: lf(d) | rf(d)
    if choice == 2:
        return f"not (({left}) and ({right}))", lambda d: ~(lf(d) & rf(d))
    if choice == 3:
        return f"({left}) && ({right})", lambda d: lf(d) & rf(d)
    return f"({left}) || not ({right})", lambda d: lf(d) | ~rf(d)


def _generated(how_many: int, seed: int = 2024) -> list[tuple[str, dict[str, Any] | None, Ref]]:
    """Random and/or/not trees of random comparisons: the same list on every run."""
    rng = np.random.default_rng(seed)
    cases: list[tuple[str, dict[str, Any] | None, Ref]] = []
    for _ in range(how_many):
        expr, reference = _combine(rng, 3)
        cases.append((expr, None, reference))
    return cases


GENERATED = _generated(30)
ALL_CASES = CASES + GENERATED


def _expected(reference: Ref) -> set[int]:
    mask = reference(DF).fillna(False).astype(bool) & LIVE
    return set(DF["id"][mask].tolist())


@pytest.fixture(scope="module")
def collection(client: MilvusClient) -> str:
    schema = client.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("i8", DataType.INT8)
    schema.add_field("i16", DataType.INT16)
    schema.add_field("i32", DataType.INT32)
    schema.add_field("i64", DataType.INT64)
    schema.add_field("f", DataType.FLOAT)
    schema.add_field("d", DataType.DOUBLE)
    schema.add_field("b", DataType.BOOL)
    schema.add_field("s", DataType.VARCHAR, max_length=32)
    schema.add_field("n", DataType.INT32, nullable=True)
    schema.add_field("meta", DataType.JSON)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="L2")
    create_indexed(client, NAME, schema, index, shards=2)
    client.insert(NAME, ROWS[:FLUSHED])
    client.flush(NAME)
    client.insert(NAME, ROWS[FLUSHED:])
    # Delete by an arithmetic filter on the key: rows in both flushed and growing segments.
    client.delete(NAME, filter="id % 50 == 7")
    assert count(client, NAME) == N - len(DELETED)
    return NAME


def test_reference_cases_are_selective() -> None:
    """Guard the corpus itself: cases select some rows and leave some out."""
    live = N - len(DELETED)
    assert len(ALL_CASES) >= 80
    for expr, _, reference in CASES:
        hits = len(_expected(reference))
        if expr.startswith(("id in", "i64 * 2", "f == ", "i64 > 40")):
            assert hits > 0, expr  # deliberately tiny
            continue
        assert 0 < hits < live, f"{expr!r} selects {hits} rows"
    selective = [e for e, _, r in GENERATED if 0 < len(_expected(r)) < live]
    assert len(selective) >= 20, selective


@pytest.mark.parametrize(("expr", "params", "reference"), ALL_CASES, ids=[c[0] for c in ALL_CASES])
def test_query_matches_reference(
    client: MilvusClient, collection: str, expr: str, params, reference: Ref
) -> None:
    got = client.query(
        collection, filter=expr, output_fields=["id"], filter_params=params or {}, **STRONG
    )
    ids = [r["id"] for r in got]
    assert len(ids) == len(set(ids))
    want = _expected(reference)
    assert set(ids) == want, (
        f"extra {sorted(set(ids) - want)[:10]}, missing {sorted(want - set(ids))[:10]}"
    )


QUERY_VECTOR = np.random.default_rng(5).standard_normal((1, DIM)).astype(np.float32)
BASE = np.array([r["vector"] for r in ROWS], dtype=np.float32)


@pytest.mark.parametrize(("expr", "params", "reference"), ALL_CASES, ids=[c[0] for c in ALL_CASES])
def test_filtered_search_matches_reference(
    client: MilvusClient, collection: str, expr: str, params, reference: Ref
) -> None:
    allowed = np.zeros(N, dtype=bool)
    allowed[sorted(_expected(reference))] = True
    want, _ = brute_force(BASE, QUERY_VECTOR, "L2", 10, allowed)
    result = client.search(
        collection,
        QUERY_VECTOR.tolist(),
        limit=10,
        filter=expr,
        filter_params=params or {},
        **STRONG,
    )
    assert [h["id"] for h in result[0]] == [i for i in want[0].tolist() if i >= 0]


def test_nullable_and_json_values_round_trip(client: MilvusClient, collection: str) -> None:
    keys = [i for i in range(40) if i not in DELETED]
    got = client.query(
        collection,
        filter=f"id in {keys}",
        output_fields=["n", "meta", "color", "score"],
        **STRONG,
    )
    by_id = {r["id"]: r for r in got}
    assert set(by_id) == set(keys)
    for key in keys:
        want, row = ROWS[key], by_id[key]
        assert row["n"] == want["n"]  # None for a null
        assert row["meta"] == want["meta"]
        assert row.get("color") == want.get("color")
        assert row.get("score") == want.get("score")


def test_count_with_filters(client: MilvusClient, collection: str) -> None:
    for expr, params, reference in CASES[:10]:
        got = client.query(
            collection,
            filter=expr,
            filter_params=params or {},
            output_fields=["count(*)"],
            **STRONG,
        )
        assert got[0]["count(*)"] == len(_expected(reference)), expr


# --- bad expressions ------------------------------------------------------------------------

PREFIX = "failed to create query plan: cannot parse expression: "


@pytest.mark.parametrize(
    "expr",
    [
        "i8 >",
        "(i8 > 1",
        "i8 > > 1",
        "i32 in [1, 2",
        "i8 > 1 and",
        's like "a%" or',
        "s > 1",
        'i32 == "x"',
        'b == "yes"',
        "i8 + s > 1",
    ],
)
def test_bad_expressions(client: MilvusClient, collection: str, expr: str) -> None:
    """Syntax and type errors: code 1100 and Milvus's wording around the parser's reason."""
    escaped = re.escape(f"{expr}, error: ")
    for plan, call in (
        ("query", lambda: client.query(collection, filter=expr, **STRONG)),
        ("query", lambda: client.search(collection, QUERY_VECTOR.tolist(), limit=3, filter=expr)),
        ("delete", lambda: client.delete(collection, filter=expr)),
    ):
        pattern = rf"^failed to create {plan} plan: cannot parse expression: {escaped}.+: invalid parameter$"
        with milvus_error(1100, match=pattern, legacy=5):
            call()
    assert count(client, collection) == N - len(DELETED)


@pytest.mark.parametrize(
    ("expr", "why"),
    [
        ("s > 1", "comparisons between VarChar and Int64 are not supported"),
        ('i32 == "x"', "comparisons between Int32 and VarChar are not supported"),
    ],
)
def test_type_mismatch_wording(client: MilvusClient, collection: str, expr: str, why: str) -> None:
    with milvus_error(1100, message=f"{PREFIX}{expr}, error: {why}: invalid parameter"):
        client.query(collection, filter=expr, **STRONG)


@pytest.mark.parametrize(
    ("expr", "params", "why"),
    [
        ("i32 > {lo}", {}, "the value of expression template variable name {lo} is not found"),
        (
            "i32 in {vals}",
            {"vals": 3},
            "the value of term expression template variable {vals} is not array",
        ),
    ],
)
def test_template_errors(client: MilvusClient, collection: str, expr, params, why) -> None:
    with milvus_error(1100, message=f"failed to create query plan: {why}: invalid parameter"):
        client.query(collection, filter=expr, filter_params=params, **STRONG)


def test_template_errors_are_rejected(client: MilvusClient, collection: str) -> None:
    """Whatever the wording: a missing or mistyped template value is a 1100 plan error."""
    for expr, params in (("i32 > {lo}", {}), ("i32 in {vals}", {"vals": 3})):
        with milvus_error(1100, match=r"^failed to create query plan: .*\{(lo|vals)\}"):
            client.query(collection, filter=expr, filter_params=params, **STRONG)


@pytest.mark.parametrize(
    ("lenient", "strict"),
    [
        ("i8 > 1 And i16 < 0", "i8 > 1 and i16 < 0"),
        ('s not like "a%"', 'not (s like "a%")'),
        ("i32 In [1, 2]", "i32 in [1, 2]"),
    ],
)
def test_grammar_is_a_superset(
    client: MilvusClient, collection: str, lenient: str, strict: str
) -> None:
    """Milvus's Plan.g4 lexes keywords only in lower or UPPER case and has no ``not like``;
    Sluice accepts every spelling (docs/decisions.md) and means the same thing."""
    got = client.query(collection, filter=lenient, output_fields=["id"], **STRONG)
    want = client.query(collection, filter=strict, output_fields=["id"], **STRONG)
    assert sorted(r["id"] for r in got) == sorted(r["id"] for r in want)
    assert got


def test_unknown_field_without_dynamic_schema(client: MilvusClient) -> None:
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="L2")
    create_indexed(client, "filters_static", schema, index)
    with milvus_error(
        1100,
        message=PREFIX + "nosuch in [1, 2], error: field nosuch not exist: invalid parameter",
    ):
        client.query("filters_static", filter="nosuch in [1, 2]")
    with milvus_error(
        1100,
        message="failed to create delete plan: cannot parse expression: nosuch > 1, error: "
        "field nosuch not exist: invalid parameter",
    ):
        client.delete("filters_static", filter="nosuch > 1")


def test_unknown_name_is_a_dynamic_key(client: MilvusClient, collection: str) -> None:
    """With a dynamic field, an unknown name reads ``$meta``: no error, and no row has it."""
    assert client.query(collection, filter="nosuch == 1", **STRONG) == []
