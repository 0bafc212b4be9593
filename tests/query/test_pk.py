"""Primary-key filters recognised without the parser agree with parsing them."""

from __future__ import annotations

import numpy as np
import pytest

from sluice.query import compile_filter, pk_list_terms, pk_terms
from sluice.schema import CollectionSchema, DataType, FieldSchema

INTS = CollectionSchema(
    "c",
    (
        FieldSchema("id", DataType.INT64, field_id=100, is_primary=True),
        FieldSchema("x", DataType.INT64, field_id=101),
    ),
)
STRINGS = CollectionSchema(
    "c",
    (
        FieldSchema("pk", DataType.VARCHAR, field_id=100, is_primary=True, max_length=64),
        FieldSchema("x", DataType.INT64, field_id=101),
    ),
)


def _parsed(text: str, schema: CollectionSchema) -> object:
    try:
        bound = compile_filter(text, schema)
    except Exception as exc:  # the fast path must then decline
        return type(exc).__name__
    return None if bound is None else pk_terms(bound, schema)


@pytest.mark.parametrize(
    ("schema", "text", "keys"),
    [
        (INTS, "id in [1,2,3]", [1, 2, 3]),
        (INTS, " id IN[ -5 , 5,5 ]\n", [-5, 5]),
        (INTS, "id in [9223372036854775807]", [9223372036854775807]),
        (STRINGS, "pk in ['a','b,c', \"say 'hi'\"]", ["a", "b,c", "say 'hi'"]),
        (STRINGS, "pk in ['', 'a', 'a']", ["", "a"]),
    ],
)
def test_plain_lists_are_recognised(schema: CollectionSchema, text: str, keys: list) -> None:
    assert pk_list_terms(text, schema) == keys == _parsed(text, schema)


@pytest.mark.parametrize(
    ("schema", "text"),
    [
        (INTS, "id in [007]"),  # octal in the grammar
        (INTS, "id in [0x10]"),
        (INTS, "id in []"),
        (INTS, "id in [1,]"),
        (INTS, "id in [9223372036854775808]"),
        (INTS, "id in ['a']"),
        (INTS, "x in [1]"),
        (INTS, "id in [1] or x > 2"),
        (INTS, "id in [1] or id in [2]"),
        (INTS, "idin [1]"),
        (STRINGS, "pk in ['a\\'b']"),
        (STRINGS, "pk in [1]"),
    ],
)
def test_other_texts_are_left_to_the_parser(schema: CollectionSchema, text: str) -> None:
    assert pk_list_terms(text, schema) is None


def test_random_lists_agree_with_the_parser() -> None:
    rng = np.random.default_rng(5)
    for _ in range(300):
        items = [str(int(v)) for v in rng.integers(-(10**6), 10**6, size=rng.integers(1, 6))]
        glue = [", ", ",", " , ", "\n,"][int(rng.integers(0, 4))]
        text = f"id in [{glue.join(items)}]"
        assert pk_list_terms(text, INTS) == _parsed(text, INTS)
