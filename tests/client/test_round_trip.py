"""The client interface end to end, the same assertions in embedded and remote mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sluice
from sluice.client import Client, IndexParam
from sluice.errors import (
    CollectionNotFound,
    CollectionNotLoaded,
    ParameterInvalid,
    RequestError,
    SluiceError,
)
from sluice.schema import CollectionSchema, DataType, FieldSchema
from tests.conftest import SluiceProcess

DIM = 4


def rows(start: int, stop: int) -> list[dict]:
    return [
        {"id": i, "vector": [float(i), 1.0, 0.5, 0.25], "color": f"c{i}", "n": i * 1.5}
        for i in range(start, stop)
    ]


def test_quick_collection_round_trip(db: Client, name: str) -> None:
    db.create_collection(name, DIM, num_shards=2)
    assert db.has_collection(name)
    assert name in db.list_collections()

    assert db.insert(name, rows(0, 6)) == {"insert_count": 6, "ids": [0, 1, 2, 3, 4, 5]}
    assert db.query(name, output_fields=["count(*)"]) == [{"count(*)": 6}]

    assert db.query(name, filter="id < 2") == [
        {"id": 0, "vector": [0.0, 1.0, 0.5, 0.25], "color": "c0", "n": 0.0},
        {"id": 1, "vector": [1.0, 1.0, 0.5, 0.25], "color": "c1", "n": 1.5},
    ]
    # A dynamic key asked for by name comes back as a top-level key, like pymilvus.
    assert db.query(name, filter="n > 6", output_fields=["color"]) == [{"id": 5, "color": "c5"}]
    assert db.query(name, filter="id >= 0", limit=2, offset=3, output_fields=["id"]) == [
        {"id": 3},
        {"id": 4},
    ]
    assert db.query(
        name, filter="color == {c}", filter_params={"c": "c4"}, output_fields=["id"]
    ) == [{"id": 4}]
    assert [r["id"] for r in db.get(name, [5, 1, 99])] == [1, 5]
    assert db.get(name, 3, output_fields=["n"]) == [{"id": 3, "n": 4.5}]

    hits = db.search(name, [[3.0, 1.0, 0.5, 0.25], [0.0, 1.0, 0.5, 0.25]], limit=2)
    assert [[h["id"] for h in q] for q in hits] == [[3, 4], [0, 1]]
    assert hits[0][0]["distance"] == pytest.approx(1.0, abs=1e-6)
    assert hits[0][0]["entity"] == {}
    hit = db.search(name, np.array([3.0, 1.0, 0.5, 0.25]), limit=1, output_fields=["color"])
    assert hit == [[{"id": 3, "distance": hit[0][0]["distance"], "entity": {"color": "c3"}}]]
    filtered = db.search(name, [[3.0, 1.0, 0.5, 0.25]], limit=3, filter="id < 2")
    assert [h["id"] for h in filtered[0]] == [1, 0]

    assert db.delete(name, ids=[4]) == {"delete_count": 1}
    assert db.delete(name, filter="id >= {lo}", filter_params={"lo": 5}) == {"delete_count": 1}
    assert db.query(name, output_fields=["count(*)"]) == [{"count(*)": 4}]
    assert db.get(name, [4, 5]) == []

    task = db.flush(name)
    task.wait(timeout=20)
    assert task.done()
    assert db.get_collection_stats(name) == {"row_count": 6}  # deletes count until compaction
    segments = db.list_persistent_segments(name)
    data = [s for s in segments if s.level == "L1"]
    assert sorted(s.segment_id for s in data) == sorted(task.segment_ids)
    assert sum(s.num_rows for s in data) == 6
    assert {s.state for s in segments} == {"Flushed"}
    assert any(s.level == "L0" and s.num_rows == 0 for s in segments)

    db.drop_collection(name)
    assert not db.has_collection(name)
    db.drop_collection(name)  # dropping twice is fine, as in Milvus


def test_columns_insert_and_dynamic_fields(db: Client, name: str) -> None:
    db.create_collection(name, DIM)
    vectors = np.arange(12, dtype=np.float32).reshape(3, DIM) + 1
    result = db.insert(
        name,
        {"id": np.array([7, 8, 9]), "vector": vectors, "tag": ["a", "b", None], "w": [1, 2.5, 3]},
    )
    assert result == {"insert_count": 3, "ids": [7, 8, 9]}
    got = db.query(name, filter="id in [7, 9]")
    assert got == [
        {"id": 7, "vector": vectors[0].tolist(), "tag": "a", "w": 1},
        {"id": 9, "vector": vectors[2].tolist(), "tag": None, "w": 3},
    ]
    assert db.query(name, filter='tag == "b"', output_fields=["$meta"]) == [
        {"id": 8, "tag": "b", "w": 2.5}
    ]
    # numpy scalars in rows are JSON-encoded the way pymilvus encodes them.
    db.insert(name, [{"id": 10, "vector": vectors[0], "f": np.float32(0.1), "k": np.int64(3)}])
    assert db.get(name, 10, output_fields=["f", "k"]) == [
        {"id": 10, "f": float(np.float32(0.1)), "k": 3}
    ]
    assert db.insert(name, []) == {"insert_count": 0, "ids": []}


def test_schema_collection_needs_index_before_load(db: Client, name: str) -> None:
    schema = CollectionSchema(
        name,
        (
            FieldSchema("pk", DataType.VARCHAR, is_primary=True, max_length=16),
            FieldSchema("emb", DataType.FLOAT_VECTOR, dim=3),
            FieldSchema("meta", DataType.JSON, nullable=True),
            FieldSchema("x", DataType.INT32, default_value=7),
        ),
    )
    db.create_collection(name, schema=schema)
    description = db.describe_collection(name)
    assert description["collection_name"] == name
    assert description["enable_dynamic_field"] is False
    assert [
        (f["name"], f["type"], f["params"], f.get("default_value")) for f in description["fields"]
    ] == [
        ("pk", DataType.VARCHAR, {"max_length": 16}, None),
        ("emb", DataType.FLOAT_VECTOR, {"dim": 3}, None),
        ("meta", DataType.JSON, {}, None),
        ("x", DataType.INT32, {}, 7),
    ]
    assert description["fields"][0]["is_primary"] is True
    assert description["fields"][2]["nullable"] is True
    assert db.describe_index(name) is None

    db.insert(
        name,
        [
            {"pk": "a", "emb": [1, 2, 3], "meta": {"k": [1, 2]}},
            {"pk": "b", "emb": [1, 2, 4], "x": 3},
        ],
    )
    with pytest.raises(CollectionNotLoaded):
        db.query(name, filter='pk == "a"')

    db.create_index(name, "emb", "HNSW", "L2", params={"M": 8, "efConstruction": 64})
    index = db.describe_index(name, "emb")
    assert index is not None
    assert (index["index_type"], index["metric_type"], index["field_name"]) == ("HNSW", "L2", "emb")
    assert index["params"] == {"M": 8, "efConstruction": 64}
    db.load_collection(name)

    assert db.get(name, ["b", "a"]) == [
        {"pk": "a", "emb": [1.0, 2.0, 3.0], "meta": {"k": [1, 2]}, "x": 7},
        {"pk": "b", "emb": [1.0, 2.0, 4.0], "meta": None, "x": 3},
    ]
    hits = db.search(name, [[1, 2, 3]], limit=2, output_fields=["x"])
    assert [(h["id"], h["distance"], h["entity"]) for h in hits[0]] == [
        ("a", 0.0, {"x": 7}),
        ("b", 1.0, {"x": 3}),
    ]
    assert db.delete(name, ids="a") == {"delete_count": 1}
    db.release_collection(name)
    with pytest.raises(CollectionNotLoaded):
        db.get(name, "b")


def test_schema_with_index_params_is_loaded(db: Client, name: str) -> None:
    schema = CollectionSchema(
        name,
        (
            FieldSchema("id", DataType.INT64, is_primary=True, auto_id=True),
            FieldSchema("vector", DataType.FLOAT_VECTOR, dim=2),
        ),
        enable_dynamic_field=True,
    )
    db.create_collection(name, schema=schema, index_params=[IndexParam("vector", metric_type="IP")])
    result = db.insert(name, [{"vector": [1, 0], "label": "x"}, {"vector": [0, 1]}])
    assert result["insert_count"] == 2 and len(set(result["ids"])) == 2
    assert db.describe_collection(name)["auto_id"] is True
    hits = db.search(name, [[1, 0]], limit=1, output_fields=["label"])
    assert hits[0][0]["id"] == result["ids"][0]
    assert hits[0][0]["entity"] == {"label": "x"}


def test_errors_are_the_engine_classes(db: Client, name: str) -> None:
    with pytest.raises(CollectionNotFound) as missing:
        db.query(name, filter="id > 0")
    assert missing.value.code == 100
    assert f"collection={name}" in missing.value.message
    with pytest.raises(CollectionNotFound):
        db.flush(name)
    with pytest.raises(CollectionNotFound):
        db.list_persistent_segments(name)

    db.create_collection(name, DIM, enable_dynamic_field=False)
    with pytest.raises(ParameterInvalid, match="unexpected field `zzz`"):
        db.insert(name, [{"id": 1, "vector": [1, 2, 3, 4], "zzz": 1}])
    with pytest.raises(ParameterInvalid, match="missed an field `vector`"):
        db.insert(name, [{"id": 1}])
    with pytest.raises(ParameterInvalid) as bad_filter:
        db.query(name, filter="id >>> 1")
    assert bad_filter.value.code == 1100
    with pytest.raises(ParameterInvalid, match="Ambiguous"):
        db.delete(name, ids=[1], filter="id > 0")
    with pytest.raises(ParameterInvalid, match="limit"):
        db.search(name, [[1, 2, 3, 4]], limit=0)
    with pytest.raises(RequestError, match="topk"):
        db.search(name, [[1, 2, 3, 4]], limit=20000)
    with pytest.raises(SluiceError):
        db.create_collection(name, DIM, metric_type="L2")  # same name, other definition


def test_all_null_nullable_field_inserts(db: Client, name: str) -> None:
    # pymilvus sends a column that is null in every row as valid_data=[False...] and no values.
    schema = CollectionSchema(
        name,
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("v", DataType.FLOAT_VECTOR, dim=2),
            FieldSchema("x", DataType.INT32, nullable=True),
        ),
    )
    db.create_collection(name, schema=schema, index_params=[IndexParam("v")])
    assert db.insert(name, [{"id": 1, "v": [1, 0], "x": None}])["insert_count"] == 1
    assert db.get(name, 1, output_fields=["x"]) == [{"id": 1, "x": None}]


def scenario(db: Client, name: str) -> list[object]:
    """A bit of everything; returns what a user would see, minus server-assigned IDs."""
    db.create_collection(name, DIM, num_shards=2, consistency_level="Strong")
    out: list[object] = [db.insert(name, rows(0, 8))]
    out.append(db.insert(name, {"id": [20, 21], "vector": np.eye(2, DIM), "extra": [{"a": 1}, []]}))
    out.append(db.query(name, filter="id in [1, 20, 21]"))
    out.append(db.query(name, filter="n > 3", output_fields=["n", "color"], limit=3))
    out.append(db.query(name, output_fields=["count(*)"]))
    out.append(
        db.search(name, [[1.0, 0.0, 0.0, 0.0], [0.5, 1, 0.5, 0.25]], limit=4, output_fields=["*"])
    )
    out.append(
        db.search(name, [[7.0, 1.0, 0.5, 0.25]], limit=2, filter="id < {m}", filter_params={"m": 7})
    )
    out.append(db.delete(name, ids=[0, 1]))
    out.append(db.get(name, [0, 1, 2]))
    task = db.flush(name)
    out.append((len(task.segment_ids), task.flushed_segment_ids, len(task.checkpoints)))
    task.wait(timeout=20)
    out.append(db.get_collection_stats(name))
    out.append(sorted((s.num_rows, s.state, s.level) for s in db.list_persistent_segments(name)))
    description = db.describe_collection(name)
    for key in ("collection_id", "created_timestamp", "update_timestamp"):
        description.pop(key)
    out.append(description)
    out.append(db.describe_index(name, "vector"))
    return out


def test_modes_return_equal_results(tmp_path: Path, server: SluiceProcess, name: str) -> None:
    with sluice.connect(tmp_path / "data") as embedded:
        local = scenario(embedded, name)
    with sluice.connect(server.uri) as remote:
        served = scenario(remote, name)
    assert local == served
