"""A JSON index's ``json_path``, resolved as a filter resolves the same text."""

from __future__ import annotations

import pytest

from sluice.errors import RequestError
from sluice.query import resolve_identifier
from sluice.schema import CollectionSchema, DataType, FieldSchema, dynamic_meta_field

DYNAMIC = CollectionSchema(
    "c",
    (
        FieldSchema("id", DataType.INT64, field_id=100, is_primary=True),
        FieldSchema("meta", DataType.JSON, field_id=101),
        FieldSchema("n", DataType.INT64, field_id=102),
        dynamic_meta_field(),
    ),
    enable_dynamic_field=True,
)
STATIC = CollectionSchema(
    "c",
    (
        FieldSchema("id", DataType.INT64, field_id=100, is_primary=True),
        FieldSchema("meta", DataType.JSON, field_id=101),
    ),
)


@pytest.mark.parametrize(
    ("text", "column", "path", "is_meta"),
    [
        ("meta", "meta", (), False),
        ("meta['a']['b']", "meta", ("a", "b"), False),
        ('meta["a"][0]', "meta", ("a", 0), False),
        ("k", "$meta", ("k",), True),
        ("k['x'][2]", "$meta", ("k", "x", 2), True),
        ('$meta["k"]', "$meta", ("k",), True),
    ],
)
def test_paths_resolve_like_filters(text: str, column: str, path: tuple, is_meta: bool) -> None:
    found = resolve_identifier(text, DYNAMIC)
    assert (found.column, found.path, found.is_meta, found.is_json) == (column, path, is_meta, True)


def test_a_plain_field_is_no_json_path() -> None:
    found = resolve_identifier("n", DYNAMIC)
    assert (found.column, found.path, found.is_json) == ("n", (), False)


@pytest.mark.parametrize(
    ("schema", "text", "message"),
    [
        (DYNAMIC, "1", "cannot parse identifier: 1"),
        (DYNAMIC, "1.0", "cannot parse identifier: 1.0"),
        (DYNAMIC, "/", "cannot parse identifier: /, error: line 1:0 mismatched input '/'"),
        (DYNAMIC, "meta['a'] + 1", "cannot parse identifier: meta['a'] + 1"),
        (STATIC, "nope['a']", "cannot parse identifier: nope['a'], error: field nope not exist"),
    ],
)
def test_errors_are_milvus_plain_errors(schema: CollectionSchema, text: str, message: str) -> None:
    with pytest.raises(RequestError) as info:
        resolve_identifier(text, schema)
    assert info.value.code == 65535
    assert info.value.message == message
