"""Parsing: precedence, keywords in any case, every operator, literals, templates, syntax errors."""

from __future__ import annotations

import numpy as np
import pytest

from sluice.errors import ExpressionError
from sluice.query import ast, parse
from sluice.query.ast import (
    And,
    Arith,
    Call,
    Chain,
    Compare,
    Exists,
    Identifier,
    In,
    IsNull,
    Like,
    ListLiteral,
    Literal,
    Not,
    Or,
    Unary,
)


def root(text: str, params: dict[str, object] | None = None) -> ast.Node:
    return parse(text, params).root


def rhs(text: str) -> ast.Node:
    node = root(text)
    assert isinstance(node, Compare | In), node
    return node.right if isinstance(node, Compare) else node.values


def lhs(text: str) -> ast.Node:
    node = root(text)
    assert isinstance(node, Compare), node
    return node.left


def ident(name: str, *path: str | int) -> Identifier:
    return Identifier(name, tuple(path))


def cmp(name: str, op: str, value: ast.Scalar) -> Compare:
    return Compare(op, ident(name), Literal(value))


def why(text: str, params: dict[str, object] | None = None) -> str:
    with pytest.raises(ExpressionError) as info:
        parse(text, params)
    message = info.value.message
    prefix = f"cannot parse expression: {text}, error: "
    assert message.startswith(prefix)
    return message[len(prefix) :]


# --- precedence -----------------------------------------------------------------------------


def test_and_binds_tighter_than_or() -> None:
    assert root("a == 1 or b == 2 and c == 3") == Or(
        (cmp("a", "==", 1), And((cmp("b", "==", 2), cmp("c", "==", 3))))
    )


def test_parentheses_override_precedence() -> None:
    assert root("(a == 1 or b == 2) and c == 3") == And(
        (Or((cmp("a", "==", 1), cmp("b", "==", 2))), cmp("c", "==", 3))
    )


def test_chains_of_and_and_or_are_flattened() -> None:
    assert root("a > 1 and b > 2 && c > 3") == And(
        (cmp("a", ">", 1), cmp("b", ">", 2), cmp("c", ">", 3))
    )
    assert root("a > 1 or b > 2 || c > 3") == Or(
        (cmp("a", ">", 1), cmp("b", ">", 2), cmp("c", ">", 3))
    )


def test_not_negates_the_whole_comparison() -> None:
    assert root("not a > 1") == Not(cmp("a", ">", 1))
    assert root("!a in [1]") == Not(In(ident("a"), ListLiteral((Literal(1),))))
    assert root("not a > 1 and b < 2") == And((Not(cmp("a", ">", 1)), cmp("b", "<", 2)))
    assert root("not not a > 1") == Not(Not(cmp("a", ">", 1)))


def test_arithmetic_precedence_and_associativity() -> None:
    one, two, three = Literal(1), Literal(2), Literal(3)
    assert rhs("a == 1 + 2 * 3") == Arith("+", one, Arith("*", two, three))
    assert rhs("a == 1 - 2 - 3") == Arith("-", Arith("-", one, two), three)
    assert rhs("a == (1 + 2) % 3") == Arith("%", Arith("+", one, two), three)
    # ** binds tighter than unary minus and, as in Milvus, associates to the left.
    assert rhs("a == -2 ** 2") == Unary("-", Arith("**", two, two))
    assert rhs("a == 2 ** 3 ** 2") == Arith("**", Arith("**", two, three), two)
    assert rhs("a == 2 ** -1") == Arith("**", two, Unary("-", one))
    assert lhs("a * -b > 1") == Arith("*", ident("a"), Unary("-", ident("b")))


def test_arithmetic_binds_tighter_than_comparison() -> None:
    assert root("a + 1 > b * 2") == Compare(
        ">", Arith("+", ident("a"), Literal(1)), Arith("*", ident("b"), Literal(2))
    )


# --- keywords ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["a > 1 and b < 2", "a > 1 AND b < 2", "a > 1 And b < 2", "a > 1 aNd b < 2", "a > 1 && b < 2"],
)
def test_and_spellings(text: str) -> None:
    assert root(text) == And((cmp("a", ">", 1), cmp("b", "<", 2)))


@pytest.mark.parametrize(
    "text", ["a > 1 or b < 2", "a > 1 OR b < 2", "a > 1 Or b < 2", "a > 1 || b < 2"]
)
def test_or_spellings(text: str) -> None:
    assert root(text) == Or((cmp("a", ">", 1), cmp("b", "<", 2)))


