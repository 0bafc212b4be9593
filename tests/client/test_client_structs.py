"""Arrays of structs through Sluice's own client, the same in embedded and remote mode."""

from __future__ import annotations

import numpy as np
import pytest

from sluice.client import Client
from sluice.schema import CollectionSchema, DataType, FieldSchema

CHUNKS = FieldSchema(
    "chunks",
    DataType.ARRAY_OF_STRUCT,
    max_capacity=4,
    struct_fields=(
        FieldSchema("text", DataType.VARCHAR, max_length=16),
        FieldSchema("vec", DataType.FLOAT_VECTOR, dim=2),
    ),
)


def _schema(name: str) -> CollectionSchema:
    return CollectionSchema(
        name,
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("v", DataType.FLOAT_VECTOR, dim=2),
            CHUNKS,
        ),
    )


def test_struct_round_trip_and_max_sim_search(db: Client, name: str) -> None:
    db.create_collection(name, schema=_schema(name))
    db.create_index(name, "v", "FLAT", "L2")
    db.create_index(name, "chunks[vec]", "HNSW", "MAX_SIM_IP")
    db.load_collection(name)
    rows = [
        {"id": 1, "v": [0.0, 1.0], "chunks": [{"text": "a", "vec": [1.0, 0.0]}]},
        {
            "id": 2,
            "v": [1.0, 1.0],
            "chunks": [{"text": "b", "vec": [2.0, 0.0]}, {"text": "c", "vec": [0.0, 3.0]}],
        },
        {"id": 3, "v": [1.0, 0.0], "chunks": []},
    ]
    db.insert(name, rows)
    got = db.query(name, filter="id > 0", output_fields=["chunks"])
    assert sorted((r["id"], r["chunks"]) for r in got) == [(r["id"], r["chunks"]) for r in rows]
    desc = db.describe_collection(name)
    struct = next(f for f in desc["fields"] if f["name"] == "chunks")
    assert struct["type"] == DataType.ARRAY_OF_STRUCT
    assert [f["name"] for f in struct["struct_fields"]] == ["text", "vec"]
    hits = db.search(
        name,
        [np.array([[1.0, 0.0], [0.0, 1.0]])],
        anns_field="chunks[vec]",
        limit=3,
        output_fields=["chunks[text]"],
    )[0]
    # id 2: max(2, 0) + max(0, 3) = 5; id 1: 1 + 0 = 1; id 3 has no elements.
    assert [(h["id"], h["distance"]) for h in hits] == [(2, pytest.approx(5.0)), (1, 1.0)]
    assert hits[0]["entity"]["chunks"] == [{"text": "b"}, {"text": "c"}]
