"""text_match / phrase_match in the filter language: binding rules and the index hook."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from sluice.errors import ExpressionError
from sluice.query import IndexLeaf, compile_filter, evaluate
from sluice.query.bound import TextMatch
from sluice.schema import CollectionSchema, DataType, FieldSchema

SCHEMA = CollectionSchema(
    "t",
    (
        FieldSchema("id", DataType.INT64, is_primary=True),
        FieldSchema(
            "body",
            DataType.VARCHAR,
            max_length=100,
            nullable=True,
            type_params={"enable_analyzer": "true", "enable_match": "True"},
        ),
        FieldSchema("plain", DataType.VARCHAR, max_length=100),
    ),
    enable_dynamic_field=True,
)


def test_binding_keeps_query_and_slop() -> None:
    bound = compile_filter("phrase_match(body, 'a b', 3) or TEXT_MATCH(body, \"c\")", SCHEMA)
    assert bound is not None
    assert bound.text_match_fields == {"body"}
    phrase, text = bound.root.children  # type: ignore[union-attr]
    assert phrase == TextMatch(phrase.operand, "a b", 3)
    assert text.slop is None and text.query == "c"
    plain = compile_filter("phrase_match(body, 'x')", SCHEMA)
    assert plain is not None and plain.root.slop == 0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("text_match(plain, 'x')", 'field "plain" does not enable match'),
        ("text_match(id, 'x')", "text match operation on non-string is unsupported"),
        ("phrase_match(dyn, 'x')", "phrase match operation on non-string is unsupported"),
        ("text_match(body, 3)", "the query of text_match must be a string"),
        ("text_match(body)", "text_match takes a field and a string"),
        ("phrase_match(body, 'x', 1, 2)", "phrase_match takes a field and a string"),
        ("phrase_match(body, 'x', id)", '"slop" should be a const integer expression'),
        ("phrase_match(body, 'x', -2)", '"slop" should not be a negative interger'),
        ("phrase_match(body, 'x', 4294967296)", '"slop" exceeds the range of "uint32"'),
        ("text_match(body, 'x') + 1 > 0", "is a boolean expression, not a value"),
    ],
)
def test_refusals(text: str, why: str) -> None:
    with pytest.raises(ExpressionError, match=why):
        compile_filter(text, SCHEMA)


class _Hook:
    def __init__(self) -> None:
        self.leaves: list[IndexLeaf] = []

    def lookup(self, leaf: IndexLeaf, num_rows: int) -> np.ndarray | None:
        self.leaves.append(leaf)
        if leaf.op == "phrase_match":
            return np.array([True, True, False])
        return np.array([False, True, True])


def test_the_hook_answers_and_nulls_stay_invalid() -> None:
    batch = pa.table({"id": [1, 2, 3], "body": ["a", None, "c"], "plain": ["", "", ""]})
    hook = _Hook()
    bound = compile_filter("text_match(body, 'q') and phrase_match(body, 'p', 1)", SCHEMA)
    assert bound is not None
    assert evaluate(bound, batch, index=hook).tolist() == [False, False, False]
    assert [(leaf.op, leaf.operands) for leaf in hook.leaves] == [
        ("text_match", ("q",)),
        ("phrase_match", ("p", 1)),
    ]
    negated = compile_filter("not text_match(body, 'q')", SCHEMA)
    assert negated is not None
    assert evaluate(negated, batch, index=_Hook()).tolist() == [True, False, False]


def test_without_a_hook_the_evaluation_fails_clearly() -> None:
    bound = compile_filter("text_match(body, 'q')", SCHEMA)
    assert bound is not None
    with pytest.raises(ExpressionError, match="no token index answers the match on body"):
        evaluate(bound, pa.table({"body": ["a"]}))
