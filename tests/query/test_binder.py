"""Binding: name resolution, type errors worded like Milvus, ``fields`` and ``pk_terms``."""

from __future__ import annotations

import pytest

from sluice.errors import ExpressionError, ParameterInvalid
from sluice.query import bind, compile_filter, parse, pk_terms
from sluice.query.bound import AndPred, Cmp, ColumnRef, Const, JsonRef, NotPred
from sluice.schema import (
    CollectionSchema,
    DataType,
    FieldSchema,
    dynamic_meta_field,
    with_field_ids,
)


def schema(dynamic: bool = True, pk: DataType = DataType.INT64) -> CollectionSchema:
    fields = [
        FieldSchema("id", pk, is_primary=True, max_length=32 if pk == DataType.VARCHAR else None),
        FieldSchema("age", DataType.INT8, nullable=True),
        FieldSchema("n", DataType.INT64),
        FieldSchema("score", DataType.FLOAT),
        FieldSchema("w", DataType.DOUBLE),
        FieldSchema("name", DataType.VARCHAR, max_length=32),
        FieldSchema("flag", DataType.BOOL),
        FieldSchema("info", DataType.JSON, nullable=True),
        FieldSchema("vec", DataType.FLOAT_VECTOR, dim=4),
    ]
    if dynamic:
        fields.append(dynamic_meta_field())
    return CollectionSchema("c", with_field_ids(fields), enable_dynamic_field=dynamic)


DYNAMIC = schema()
STATIC = schema(dynamic=False)


def why(text: str, sch: CollectionSchema = DYNAMIC) -> str:
    with pytest.raises(ExpressionError) as info:
        bind(parse(text), sch)
    assert isinstance(info.value, ParameterInvalid)
    message = info.value.message
    prefix = f"cannot parse expression: {text}, error: "
    assert message.startswith(prefix), message
    return message[len(prefix) :]


# --- names ---------------------------------------------------------------------------------


def test_schema_fields_resolve_to_columns() -> None:
    bound = bind(parse("age > 1"), DYNAMIC)
    assert bound.root == Cmp(">", ColumnRef("age", DataType.INT8, True), Const(1, DataType.INT64))
    assert bound.fields == frozenset({"age"})


def test_unknown_names_are_dynamic_keys() -> None:
    bound = bind(parse('color == "red" and $meta["size"] > 2 and shape["w"][0] < 1'), DYNAMIC)
    assert isinstance(bound.root, AndPred)
    refs = [c.left for c in bound.root.children if isinstance(c, Cmp)]
    assert refs == [
        JsonRef("$meta", ("color",), False, is_meta=True),
        JsonRef("$meta", ("size",), False, is_meta=True),
        JsonRef("$meta", ("shape", "w", 0), False, is_meta=True),
    ]
    assert bound.fields == frozenset({"$meta"})


def test_json_field_paths() -> None:
    bound = bind(parse('info["a"]["b"] == 1'), DYNAMIC)
    assert isinstance(bound.root, Cmp)
    assert bound.root.left == JsonRef("info", ("a", "b"), True)


def test_fields_lists_every_column_read() -> None:
    bound = bind(parse('age > 1 and (name like "a%" or k == 2) and score < n'), DYNAMIC)
    assert bound.fields == frozenset({"age", "name", "$meta", "score", "n"})


def test_unknown_field_without_dynamic_field() -> None:
    assert why("nosuch > 1", STATIC) == "field nosuch not exist"
    assert why('$meta["a"] > 1', STATIC) == "field $meta not exist"


def test_indexing_a_scalar_field() -> None:
    assert why('n["a"] == 1') == "Int64 data type not supported accessed with []"


def test_constant_operand_moves_right() -> None:
    bound = bind(parse("5 < age"), DYNAMIC)
    assert bound.root == Cmp(">", ColumnRef("age", DataType.INT8, True), Const(5, DataType.INT64))


def test_constants_fold_like_milvus() -> None:
    # Go semantics: 7 / 2 == 3 and -6 % 4 == -2 (truncation toward zero).
    folded = bind(parse("n > 7 / 2 + 2 * -3 % 4"), DYNAMIC).root
    assert isinstance(folded, Cmp)
    assert folded.right == Const(1, DataType.INT64)
    assert bind(parse("w > 2 ** -1"), DYNAMIC).root == Cmp(
        ">", ColumnRef("w", DataType.DOUBLE, False), Const(0.5, DataType.DOUBLE)
    )