@pytest.mark.parametrize("text", ["not a > 1", "NOT a > 1", "Not a > 1", "!a > 1", "! a > 1"])
def test_not_spellings(text: str) -> None:
    assert root(text) == Not(cmp("a", ">", 1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a in [1]", In(ident("a"), ListLiteral((Literal(1),)))),
        ("a IN [1]", In(ident("a"), ListLiteral((Literal(1),)))),
        ("a not in [1]", In(ident("a"), ListLiteral((Literal(1),)), negated=True)),
        ("a NOT IN [1]", In(ident("a"), ListLiteral((Literal(1),)), negated=True)),
        ("a Not In [1]", In(ident("a"), ListLiteral((Literal(1),)), negated=True)),
        ('a like "x%"', Like(ident("a"), Literal("x%"))),
        ('a LIKE "x%"', Like(ident("a"), Literal("x%"))),
        ('a not like "x%"', Like(ident("a"), Literal("x%"), negated=True)),
        ('a NOT LIKE "x%"', Like(ident("a"), Literal("x%"), negated=True)),
        ("a is null", IsNull(ident("a"))),
        ("a IS NULL", IsNull(ident("a"))),
        ("a Is Null", IsNull(ident("a"))),
        ("a is not null", IsNull(ident("a"), negated=True)),
        ("a IS NOT NULL", IsNull(ident("a"), negated=True)),
        ('exists m["k"]', Exists(ident("m", "k"))),
        ('EXISTS m["k"]', Exists(ident("m", "k"))),
    ],
)
def test_keyword_operators_any_case(text: str, expected: ast.Node) -> None:
    assert root(text) == expected


@pytest.mark.parametrize(
    ("word", "value"),
    [
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("tRuE", True),
        ("false", False),
        ("FALSE", False),
    ],
)
def test_boolean_literals(word: str, value: bool) -> None:
    assert root(f"a == {word}") == cmp("a", "==", value)


@pytest.mark.parametrize(
    "name",
    [
        "order",
        "notes",
        "island",
        "isnull_x",
        "likes",
        "true_value",
        "android",
        "nullable",
        "existsx",
    ],
)
def test_identifiers_may_start_with_keywords(name: str) -> None:
    assert root(f"{name} > 1") == cmp(name, ">", 1)


# --- operators and operands ----------------------------------------------------------------


@pytest.mark.parametrize("op", ["==", "!=", "<", "<=", ">", ">="])
def test_comparison_operators(op: str) -> None:
    assert root(f"a {op} 1") == cmp("a", op, 1)
    assert root(f"a{op}1") == cmp("a", op, 1)


@pytest.mark.parametrize("op", ["+", "-", "*", "/", "%", "**"])
def test_arithmetic_operators(op: str) -> None:
    assert root(f"a {op} 2 == 3") == Compare("==", Arith(op, ident("a"), Literal(2)), Literal(3))


def test_chained_ranges() -> None:
    assert root("1 < a <= 3") == Chain(("<", "<="), (Literal(1), ident("a"), Literal(3)))
    assert root("3 >= a > 1") == Chain((">=", ">"), (Literal(3), ident("a"), Literal(1)))


def test_json_paths() -> None:
    assert lhs('info["a"]["b"] == 1') == ident("info", "a", "b")
    assert lhs("info['a'][0] == 1") == ident("info", "a", 0)
    assert lhs('$meta["a"] == 1') == ident("$meta", "a")
    assert lhs('info [ "a" ] == 1') == ident("info", "a")


def test_lists() -> None:
    assert rhs("a in []") == ListLiteral(())
    assert rhs("a in [1, 2, 3,]") == ListLiteral((Literal(1), Literal(2), Literal(3)))
    nested = root('json_contains(t, [1, ["x"]])')
    assert nested == Call(
        "json_contains", (ident("t"), ListLiteral((Literal(1), ListLiteral((Literal("x"),)))))
    )


def test_function_names_are_lower_cased() -> None:
    assert root("JSON_CONTAINS(t, 1)") == Call("json_contains", (ident("t"), Literal(1)))
    assert lhs("Array_Length(t) == 1") == Call("array_length", (ident("t"),))


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("42", 42),
        ("0", 0),
        ("0x1F", 31),
        ("0XfF", 255),
        ("017", 15),
        ("0b101", 5),
        ("9223372036854775807", 2**63 - 1),
        ("1.5", 1.5),
        ("1.", 1.0),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("2.5E-2", 0.025),
        ("0x1.8p1", 3.0),
    ],
)
def test_number_literals(literal: str, value: float) -> None:
    parsed = rhs(f"a == {literal}")
    assert isinstance(parsed, Literal)
    assert parsed.value == value and type(parsed.value) is type(value)


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ('"plain"', "plain"),
        ("'single'", "single"),
        ('"it\'s"', "it's"),
        ("'say \"hi\"'", 'say "hi"'),
        ('"a\\"b"', 'a"b'),
        ("'a\\'b'", "a'b"),
        ('"tab\\tnew\\nline"', "tab\tnew\nline"),
        ('"back\\\\slash"', "back\\slash"),
        ('"\\x41\\u00e9\\U0001F600\\101"', "Aé😀A"),
        ('"100\\%"', "100\\%"),
        ('"中文"', "中文"),
        ('r"a\\b"', "a\\b"),
        ("R'x\\%'", "x\\%"),
        ('""', ""),
    ],
)
def test_string_literals(literal: str, value: str) -> None:
    assert root(f"s == {literal}") == cmp("s", "==", value)


