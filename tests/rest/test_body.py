"""Request bodies are bound like Milvus's gin binding: Go's and the validator's sentences."""

from __future__ import annotations

import pytest

from sluice.errors import RestIncorrectParameterFormat, RestMissingRequiredParameters
from sluice.rest.body import INT, STRINGS, Key, Struct

QUERY = Struct(
    "QueryReqV2",
    (
        Key("collectionName", required=True),
        Key("limit", INT, default=100),
        Key("outputFields", STRINGS, default=["*"]),
    ),
)


def test_defaults_and_unknown_keys() -> None:
    body = QUERY.bind(b'{"collectionName": "c", "surprise": 1}')
    assert body["collectionName"] == "c"
    assert body["limit"] == 100 and body["outputFields"] == ["*"]
    assert body["__raw__"]["surprise"] == 1


def test_missing_required_field() -> None:
    with pytest.raises(RestMissingRequiredParameters) as info:
        QUERY.bind(b'{"limit": 3}')
    assert info.value.code == 1802
    assert info.value.message == (
        "missing required parameters, error: Key: 'QueryReqV2.CollectionName' "
        "Error:Field validation for 'CollectionName' failed on the 'required' tag"
    )


def test_empty_string_fails_required_as_the_validator_does() -> None:
    with pytest.raises(RestMissingRequiredParameters):
        QUERY.bind(b'{"collectionName": ""}')


@pytest.mark.parametrize(
    ("raw", "kind", "field", "go_type"),
    [
        (b'{"collectionName": "c", "limit": "x"}', "string", "limit", "int32"),
        (b'{"collectionName": "c", "limit": true}', "bool", "limit", "int32"),
        (b'{"collectionName": 5}', "number", "collectionName", "string"),
        (b'{"collectionName": "c", "outputFields": [1]}', "array", "outputFields", "[]string"),
    ],
)
def test_wrong_json_types(raw: bytes, kind: str, field: str, go_type: str) -> None:
    with pytest.raises(RestIncorrectParameterFormat) as info:
        QUERY.bind(raw)
    assert info.value.code == 1801
    assert info.value.message == (
        f"can only accept json format request, error: json: cannot unmarshal {kind} into Go "
        f"struct field QueryReqV2.{field} of type {go_type}"
    )


def test_not_json_and_empty_bodies() -> None:
    with pytest.raises(RestIncorrectParameterFormat) as info:
        QUERY.bind(b"")
    assert info.value.message.endswith("the request body should be nil, however {} is valid")
    with pytest.raises(RestIncorrectParameterFormat):
        QUERY.bind(b"{nope")
    with pytest.raises(RestIncorrectParameterFormat) as info:
        QUERY.bind(b"[1]")
    assert "into Go value of type httpserver.QueryReqV2" in info.value.message