def test_not_in_and_not_like_are_negations() -> None:
    assert isinstance(bind(parse("n not in [1]"), DYNAMIC).root, NotPred)
    assert isinstance(bind(parse('name not like "a%"'), DYNAMIC).root, NotPred)


def test_range_becomes_two_comparisons() -> None:
    bound = bind(parse("1 < n <= 5"), DYNAMIC)
    col = ColumnRef("n", DataType.INT64, False)
    assert bound.root == AndPred(
        (Cmp(">", col, Const(1, DataType.INT64)), Cmp("<=", col, Const(5, DataType.INT64)))
    )


# --- type errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name > 5", "comparisons between VarChar and Int64 are not supported"),
        ("5 < name", "comparisons between VarChar and Int64 are not supported"),
        ('age == "x"', "comparisons between Int8 and VarChar are not supported"),
        ("flag == 1", "comparisons between Bool and Int64 are not supported"),
        ("score < true", "comparisons between Float and Bool are not supported"),
        ("name == n", "comparisons between VarChar and Int64 are not supported"),
        ("vec > 1", "comparisons between FloatVector and Int64 are not supported"),
        ("n == [1, 2]", "comparisons between Int64 and Array are not supported"),
    ],
)
def test_comparison_type_mismatch(text: str, message: str) -> None:
    assert why(text) == message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("age like 'a%'", "like operation on non-string or no-json field is unsupported"),
        ("name like 5", "the pattern of like must be a string"),
        ("name + 1 > 2", "'add' cannot perform arithmetic between VarChar field and Int64"),
        ("flag * 2 > 1", "'multiply' cannot perform arithmetic between Bool field and Int64"),
        ("score % 2 == 1", "modulo can only apply on integer types"),
        ("n % 2.5 == 1", "modulo can only apply on integer types"),
        ("n / 0 == 1", "division or modulus by zero"),
        ("n % 0 == 1", "division or modulus by zero"),
        ("n > 1 / 0", "cannot divide by zero"),
        ("n > 1 % 0", "cannot modulo by zero"),
        ("n > 1.5 % 2", "modulo can only apply on integer"),
        ("n ** 2 > 1", "power can only apply on constants: n ** 2"),
        ("-name > 1", "unary - can only apply on numbers"),
        ("n > -'x'", "unary minus cannot be applied to VarChar"),
        ("$meta > 1", "field $meta is a whole JSON document"),
        ("k + j > 1", "not supported to do arithmetic operations between multiple fields"),
        ("k + n > 1", "not supported to do arithmetic operations between multiple fields"),
        ("(k + 1) * 2 > 1", "complicated arithmetic operations are not supported"),
        ("k + 'x' > 1", "cannot perform arithmetic between JSON field and VarChar"),
        ("k > n", "two column comparison with JSON type is not supported"),
        ("k == [1]", "comparisons between JSON and Array are not supported"),
        ("k > true", "only == and != can compare JSON values with a bool"),
    ],
)
def test_operator_type_errors(text: str, fragment: str) -> None:
    assert fragment in why(text)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("n in 5", "the right-hand side of 'in' must be a list, but got: 5"),
        ("1 in [1, 2]", "'term' can only be used on non-const expression, but got: 1"),
        ("n + 1 in [1, 2]", "'term' can only be used on single field, but got: n + 1"),
        ("n in [n]", "array element type must be generic value, but got: n"),
        ('n in [1, "a"]', 'value "a" in list cannot be casted to Int64 (field "n")'),
        ("flag in [1]", "value 1 in list cannot be casted to Bool"),
        ("name in [1]", "value 1 in list cannot be casted to VarChar"),
        ("score in [true]", "value true in list cannot be casted to Float"),
        ("k in [[1]]", "nested lists are not supported"),
        ("vec in [1]", "'term' is not supported on vector"),
        ("$meta in [1]", "whole JSON document"),
    ],
)
def test_membership_errors(text: str, fragment: str) -> None:
    assert fragment in why(text)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("1 < n > 0", "both operators must be < / <= or > / >="),
        ("1 == n == 1", "both operators must be < / <= or > / >="),
        ("1 < n + 1 < 3", "range operations are only supported on single fields now, got: n + 1"),
        ("n < age < 3", "lowerbound cannot be a non-const expression: n"),
        ("1 < age < n", "upperbound cannot be a non-const expression: n"),
        ("5 < n < 1", "invalid range: lowerbound is greater than upperbound"),
        ("5 < n <= 5", "invalid range: lowerbound is greater than upperbound"),
        ("1 < name < 2", "comparisons between VarChar and Int64 are not supported"),
        ("true < flag < false", "invalid range operations on boolean expr"),
    ],
)
def test_range_errors(text: str, fragment: str) -> None:
    assert fragment in why(text)