def test_whitespace_and_newlines_are_ignored() -> None:
    assert root("  a >\n 1\tand\r\nb < 2 ") == And((cmp("a", ">", 1), cmp("b", "<", 2)))


def test_spans_point_into_the_text() -> None:
    text = 'x > 1 and info["a"] == "q"'
    node = root(text)
    assert isinstance(node, And)
    second = node.operands[1]
    assert text[second.span[0] : second.span[1]] == 'info["a"] == "q"'


def test_parses_are_cached() -> None:
    assert parse("cached_field > 1") is parse("cached_field > 1")


# --- templates -----------------------------------------------------------------------------


def test_template_values_are_substituted() -> None:
    params = {"lo": 5, "name": "bob", "ids": [1, 2], "ok": True, "f": 0.5}
    filled = root("a > {lo} and s == {name} and id in {ids} and b == {ok} and c < {f}", params)
    assert filled == root('a > 5 and s == "bob" and id in [1, 2] and b == true and c < 0.5')


def test_templates_accept_numpy_values_and_tuples() -> None:
    assert root("a in {v}", {"v": np.array([1, 2])}) == root("a in [1, 2]")
    assert root("a == {v}", {"v": np.int64(7)}) == root("a == 7")
    assert root("a in {v}", {"v": (1.5, "x")}) == root('a in [1.5, "x"]')


def test_one_cached_parse_serves_many_parameter_sets() -> None:
    assert root("a > {x}", {"x": 1}) == cmp("a", ">", 1)
    assert root("a > {x}", {"x": 2}) == cmp("a", ">", 2)


def template_why(text: str, params: dict[str, object] | None = None) -> str:
    """Template errors come unwrapped, as Milvus's FillExpressionValue reports them."""
    with pytest.raises(ExpressionError) as info:
        parse(text, params)
    assert not info.value.message.startswith("cannot parse expression")
    return info.value.message


def test_missing_template_parameter_is_named() -> None:
    expected = "the value of expression template variable name {lo} is not found"
    assert template_why("a > {lo}", {"hi": 1}) == expected
    assert template_why("a > {lo}") == expected


def test_term_template_must_be_a_list() -> None:
    assert template_why("a in {v}", {"v": 3}) == (
        "the value of term expression template variable {v} is not array"
    )


def test_unsupported_template_value() -> None:
    assert "{v}" in template_why("a == {v}", {"v": object()})
    assert "{v}" in template_why("a == {v}", {"v": 2**70})


# --- syntax errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a > > 1", 'syntax error at column 5 near ">"'),
        ("age > 10 and < 5", 'syntax error at column 14 near "<"'),
        ("a a", 'syntax error at column 3 near "a"'),
        ("a @ 1", 'syntax error at column 3 near "@"'),
        ("a > 1 2", 'syntax error at column 7 near "2"'),
        ("a > 1 AND OR b", 'syntax error at column 11 near "OR"'),
        ("a == 08", 'syntax error at column 7 near "8"'),
        ("a < b < c < d", 'syntax error at column 11 near "<"'),
        ("a > 1 )", 'syntax error at column 7 near ")"'),
        ("a > 1 <<", 'syntax error at column 8 near "<"'),
        ("and > 1", 'syntax error at column 1 near "and"'),
        ("a > 1 and or > 2", 'syntax error at column 11 near "or"'),
    ],
)
def test_syntax_errors_name_column_and_token(text: str, message: str) -> None:
    assert why(text) == message


@pytest.mark.parametrize("text", ["a > ", "(a > 1", "a in [1, 2", "not", 'a == "unterminated'])
def test_truncated_input(text: str) -> None:
    message = why(text)
    assert message.startswith("syntax error at column")


def test_unterminated_string_points_at_the_quote() -> None:
    assert why('a == "abc') == 'syntax error at column 6 near ""abc"'


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a > 99999999999999999999", "out of the int64 range"),
        ("a > 1e999", "out of range"),
        ('s == "\\uD800"', "invalid escape"),
        ('m[""] == 1', "invalid identifier"),
        ("m[01] == 1", "json key"),
    ],
)
def test_bad_literals(text: str, fragment: str) -> None:
    assert fragment in why(text)


def test_non_string_input_is_rejected() -> None:
    with pytest.raises(ExpressionError):
        parse(123)  # type: ignore[arg-type]


def test_deep_nesting_is_an_expression_error() -> None:
    assert why("not " * 5000 + "a > {x}", {"x": 1}) == "expression is nested too deeply"


def test_redundant_parentheses_and_long_disjunctions_are_fine() -> None:
    assert root("(" * 2000 + "a > 1" + ")" * 2000) == cmp("a", ">", 1)
    wide = root(" or ".join(f"a == {i}" for i in range(5000)))
    assert isinstance(wide, Or) and len(wide.operands) == 5000


def test_only_ascii_digits_are_numbers() -> None:
    assert why("a == 1\u0663") == 'syntax error at column 7 near "\u0663"'
