"""JSON rows <-> FieldData as Milvus's REST layer converts them."""

from __future__ import annotations

import orjson
import pytest
from pymilvus.grpc_gen import common_pb2, schema_pb2

from sluice.errors import RestIncorrectParameterFormat, RestInvalidInsertData
from sluice.rest.rows import columns_from_rows, placeholder_group, rows_from_columns

DT = schema_pb2.DataType


def schema(*, dynamic: bool = True, auto_id: bool = False) -> schema_pb2.CollectionSchema:
    dim = common_pb2.KeyValuePair(key="dim", value="2")
    return schema_pb2.CollectionSchema(
        name="c",
        enable_dynamic_field=dynamic,
        fields=[
            schema_pb2.FieldSchema(
                name="id", data_type=DT.Int64, is_primary_key=True, autoID=auto_id
            ),
            schema_pb2.FieldSchema(name="v", data_type=DT.FloatVector, type_params=[dim]),
            schema_pb2.FieldSchema(name="tag", data_type=DT.VarChar, nullable=True),
        ],
    )


def test_rows_become_columns_and_extras_go_to_meta() -> None:
    rows = [{"id": 1, "v": [0.5, 1.0], "tag": "a", "x": 7}, {"id": 2, "v": [1, 2], "tag": None}]
    columns = {
        c.field_name or "$meta": c for c in columns_from_rows(schema(), rows, inserting=True)
    }
    assert list(columns["id"].scalars.long_data.data) == [1, 2]
    assert list(columns["v"].vectors.float_vector.data) == [0.5, 1.0, 1.0, 2.0]
    assert list(columns["tag"].valid_data) == [True, False]
    assert list(columns["tag"].scalars.string_data.data) == ["a"]
    docs = [orjson.loads(d) for d in columns["$meta"].scalars.json_data.data]
    assert docs == [{"x": 7}, {}]


@pytest.mark.parametrize(
    ("rows", "kwargs", "fragment"),
    [
        ([{"id": 1}], {}, "missing vector field: v"),
        ([{"id": 1, "v": [1.0]}], {}, "[]float32 size 1 doesn't equal to vector dimension 2"),
        ([{"id": "x", "v": [1, 2]}], {}, 'unable to cast "x" to Int64'),
        ([{"v": [1, 2]}], {}, "row 0 does not has field id"),
        ([{"id": 1, "v": [1, 2], "x": 1}], {"dynamic": False}, "has pass more field"),
        ([{"id": 1, "v": [1, 2]}], {"auto_id": True}, "no need to pass pk field(id)"),
        ([{"id": 1, "v": [1, 2], "$meta": {}}], {}, "use the invalid field name($meta)"),
    ],
)
def test_insert_data_refusals(rows: list, kwargs: dict, fragment: str) -> None:
    with pytest.raises(RestInvalidInsertData) as info:
        columns_from_rows(schema(**kwargs), rows, inserting=True)
    assert info.value.code == 1804
    assert info.value.message.startswith("fail to deal the insert data, error: ")
    assert fragment in info.value.message


def test_placeholder_group_checks_dimensions() -> None:
    group = common_pb2.PlaceholderGroup.FromString(placeholder_group(schema(), "", [[1.0, 2.0]]))
    assert group.placeholders[0].type == common_pb2.PlaceholderType.FloatVector
    assert len(group.placeholders[0].values[0]) == 8
    with pytest.raises(RestIncorrectParameterFormat) as info:
        placeholder_group(schema(), "", [[1.0]])
    assert "dimension: 2, but length of []float: 1" in info.value.message
    with pytest.raises(RestIncorrectParameterFormat) as info:
        placeholder_group(schema(), "nope", [[1.0, 2.0]])
    assert info.value.message.endswith("cannot find a vector field named: nope")


def test_columns_become_rows_like_build_query_resp() -> None:
    pk = schema_pb2.FieldData(type=DT.Int64, field_name="id")
    pk.scalars.long_data.data.extend([5, 6])
    tag = schema_pb2.FieldData(type=DT.VarChar, field_name="tag", valid_data=[True, False])
    tag.scalars.string_data.data.extend(["a", ""])
    meta = schema_pb2.FieldData(type=DT.JSON, field_name="$meta", is_dynamic=True)
    meta.scalars.json_data.data.extend([b'{"x": 1, "y": 2}', b'{"x": 3}'])
    rows = rows_from_columns([pk, tag, meta], ["id", "tag", "x"])
    assert rows == [{"id": 5, "tag": "a", "x": 1}, {"id": 6, "tag": None, "x": 3}]
    as_text = rows_from_columns([pk], ["id"], int64_as_number=False)
    assert as_text == [{"id": "5"}, {"id": "6"}]
    ids = schema_pb2.IDs()
    ids.int_id.data.extend([5, 6])
    hits = rows_from_columns([], [], ids=ids, scores=[0.5, 0.25])
    assert hits == [{"id": 5, "distance": 0.5}, {"id": 6, "distance": 0.25}]