def test_inclusive_single_point_range_is_allowed() -> None:
    bind(parse("5 <= n <= 5"), DYNAMIC)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("flag", "predicate is not a boolean expression: flag, data type: Bool"),
        ("true", "predicate is not a boolean expression: true, data type: Bool"),
        ("n + 1", "predicate is not a boolean expression: n + 1, data type: Int64"),
        ("n > 1 and flag", "'and' can only be used between boolean expressions"),
        ("n > 1 or false", "'or' can only be used between boolean expressions"),
        ("not flag", "not op can only be applied on boolean expression"),
        ("1 < 2", "comparison between two constants is not a filter"),
        ("(n > 1) == true", "is a boolean expression, not a value"),
        ("nope(n) > 1", "function nope is not supported"),
        (
            "json_contains(n, 1)",
            "contains operation are only supported on json or array fields now, got: n",
        ),
        (
            "json_contains(tags, n)",
            "contains operation are only supported explicitly specified element",
        ),
        ("json_contains_all(tags, 1)", "ContainsAll operation element must be an array"),
        ("json_contains_any(tags, 1)", "ContainsAny operation element must be an array"),
        ("json_contains(tags)", "json_contains takes 2 arguments"),
        (
            "array_length(n) > 1",
            "array_length operation are only supported on json or array fields",
        ),
        ("exists n", "exists operations are only supportted on json field, got:Int64"),
        ("exists info", "exists operations are only supportted on json key"),
        ("n + 1 is null", "'is null' can only be used on a field"),
        ("n + 1 like 'a'", "like operation on complicated expr is unsupported"),
    ],
)
def test_structural_errors(text: str, fragment: str) -> None:
    assert fragment in why(text)


def test_integer_fields_compare_with_floats() -> None:
    bind(parse("age > 1.5 and n in [1.0, 2.5] and 0.5 < age < 10.5"), DYNAMIC)


# --- compile_filter and pk_terms -------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t", None])
def test_empty_filters_compile_to_none(text: str | None) -> None:
    assert compile_filter(text, DYNAMIC) is None


def test_compile_filter_with_params() -> None:
    bound = compile_filter("n > {x}", DYNAMIC, {"x": 3})
    assert bound is not None and bound.root == Cmp(
        ">", ColumnRef("n", DataType.INT64, False), Const(3, DataType.INT64)
    )


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("id in [3, 1, 2]", [3, 1, 2]),
        ("id == 7", [7]),
        ("7 == id", [7]),
        ("id == 7.0", [7]),
        ("id == 7.5", []),
        ("id in []", []),
        ("id in [1, 2] or id == 3 or id in [2, 4]", [1, 2, 3, 4]),
        ("id in [1, 1.0, 2.5]", [1]),
        ("id IN {ids}", [5, 6]),
    ],
)
def test_pk_terms_int(text: str, keys: list[int]) -> None:
    bound = bind(parse(text, {"ids": [5, 6]}), DYNAMIC)
    assert pk_terms(bound, DYNAMIC) == keys


@pytest.mark.parametrize(
    "text",
    [
        "id not in [1]",
        "id != 1",
        "id > 1",
        "id in [1] and n > 2",
        "id in [1] or n == 2",
        "n in [1]",
        "not (id in [1])",
        "1 < id < 3",
    ],
)
def test_pk_terms_none(text: str) -> None:
    assert pk_terms(bind(parse(text), DYNAMIC), DYNAMIC) is None


def test_pk_terms_varchar() -> None:
    sch = schema(pk=DataType.VARCHAR)
    bound = bind(parse('id in ["a", "b"] or id == "c" or id == "a"'), sch)
    assert pk_terms(bound, sch) == ["a", "b", "c"]


def test_deep_nesting_is_an_expression_error() -> None:
    assert why("not " * 5000 + "n > 1") == "expression is nested too deeply"
    assert why("n > " + "(" * 2000 + "1" + " + 1)" * 2000) == "expression is nested too deeply"
