"""Input a careless or hostile client sends: Milvus's refusal, nothing stored, nothing forged.

- JSON that does not parse (malformed, invalid UTF-8, ``NaN``) in a JSON field or
  the dynamic field is refused at insert, so later reads of the field keep working;
- NaN and infinities in FLOAT/DOUBLE fields, float vectors and query vectors are
  refused with Milvus's ``value 'NaN' is not a number or infinity``;
- field names that are filter keywords or Milvus's own column names are refused;
- a negative search offset gets Milvus's offset message;
- a newline in a name cannot forge a line of the server log.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
from helpers import (
    PLAIN_ERROR,
    RawMilvus,
    SluiceProcess,
    count,
    create_indexed,
    int64_field,
    milvus_error,
    vector_field,
    vectors,
)
from pymilvus import DataType, MilvusClient
from pymilvus.grpc_gen import milvus_pb2, schema_pb2

DIM = 4
JSONY = "jsony"
IO_FAILED = 1001
FIELD_NAME_INVALID = 1701


@pytest.fixture(scope="module")
def jsony(client: MilvusClient) -> Iterator[str]:
    """Two shards, a JSON field, FLOAT and DOUBLE fields and the dynamic field; 10 good rows."""
    schema = client.create_schema(enable_dynamic_field=True)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("doc", DataType.JSON)
    schema.add_field("f", DataType.FLOAT)
    schema.add_field("d", DataType.DOUBLE)
    index = client.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="L2")
    create_indexed(client, JSONY, schema, index, shards=2)
    data = vectors(10, DIM)
    client.insert(
        JSONY,
        [
            {"id": i, "v": data[i].tolist(), "doc": {"k": i}, "f": 0.5, "d": 0.25, "extra": i}
            for i in range(10)
        ],
    )
    yield JSONY


def _raw_rows(doc: list[bytes], meta: list[bytes] | None = None) -> list[schema_pb2.FieldData]:
    n = len(doc)
    fields = [
        int64_field("id", list(range(1000, 1000 + n))),
        vector_field("v", vectors(n, DIM, seed=5)),
    ]
    json_field = schema_pb2.FieldData(type=schema_pb2.DataType.JSON, field_name="doc")
    json_field.scalars.json_data.data.extend(doc)
    fields.append(json_field)
    for name, kind in (("f", "float_data"), ("d", "double_data")):
        fd = schema_pb2.FieldData(
            type=schema_pb2.DataType.Float if kind == "float_data" else schema_pb2.DataType.Double,
            field_name=name,
        )
        getattr(fd.scalars, kind).data.extend([1.0] * n)
        fields.append(fd)
    if meta is not None:
        dynamic = schema_pb2.FieldData(
            type=schema_pb2.DataType.JSON, field_name="$meta", is_dynamic=True
        )
        dynamic.scalars.json_data.data.extend(meta)
        fields.append(dynamic)
    return fields


def _assert_still_readable(client: MilvusClient) -> None:
    assert count(client, JSONY) == 10, "a refused insert stored rows"
    rows = client.query(
        JSONY, filter="id >= 0", output_fields=["doc", "extra"], consistency_level="Strong"
    )
    assert sorted(r["doc"]["k"] for r in rows) == list(range(10))
    assert sorted(r["extra"] for r in rows) == list(range(10))


BAD_JSON = {
    "truncated": b'{"a": 1',
    "invalid_utf8": b'{"a": "\xff\xfe"}',
    "nan": b'{"a": NaN}',
    "infinity": b"[Infinity]",
    "trailing_garbage": b'{"a": 1} x',
    "empty": b"",
    "lone_surrogate": b'"\\ud800"',
}


@pytest.mark.parametrize("case", BAD_JSON)
def test_invalid_json_field_is_refused(
    jsony: str, client: MilvusClient, raw: RawMilvus, case: str
) -> None:
    docs = [b'{"fine": 1}'] * 5
    docs[3] = BAD_JSON[case]
    response = raw.insert(jsony, _raw_rows(docs), 5)
    assert response.status.code == IO_FAILED, response.status.reason
    assert response.status.reason.startswith("IO failed: ")
    _assert_still_readable(client)


@pytest.mark.parametrize("case", BAD_JSON)
def test_invalid_dynamic_field_is_refused(
    jsony: str, client: MilvusClient, raw: RawMilvus, case: str
) -> None:
    meta = [b"{}", b'{"x": 1}', BAD_JSON[case]]
    response = raw.insert(jsony, _raw_rows([b"{}"] * 3, meta), 3)
    assert response.status.code == IO_FAILED, response.status.reason
    _assert_still_readable(client)


@pytest.mark.parametrize(
    ("meta", "code", "reason"),
    [
        (
            b"[1, 2]",
            IO_FAILED,
            "IO failed: json: cannot unmarshal array into Go value of type map[string]interface {}",
        ),
        (
            b'"text"',
            IO_FAILED,
            "IO failed: json: cannot unmarshal string into Go value of type "
            "map[string]interface {}",
        ),
        (b'{"$meta": {"a": 1}}', PLAIN_ERROR, "cannot set json key to: $meta"),
        (
            b'{"doc": 1}',
            PLAIN_ERROR,
            "dynamic field name cannot include the static field name: doc",
        ),
    ],
    ids=["array", "string", "meta_key", "static_name"],
)
def test_dynamic_field_must_be_an_object_of_new_keys(
    jsony: str, client: MilvusClient, raw: RawMilvus, meta: bytes, code: int, reason: str
) -> None:
    response = raw.insert(jsony, _raw_rows([b"{}"], [meta]), 1)
    assert (response.status.code, response.status.reason) == (code, reason)
    _assert_still_readable(client)


def test_any_json_value_is_valid_in_a_json_field(
    jsony: str, client: MilvusClient, raw: RawMilvus
) -> None:
    """Milvus accepts any JSON document in a JSON field, not only objects."""
    docs = [b"[1, 2]", b'"text"', b"3.5", b"null", b'{"k": "\xc3\xa9"}']
    name = "jsony_values"
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("doc", DataType.JSON)
    schema.add_field("f", DataType.FLOAT)
    schema.add_field("d", DataType.DOUBLE)
    index = client.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="L2")
    create_indexed(client, name, schema, index)
    response = raw.insert(name, _raw_rows(docs), len(docs))
    assert response.status.code == 0, response.status.reason
    rows = client.query(name, filter="id >= 0", output_fields=["doc"], consistency_level="Strong")
    assert sorted((r["id"], repr(r["doc"])) for r in rows) == sorted(
        (1000 + i, repr(v)) for i, v in enumerate([[1, 2], "text", 3.5, None, {"k": "é"}])
    )


def test_json_longer_than_milvus_allows_is_refused(jsony: str, raw: RawMilvus) -> None:
    big = b'{"a": "' + b"x" * (64 << 10) + b'"}'
    response = raw.insert(jsony, _raw_rows([b"{}", big]), 2)
    assert response.status.code == 1100
    assert response.status.reason == (
        f"the length ({len(big)}) of json field (doc) exceeds max length (65536): invalid "
        "parameter[expected=valid length json string][actual=length exceeds max length]"
    )


# --- NaN and infinities ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "spelled"),
    [
        ("f", math.nan, "NaN"),
        ("f", math.inf, "+Inf"),
        ("d", -math.inf, "-Inf"),
        ("d", math.nan, "NaN"),
    ],
)
def test_non_finite_scalars_are_refused(
    jsony: str, client: MilvusClient, field: str, value: float, spelled: str
) -> None:
    rows = [{"id": 500 + i, "v": [0.1] * DIM, "doc": {}, "f": 1.0, "d": 1.0} for i in range(3)]
    rows[1][field] = value
    with milvus_error(PLAIN_ERROR, message=f"value '{spelled}' is not a number or infinity"):
        client.insert(jsony, rows)
    _assert_still_readable(client)


def test_non_finite_vector_is_refused(jsony: str, client: MilvusClient) -> None:
    rows = [{"id": 600, "v": [0.1, math.inf, 0.2, 0.3], "doc": {}, "f": 1.0, "d": 1.0}]
    with milvus_error(PLAIN_ERROR, message="value '+Inf' is not a number or infinity"):
        client.insert(jsony, rows)
    _assert_still_readable(client)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_query_vector_is_refused(
    jsony: str, client: MilvusClient, server: SluiceProcess, bad: float
) -> None:
    before = server.log()
    with milvus_error(PLAIN_ERROR, match="is not a number or infinity"):
        client.search(jsony, [[0.1, bad, 0.2, 0.3]], limit=3)
    with milvus_error(PLAIN_ERROR, match="is not a number or infinity"):
        client.search(jsony, [[0.1, 0.2, 0.3, 0.4], [bad, 0.0, 0.0, 0.0]], limit=3)
    new_log = server.log()[len(before) :]
    assert "Traceback" not in new_log and "cannot reshape" not in new_log


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "word", ["and", "like", "in", "not", "or", "true", "False", "NULL", "LIKE", "exists"]
)
def test_filter_keywords_cannot_name_a_field(client: MilvusClient, word: str) -> None:
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field(word, DataType.INT64)
    with milvus_error(
        FIELD_NAME_INVALID,
        message=(
            f"Invalid field name: {word}. {word} is keyword in milvus.: "
            f"field name invalid[field={word}]"
        ),
    ):
        client.create_collection("keyword_field", schema=schema)
    assert not client.has_collection("keyword_field")


@pytest.mark.parametrize("name", ["RowID", "Timestamp", "__virtual_pk__"])
def test_system_column_names_cannot_name_a_field(client: MilvusClient, name: str) -> None:
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field(name, DataType.INT64)
    with milvus_error(
        FIELD_NAME_INVALID,
        message=(
            f'field name "{name}" is reserved for internal use and cannot be used in user '
            f"schemas: field name invalid[field={name}]"
        ),
    ):
        client.create_collection("system_field", schema=schema)


def test_ordinary_names_that_resemble_keywords_are_fine(client: MilvusClient) -> None:
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    for name in ("android", "like_count", "rowid", "timestamp", "Exists", "truth"):
        schema.add_field(name, DataType.INT64)
    client.create_collection("keyword_lookalikes", schema=schema)
    assert client.has_collection("keyword_lookalikes")


def test_a_newline_in_a_name_cannot_forge_a_log_line(server: SluiceProcess, raw: RawMilvus) -> None:
    forged = "2031-01-01 00:00:00,000 ERROR sluice.engine: forged by a client"
    name = f"bad\n{forged}\r\x1b[2J"
    schema = schema_pb2.CollectionSchema(name=name)
    before = len(server.log())
    status = raw.create_collection(name, schema)
    assert status.code != 0
    has = raw.call("HasCollection", milvus_pb2.HasCollectionRequest(collection_name=name))
    assert has.status.code == 1100 and not has.value
    lines = server.log()[before:].splitlines()
    mentioning = [line for line in lines if "forged by a client" in line]
    assert mentioning, "the refused request was logged"
    # Each mention is inside a line the server wrote, with the newline shown as an escape.
    assert all(" failed (request " in line for line in mentioning), mentioning
    assert all("bad\\n2031-01-01" in line for line in mentioning), mentioning
    assert not any(line.startswith("2031-01-01") for line in lines)
    assert not any("\x1b" in line for line in lines)


# --- search window --------------------------------------------------------------------------


def test_negative_search_offset_gets_milvus_message(jsony: str, client: MilvusClient) -> None:
    query = np.full(DIM, 0.5).tolist()
    with milvus_error(
        PLAIN_ERROR,
        message="offset [-1] is invalid, it should be in range [1, 16384], but got -1",
    ):
        client.search(jsony, [query], limit=2, offset=-1)
    with milvus_error(
        PLAIN_ERROR,
        message="offset [16385] is invalid, it should be in range [1, 16384], but got 16385",
    ):
        client.search(jsony, [query], limit=2, offset=16385)
    hits = client.search(jsony, [query], limit=2, offset=1)
    assert len(hits[0]) == 2
