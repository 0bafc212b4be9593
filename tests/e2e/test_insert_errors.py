"""Bad inserts: a clear Milvus-style error, and nothing half-written.

The target collection has two shards, so a rejected batch would have been
split across both WALs; after every failure ``count(*)`` (Strong), a query
for the batch's keys and, at the end, the persisted ``row_count`` must be
exactly what they were before.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator

import pytest
from helpers import (
    COLLECTION_NOT_EXISTS,
    ILLEGAL_ARGUMENT,
    RawMilvus,
    count,
    create_indexed,
    int32_field,
    int64_field,
    milvus_error,
    row_count,
    string_field,
    vector_field,
    vectors,
)
from pymilvus import DataType, MilvusClient, MilvusException
from pymilvus.exceptions import DescribeCollectionException
from pymilvus.grpc_gen import schema_pb2

NAME = "strict"
DIM = 8
BASE = 40
#: Keys of every rejected batch start here; none of them may ever become visible.
BAD_START = 1000


def _row(pk: int, vec: list[float], **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "pk": pk,
        "b": pk % 2 == 0,
        "i8": pk % 100,
        "i16": pk,
        "i32": pk * 10,
        "f": pk / 2,
        "d": pk / 4,
        "s": "ab",
        "v": vec,
    }
    row.update(overrides)
    return row


def _batch(start: int, n: int = 40, seed: int = 1) -> list[dict[str, object]]:
    data = vectors(n, DIM, seed)
    return [_row(start + i, data[i].tolist()) for i in range(n)]


def _create(client: MilvusClient, name: str) -> None:
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("b", DataType.BOOL)
    schema.add_field("i8", DataType.INT8)
    schema.add_field("i16", DataType.INT16)
    schema.add_field("i32", DataType.INT32)
    schema.add_field("f", DataType.FLOAT)
    schema.add_field("d", DataType.DOUBLE)
    schema.add_field("s", DataType.VARCHAR, max_length=4)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="L2")
    create_indexed(client, name, schema, index, shards=2)


@pytest.fixture(scope="module")
def strict(client: MilvusClient, raw: RawMilvus) -> Iterator[str]:
    _create(client, NAME)
    assert client.insert(NAME, _batch(0, BASE))["insert_count"] == BASE
    client.flush(NAME)
    # The keys of a 40-row batch land on both shards.
    channels = {s.insert_channel for s in raw.segments(NAME)}
    assert len(channels) == 2
    yield NAME


def _assert_untouched(client: MilvusClient) -> None:
    assert count(client, NAME) == BASE
    leaked = client.query(
        NAME, filter=f"pk >= {BAD_START}", output_fields=["pk"], consistency_level="Strong"
    )
    assert leaked == []


def _raw_columns(start: int, n: int = 40) -> dict[str, schema_pb2.FieldData]:
    """A valid raw Insert for ``n`` rows, one FieldData per field, by name."""
    pks = list(range(start, start + n))
    b = schema_pb2.FieldData(type=schema_pb2.DataType.Bool, field_name="b")
    b.scalars.bool_data.data.extend([k % 2 == 0 for k in pks])
    f = schema_pb2.FieldData(type=schema_pb2.DataType.Float, field_name="f")
    f.scalars.float_data.data.extend([k / 2 for k in pks])
    d = schema_pb2.FieldData(type=schema_pb2.DataType.Double, field_name="d")
    d.scalars.double_data.data.extend([k / 4 for k in pks])
    return {
        "pk": int64_field("pk", pks),
        "b": b,
        "i8": int32_field("i8", [k % 100 for k in pks], schema_pb2.DataType.Int8),
        "i16": int32_field("i16", pks, schema_pb2.DataType.Int16),
        "i32": int32_field("i32", [k * 10 for k in pks]),
        "f": f,
        "d": d,
        "s": string_field("s", ["ab"] * n),
        "v": vector_field("v", vectors(n, DIM, seed=2)),
    }


def test_raw_insert_baseline_is_accepted(raw: RawMilvus, client: MilvusClient) -> None:
    """The raw request builder is valid: the failures below fail for their one defect."""
    _create(client, "strict_twin")
    cols = _raw_columns(BAD_START, 40)
    response = raw.insert("strict_twin", list(cols.values()), 40)
    assert response.status.code == 0, response.status.reason
    assert list(response.IDs.int_id.data) == list(range(BAD_START, BAD_START + 40))
    assert count(client, "strict_twin") == 40


# --- through pymilvus -----------------------------------------------------------------


def _wrong_dim() -> list[dict[str, object]]:
    data = vectors(40, DIM - 1, seed=3)
    return [_row(BAD_START + i, data[i].tolist()) for i in range(40)]


def _mixed_dims() -> list[dict[str, object]]:
    rows = _batch(BAD_START)
    rows[7]["v"] = [0.5] * (DIM + 1)
    return rows


def _long_varchar_bytes() -> list[dict[str, object]]:
    rows = _batch(BAD_START)
    rows[7]["s"] = "ééé"  # 3 characters (pymilvus lets it through), 6 bytes
    return rows


def _int8_overflow() -> list[dict[str, object]]:
    rows = _batch(BAD_START)
    rows[7]["i8"] = 200
    return rows


def _int16_underflow() -> list[dict[str, object]]:
    rows = _batch(BAD_START)
    rows[3]["i16"] = -40000
    return rows


def _nan_vector() -> list[dict[str, object]]:
    rows = _batch(BAD_START)
    rows[5]["v"] = [math.nan] * DIM
    return rows


CASES: dict[str, tuple[Callable[[], list[dict[str, object]]], str | None]] = {
    "wrong_dim": (
        _wrong_dim,
        "the dim (7) of field data(v) is not equal to schema dim (8): "
        "invalid parameter[expected=8][actual=7]",
    ),
    "mixed_dims": (_mixed_dims, None),
    "long_varchar_bytes": (
        _long_varchar_bytes,
        "length of varchar field s exceeds max length, row number: 7, length: 6, "
        "max length: 4: invalid parameter",
    ),
    "int8_overflow": (
        _int8_overflow,
        "the 7th element (200) out of range: [-128, 127]: "
        "invalid parameter[expected=integer doesn't overflow][actual=out of range]",
    ),
    "int16_underflow": (
        _int16_underflow,
        "the 3th element (-40000) out of range: [-32768, 32767]: "
        "invalid parameter[expected=integer doesn't overflow][actual=out of range]",
    ),
    "nan_vector": (_nan_vector, None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_rejected_insert(strict: str, client: MilvusClient, case: str) -> None:
    build, message = CASES[case]
    with pytest.raises(MilvusException) as info:
        client.insert(NAME, build())
    err = info.value
    if message is not None:
        assert (err.code, err.compatible_code) == (1100, ILLEGAL_ARGUMENT)
        assert err.message == message
    else:
        assert err.code != 0
    _assert_untouched(client)


def test_wrong_python_type_is_refused(strict: str, client: MilvusClient) -> None:
    rows = _batch(BAD_START)
    rows[4]["i32"] = "forty"
    with pytest.raises(MilvusException, match="i32"):
        client.insert(NAME, rows)
    _assert_untouched(client)


def test_unknown_collection(strict: str, client: MilvusClient, raw: RawMilvus) -> None:
    with pytest.raises(DescribeCollectionException) as info:
        client.insert("no_such_collection", _batch(BAD_START))
    assert info.value.code == 100
    assert info.value.message == (
        "can't find collection[database=default][collection=no_such_collection]"
    )
    # Without pymilvus's DescribeCollection first, Insert itself answers.
    response = raw.insert("no_such_collection", list(_raw_columns(BAD_START).values()), 40)
    assert response.status.code == 100
    assert response.status.error_code == COLLECTION_NOT_EXISTS
    assert response.status.reason == (
        "collection not found[database=default][collection=no_such_collection]"
    )
    assert "no_such_collection" not in client.list_collections()


# --- raw requests pymilvus would not send -------------------------------------------------


def _missing_field(cols: dict[str, schema_pb2.FieldData]) -> None:
    del cols["f"]


def _string_for_int_labelled_varchar(cols: dict[str, schema_pb2.FieldData]) -> None:
    cols["i32"] = string_field("i32", ["x"] * 40)


def _string_for_int_labelled_int(cols: dict[str, schema_pb2.FieldData]) -> None:
    # Milvus ignores the client's type label and reads the payload the schema asks for.
    cols["i32"] = string_field("i32", ["x"] * 40, dtype=schema_pb2.DataType.Int32)


def _short_column(cols: dict[str, schema_pb2.FieldData]) -> None:
    cols["i32"] = int32_field("i32", list(range(39)))


def _duplicate_column(cols: dict[str, schema_pb2.FieldData]) -> None:
    cols["i32_again"] = int32_field("i32", list(range(40)))


def _unknown_field(cols: dict[str, schema_pb2.FieldData]) -> None:
    cols["zz"] = int32_field("zz", list(range(40)))


def _wrong_dim_raw(cols: dict[str, schema_pb2.FieldData]) -> None:
    cols["v"] = vector_field("v", vectors(40, 4, seed=4))


RAW_CASES: dict[str, tuple[Callable[[dict[str, schema_pb2.FieldData]], None], str]] = {
    "missing_field": (
        _missing_field,
        "fieldSchema(f) has no corresponding fieldData pass in: invalid parameter",
    ),
    "string_for_int_labelled_varchar": (
        _string_for_int_labelled_varchar,
        "field 'i32' is illegal, array type mismatch: "
        "invalid parameter[expected=need int array][actual=got nil]",
    ),
    "string_for_int_labelled_int": (
        _string_for_int_labelled_int,
        "field 'i32' is illegal, array type mismatch: "
        "invalid parameter[expected=need int array][actual=got nil]",
    ),
    "short_column": (
        _short_column,
        "the num_rows (39) of field (i32) is not equal to passed num_rows (40): "
        "invalid parameter[expected=40][actual=39]",
    ),
    "duplicate_column": (_duplicate_column, "duplicated field i32 found: invalid parameter"),
    "unknown_field": (
        _unknown_field,
        "more fieldData has pass in: invalid parameter[expected=9][actual=10]",
    ),
    "wrong_dim": (
        _wrong_dim_raw,
        "the dim (4) of field data(v) is not equal to schema dim (8): "
        "invalid parameter[expected=8][actual=4]",
    ),
}


@pytest.mark.parametrize("case", RAW_CASES)
def test_rejected_raw_insert(strict: str, client: MilvusClient, raw: RawMilvus, case: str):
    mutate, message = RAW_CASES[case]
    cols = _raw_columns(BAD_START)
    mutate(cols)
    response = raw.insert(NAME, list(cols.values()), 40)
    assert (response.status.code, response.status.error_code) == (1100, ILLEGAL_ARGUMENT), (
        response.status.reason
    )
    assert response.status.reason == message
    _assert_untouched(client)


# --- auto_id --------------------------------------------------------------------------------


def test_primary_key_given_with_auto_id(client: MilvusClient) -> None:
    schema = client.create_schema(auto_id=True, enable_dynamic_field=False)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="L2")
    create_indexed(client, "auto_strict", schema, index, shards=2)
    data = vectors(10, DIM)
    ok = client.insert("auto_strict", [{"v": data[i].tolist()} for i in range(10)])
    assert ok["insert_count"] == 10

    with milvus_error(1100, legacy=ILLEGAL_ARGUMENT) as info:
        client.insert("auto_strict", [{"pk": 7, "v": data[i].tolist()} for i in range(10)])
    # Milvus's field-count check: one more column than the schema takes.
    message = info.value.message
    assert message.startswith("more fieldData has pass in: invalid parameter[expected=")
    expected, actual = (int(x) for x in re.findall(r"\[(?:expected|actual)=(\d+)\]", message))
    assert actual == expected + 1
    assert count(client, "auto_strict") == 10
    assert client.query("auto_strict", filter="pk == 7", consistency_level="Strong") == []


# --- at the end: nothing reached storage either ----------------------------------------------


def test_zz_nothing_persisted_after_failures(strict: str, client: MilvusClient) -> None:
    # Runs last in this module: every rejected batch above is absent from disk too.
    client.flush(NAME)
    assert row_count(client, NAME) == BASE
    assert count(client, NAME) == BASE
    # And the collection still takes good data on both shards.
    good = _batch(9000, 20, seed=9)
    assert client.insert(NAME, good)["insert_count"] == 20
    assert count(client, NAME) == BASE + 20
