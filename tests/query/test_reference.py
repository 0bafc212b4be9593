"""The vectorised evaluator against an independent row-at-a-time reference.

A hand-written corpus covers each operator and the null / JSON rules
explicitly; hypothesis then builds random boolean combinations of random leaf
predicates (rendered with random keyword spellings and only the parentheses
precedence requires) and checks every one on a table with nulls, NaNs,
every integer width, float32 values and mixed-type JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.query import bind, evaluate, parse

from .filter_reference import (
    WORDS,
    Pair,
    Reference,
    conjoin,
    disjoin,
    make_schema,
    make_table,
    negate,
)

SCHEMA = make_schema()
TABLE = make_table()
REF = Reference(TABLE)
CHUNKED = pa.concat_tables([TABLE.slice(0, 137), TABLE.slice(137)])
BATCH = TABLE.to_batches()[0]

RefFn = Callable[[Reference], Pair]


def check(text: str, expected: Pair) -> None:
    bound = bind(parse(text), SCHEMA)
    mask = evaluate(bound, TABLE)
    assert mask.dtype == np.bool_ and mask.shape == (TABLE.num_rows,)
    want = expected[0]
    bad = np.flatnonzero(mask != want)
    assert bad.size == 0, f"{text!r}: rows {bad[:10].tolist()} differ (got {mask[bad[:10]]})"
    np.testing.assert_array_equal(evaluate(bound, CHUNKED), want)
    np.testing.assert_array_equal(evaluate(bound, BATCH), want)


def q(word: str) -> str:
    """A double-quoted filter literal for ``word``."""
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


CORPUS: list[tuple[str, RefFn]] = [
    ("a > 5", lambda r: r.compare("a", ">", 5)),
    ("a < 1000", lambda r: r.compare("a", "<", 1000)),
    ("a >= -129", lambda r: r.compare("a", ">=", -129)),
    ("a == 300", lambda r: r.compare("a", "==", 300)),
    ("a != 300", lambda r: r.compare("a", "!=", 300)),
    ("b <= 2.5", lambda r: r.compare("b", "<=", 2.5)),
    ("c > -0.5", lambda r: r.compare("c", ">", -0.5)),
    ("d == 3.0", lambda r: r.compare("d", "==", 3)),
    ("d != 3.5", lambda r: r.compare("d", "!=", 3.5)),
    ("d > 99999999999", lambda r: r.compare("d", ">", 99999999999)),
    ("f == 0.1", lambda r: r.compare("f", "==", 0.1)),
    ("f > 2.35", lambda r: r.compare("f", ">", 2.35)),
    ("f != 0.25", lambda r: r.compare("f", "!=", 0.25)),
    ("g < 10", lambda r: r.compare("g", "<", 10)),
    ("g == 10.5", lambda r: r.compare("g", "==", 10.5)),
    ("5 < a", lambda r: r.compare("a", ">", 5)),
    ("-3 >= d", lambda r: r.compare("d", "<=", -3)),
    ('s == "alice"', lambda r: r.compare("s", "==", "alice")),
    ("s > 'b'", lambda r: r.compare("s", ">", "b")),
    ('t <= "carol"', lambda r: r.compare("t", "<=", "carol")),
    ("flag == true", lambda r: r.compare("flag", "==", True)),
    ("flag != True", lambda r: r.compare("flag", "!=", True)),
    ("id in [-100, -97, 5, 200, 3.0, 2.5]", lambda r: r.isin("id", [-100, -97, 5, 200, 3])),
    ("a not in [1, 2, 3]", lambda r: negate(r.isin("a", [1, 2, 3]))),
    ("a in []", lambda r: r.isin("a", [])),
    ("a not in []", lambda r: negate(r.isin("a", []))),
    ('s in ["bob", "a%b", "zzz"]', lambda r: r.isin("s", ["bob", "a%b", "zzz"])),
    ("f in [0.1, 2.25, 1]", lambda r: r.isin("f", [0.1, 2.25, 1])),
    ("g in [10.5, -3]", lambda r: r.isin("g", [10.5, -3])),
    ('s like "a%"', lambda r: r.like("s", "a%")),
    ('s like "a_b"', lambda r: r.like("s", "a_b")),
    ('s like "a\\\\_b"', lambda r: r.like("s", "a\\_b")),
    ('s like "a\\%b"', lambda r: r.like("s", "a\\%b")),
    ('t not like "%b"', lambda r: negate(r.like("t", "%b"))),
    ('s LIKE "x\\\\\\\\y"', lambda r: r.like("s", "x\\\\y")),
    ("a is null", lambda r: r.is_null("a")),
    ("a IS NOT NULL", lambda r: negate(r.is_null("a"))),
    ("t is null or g is null", lambda r: disjoin([r.is_null("t"), r.is_null("g")])),
    ("info is null", lambda r: (np.array([d is None for d in r.info]), np.ones(r.n, bool))),
    ("not (a > 5)", lambda r: negate(r.compare("a", ">", 5))),
    ("not a > 5", lambda r: negate(r.compare("a", ">", 5))),
    (
        "!(a > 5 and g > 0)",
        lambda r: negate(conjoin([r.compare("a", ">", 5), r.compare("g", ">", 0)])),
    ),
    (
        "not (a > 5 or t == 'bob')",
        lambda r: negate(disjoin([r.compare("a", ">", 5), r.compare("t", "==", "bob")])),
    ),
    ("-10 < a <= 10", lambda r: conjoin([r.compare("a", ">", -10), r.compare("a", "<=", 10)])),
    ("10 >= b > -10", lambda r: conjoin([r.compare("b", "<=", 10), r.compare("b", ">", -10)])),
    ('"ab" <= s < "b"', lambda r: conjoin([r.compare("s", ">=", "ab"), r.compare("s", "<", "b")])),
    ("a + 3 > 10", lambda r: r.arith("a", "+", 3, ">", 10)),
    ("a * 2 == 100", lambda r: r.arith("a", "*", 2, "==", 100)),
    ("b / 7 == -3", lambda r: r.arith("b", "/", 7, "==", -3)),
    ("b % 5 == -2", lambda r: r.arith("b", "%", 5, "==", -2)),
    ("d % 4 != 0", lambda r: r.arith("d", "%", 4, "!=", 0)),
    ("c - 10 <= 0", lambda r: r.arith("c", "-", 10, "<=", 0)),
    ("a + 1 > 2.5", lambda r: r.arith("a", "+", 1, ">", 2.5)),
    ("b < c", lambda r: r.compare_fields("b", "<", "c")),
    ("a == b", lambda r: r.compare_fields("a", "==", "b")),
    ("s != t", lambda r: r.compare_fields("s", "!=", "t")),
    ("f >= g", lambda r: r.compare_fields("f", ">=", "g")),
    ("k == 1", lambda r: r.json_compare("$meta", ["k"], "==", 1)),
    ("k == 1.0", lambda r: r.json_compare("$meta", ["k"], "==", 1.0)),
    ('$meta["k"] > 1', lambda r: r.json_compare("$meta", ["k"], ">", 1)),
    ("k != 2", lambda r: r.json_compare("$meta", ["k"], "!=", 2)),
    ("k < 0.5", lambda r: r.json_compare("$meta", ["k"], "<", 0.5)),
    ('k >= "b"', lambda r: r.json_compare("$meta", ["k"], ">=", "b")),
    ("k == true", lambda r: r.json_compare("$meta", ["k"], "==", True)),
    ("not (k > 0)", lambda r: negate(r.json_compare("$meta", ["k"], ">", 0))),
    ('n["x"] >= 0', lambda r: r.json_compare("$meta", ["n", "x"], ">=", 0)),
    ('$meta["n"]["x"] == -1', lambda r: r.json_compare("$meta", ["n", "x"], "==", -1)),
    ('info["x"] < 2', lambda r: r.json_compare("info", ["x"], "<", 2)),
    ('info["x"] != "bob"', lambda r: r.json_compare("info", ["x"], "!=", "bob")),
    ('info["arr"][0] == 1', lambda r: r.json_compare("info", ["arr", 0], "==", 1)),
    ('k in [1, "bob", 2.5, true]', lambda r: r.json_in("$meta", ["k"], [1, "bob", 2.5, True])),
    ("k not in [1, 2]", lambda r: negate(r.json_in("$meta", ["k"], [1, 2]))),
    ('name like "a%"', lambda r: r.json_like("$meta", ["name"], "a%")),
    ('k like "%b"', lambda r: r.json_like("$meta", ["k"], "%b")),
    ("exists k", lambda r: r.json_exists("$meta", ["k"])),
    ("k is null", lambda r: negate(r.json_exists("$meta", ["k"]))),
    ("k is not null", lambda r: r.json_exists("$meta", ["k"])),
    ('info["x"] is null', lambda r: negate(r.json_exists("info", ["x"]))),
    ("json_contains(tags, 2)", lambda r: r.json_contains("$meta", ["tags"], "all", [2])),
    ('json_contains(tags, "red")', lambda r: r.json_contains("$meta", ["tags"], "all", ["red"])),
    (
        "JSON_CONTAINS_ALL(tags, [1, 2])",
        lambda r: r.json_contains("$meta", ["tags"], "all", [1, 2]),
    ),
    (
        'json_contains_any(tags, [5, "blue"])',
        lambda r: r.json_contains("$meta", ["tags"], "any", [5, "blue"]),
    ),
    ('array_contains(info["arr"], 0)', lambda r: r.json_contains("info", ["arr"], "all", [0])),
    ("array_length(tags) == 2", lambda r: r.array_length("$meta", ["tags"], "==", 2)),
    ("array_length(tags) >= 3", lambda r: r.array_length("$meta", ["tags"], ">=", 3)),
    (
        "a > 0 and b < 0 or s == 'bob'",
        lambda r: disjoin(
            [conjoin([r.compare("a", ">", 0), r.compare("b", "<", 0)]), r.compare("s", "==", "bob")]
        ),
    ),
    (
        "a > 0 && (b < 0 || s == 'bob')",
        lambda r: conjoin(
            [r.compare("a", ">", 0), disjoin([r.compare("b", "<", 0), r.compare("s", "==", "bob")])]
        ),
    ),
    (
        "not a > 0 and g > 0",
        lambda r: conjoin([negate(r.compare("a", ">", 0)), r.compare("g", ">", 0)]),
    ),
]


@pytest.mark.parametrize(("text", "expected"), CORPUS, ids=[t for t, _ in CORPUS])
def test_corpus(text: str, expected: RefFn) -> None:
    check(text, expected(REF))


# --- generated expressions ----------------------------------------------------------------


@dataclass(frozen=True)
class Gen:
    """A generated filter: its text, its reference, and its precedence level."""

    text: str
    ref: RefFn
    level: int  # 1 or, 2 and, 3 not, 4 leaf


LEAF = 4
OPS = ["==", "!=", "<", "<=", ">", ">="]
FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}

int_literals = st.one_of(
    st.integers(-130, 130),
    st.integers(-(2**40), 2**40),
    st.sampled_from([0, 127, 128, -128, 10**13]),
)
float_literals = st.sampled_from([-0.5, 2.5, 0.1, 1e20, -1e20, 0.0, 127.0, 128.5, 2.25, -7.75])


def render_number(value: int | float, hexed: bool) -> str:
    if isinstance(value, int) and hexed and value > 0:
        return hex(value)
    return repr(value)


@st.composite
def numeric_compare(draw: st.DrawFn) -> Gen:
    name = draw(st.sampled_from(["a", "b", "c", "d", "id", "f", "g"]))
    op = draw(st.sampled_from(OPS))
    value: int | float = draw(st.one_of(int_literals, float_literals))
    literal = render_number(value, draw(st.booleans()))
    reverse = draw(st.booleans())
    text = f"{literal} {FLIP[op]} {name}" if reverse else f"{name} {op} {literal}"
    return Gen(text, lambda r: r.compare(name, op, value), LEAF)


@st.composite
def string_compare(draw: st.DrawFn) -> Gen:
    name = draw(st.sampled_from(["s", "t"]))
    op = draw(st.sampled_from(OPS))
    word = draw(st.sampled_from([*WORDS, "b", "zz", "a"]))
    return Gen(f"{name} {op} {q(word)}", lambda r: r.compare(name, op, word), LEAF)


@st.composite
def membership(draw: st.DrawFn) -> Gen:
    name = draw(st.sampled_from(["a", "b", "id", "s", "t", "g"]))
    if name in ("s", "t"):
        values: list[object] = draw(st.lists(st.sampled_from(WORDS), max_size=4))
        rendered = ", ".join(q(str(v)) for v in values)
    else:
        numbers = draw(st.lists(st.integers(-110, 110), max_size=5))
        values = [float(v) / 2 if name == "g" else v for v in numbers]
        rendered = ", ".join(repr(v) for v in values)
    negated = draw(st.booleans())
    text = f"{name} {'not in' if negated else 'in'} [{rendered}]"

    def ref(r: Reference) -> Pair:
        pair = r.isin(name, values)
        return negate(pair) if negated else pair

    return Gen(text, ref, LEAF)


@st.composite
def like(draw: st.DrawFn) -> Gen:
    name = draw(st.sampled_from(["s", "t"]))
    pattern = draw(
        st.sampled_from(["a%", "%b", "a_b", "a\\_b", "%", "_", "", "%c%", "Ü%", "x\\\\y", "_o_"])
    )
    keyword = draw(st.sampled_from(["like", "LIKE", "Like"]))
    return Gen(f"{name} {keyword} {q(pattern)}", lambda r: r.like(name, pattern), LEAF)


@st.composite
def null_test(draw: st.DrawFn) -> Gen:
    name = draw(st.sampled_from(["a", "g", "t", "b"]))
    negated = draw(st.booleans())
    keyword = draw(st.sampled_from(["is not null", "IS NOT NULL"])) if negated else "is null"
    text = f"{name} {keyword}"

    def ref(r: Reference) -> Pair:
        pair = r.is_null(name)
        return (~pair[0], pair[1]) if negated else pair

    return Gen(text, ref, LEAF)


@st.composite
def value_range(draw: st.DrawFn) -> Gen:
    name = draw(st.sampled_from(["a", "b", "c", "g"]))
    low, high = sorted(draw(st.lists(st.integers(-150, 150), min_size=2, max_size=2)))
    low_op, high_op = draw(st.sampled_from(["<", "<="])), draw(st.sampled_from(["<", "<="]))
    if low == high and not (low_op == "<=" and high_op == "<="):
        high += 1
    above = ">=" if low_op == "<=" else ">"
    below = "<=" if high_op == "<=" else "<"
    if draw(st.booleans()):
        text = f"{low} {low_op} {name} {high_op} {high}"
    else:
        text = f"{high} {FLIP[high_op]} {name} {FLIP[low_op]} {low}"
    return Gen(
        text, lambda r: conjoin([r.compare(name, above, low), r.compare(name, below, high)]), LEAF
    )


@st.composite
def arithmetic(draw: st.DrawFn) -> Gen:
    name = draw(st.sampled_from(["a", "b", "c", "d"]))
    arith_op = draw(st.sampled_from(["+", "-", "*", "/", "%"]))
    k = draw(st.integers(-7, 7).filter(lambda v: v != 0))
    op = draw(st.sampled_from(OPS))
    literal = draw(st.integers(-60, 60))
    text = f"{name} {arith_op} {render_number(k, False)} {op} {literal}"
    return Gen(text, lambda r: r.arith(name, arith_op, k, op, literal), LEAF)


json_literals = st.one_of(
    st.integers(-5, 5),
    st.sampled_from([-2.5, 0.5, 1.0, 3.5]),
    st.sampled_from(WORDS),
    st.booleans(),
)


def render_json(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return q(value)
    return repr(value)


JSON_PATHS: list[tuple[str, list[str | int], str]] = [
    ("$meta", ["k"], "k"),
    ("$meta", ["k"], '$meta["k"]'),
    ("$meta", ["n", "x"], 'n["x"]'),
    ("$meta", ["name"], "name"),
    ("info", ["x"], 'info["x"]'),
    ("info", ["arr", 1], 'info["arr"][1]'),
]


@st.composite
def json_compare(draw: st.DrawFn) -> Gen:
    column, path, text_path = draw(st.sampled_from(JSON_PATHS))
    value = draw(json_literals)
    op = draw(st.sampled_from(["==", "!="] if isinstance(value, bool) else OPS))
    text = f"{text_path} {op} {render_json(value)}"
    return Gen(text, lambda r: r.json_compare(column, path, op, value), LEAF)


@st.composite
def json_other(draw: st.DrawFn) -> Gen:
    choice = draw(st.integers(0, 4))
    if choice == 0:
        values = draw(st.lists(json_literals, max_size=4))
        text = f"k in [{', '.join(render_json(v) for v in values)}]"
        return Gen(text, lambda r: r.json_in("$meta", ["k"], values), LEAF)
    if choice == 1:
        negated = draw(st.booleans())
        text = "k is not null" if negated else draw(st.sampled_from(["k is null", "not exists k"]))
        if text == "not exists k":
            return Gen(text, lambda r: negate(r.json_exists("$meta", ["k"])), 3)
        return Gen(
            text,
            lambda r: (
                r.json_exists("$meta", ["k"]) if negated else negate(r.json_exists("$meta", ["k"]))
            ),
            LEAF,
        )
    if choice == 2:
        mode = draw(st.sampled_from(["all", "any"]))
        targets = draw(
            st.lists(st.one_of(st.integers(0, 6), st.sampled_from(["red", "blue"])), max_size=3)
        )
        text = f"json_contains_{mode}(tags, [{', '.join(render_json(t) for t in targets)}])"
        return Gen(text, lambda r: r.json_contains("$meta", ["tags"], mode, targets), LEAF)
    if choice == 3:
        target = draw(st.integers(0, 6))
        return Gen(
            f"json_contains(tags, {target})",
            lambda r: r.json_contains("$meta", ["tags"], "all", [target]),
            LEAF,
        )
    op, length = draw(st.sampled_from(OPS)), draw(st.integers(0, 4))
    return Gen(
        f"array_length(tags) {op} {length}",
        lambda r: r.array_length("$meta", ["tags"], op, length),
        LEAF,
    )


leaves = st.one_of(
    numeric_compare(),
    string_compare(),
    membership(),
    like(),
    null_test(),
    value_range(),
    arithmetic(),
    json_compare(),
    json_other(),
)


def wrap(child: Gen, level: int) -> str:
    return child.text if child.level >= level else f"({child.text})"


@st.composite
def negation(draw: st.DrawFn, children: st.SearchStrategy[Gen]) -> Gen:
    child = draw(children)
    keyword = draw(st.sampled_from(["not ", "NOT ", "Not ", "!"]))
    inner = child.text if child.level == LEAF and keyword != "!" else f"({child.text})"
    return Gen(f"{keyword}{inner}", lambda r: negate(child.ref(r)), 3)


@st.composite
def junction(draw: st.DrawFn, children: st.SearchStrategy[Gen], conj: bool) -> Gen:
    parts = draw(st.lists(children, min_size=2, max_size=3))
    level = 2 if conj else 1
    words = ["and", "AND", "&&", "And"] if conj else ["or", "OR", "||", "oR"]
    text = wrap(parts[0], level)
    for part in parts[1:]:
        text += f" {draw(st.sampled_from(words))} {wrap(part, level)}"
    combine = conjoin if conj else disjoin
    return Gen(text, lambda r: combine([p.ref(r) for p in parts]), level)


predicates = st.recursive(
    leaves,
    lambda children: st.one_of(
        negation(children), junction(children, True), junction(children, False)
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(predicates)
def test_generated(gen: Gen) -> None:
    check(gen.text, gen.ref(REF))
