"""A clustering key through Sluice's own client, embedded and remote alike."""

from __future__ import annotations

import pytest

from sluice.client import Client
from sluice.errors import ParameterInvalid, VectorClusteringKeyNotAllowed
from sluice.schema import CollectionSchema, DataType, FieldSchema

DIM = 4


def _flags(db: Client, name: str) -> dict[str, bool]:
    return {
        f["name"]: bool(f.get("is_clustering_key")) for f in db.describe_collection(name)["fields"]
    }


def test_clustering_key_is_described_and_added_once(db: Client, name: str) -> None:
    schema = CollectionSchema(
        name,
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("vector", DataType.FLOAT_VECTOR, dim=DIM),
        ),
    )
    db.create_collection(name, schema=schema)
    db.add_collection_field(
        name, FieldSchema("score", DataType.FLOAT, nullable=True, is_clustering_key=True)
    )
    assert _flags(db, name) == {"id": False, "vector": False, "score": True}
    # Only the flag is set when shown, as pymilvus shows it.
    score = next(f for f in db.describe_collection(name)["fields"] if f["name"] == "score")
    assert score["is_clustering_key"] is True
    assert "is_clustering_key" not in db.describe_collection(name)["fields"][0]
    with pytest.raises(ParameterInvalid) as refused:
        db.add_collection_field(
            name, FieldSchema("rank", DataType.INT64, nullable=True, is_clustering_key=True)
        )
    assert refused.value.message == (
        "already has another clustering key field, field name: rank: invalid parameter"
    )
    assert "rank" not in _flags(db, name)


def test_clustering_key_at_creation(db: Client, name: str) -> None:
    schema = CollectionSchema(
        name,
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("tag", DataType.VARCHAR, max_length=16, is_clustering_key=True),
            FieldSchema("vector", DataType.FLOAT_VECTOR, dim=DIM),
        ),
    )
    db.create_collection(name, schema=schema)
    assert _flags(db, name) == {"id": False, "tag": True, "vector": False}


def test_vector_clustering_key_is_refused_alike(db: Client, name: str) -> None:
    schema = CollectionSchema(
        name,
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("vector", DataType.FLOAT_VECTOR, dim=DIM, is_clustering_key=True),
        ),
    )
    with pytest.raises(VectorClusteringKeyNotAllowed) as refused:
        db.create_collection(name, schema=schema)
    assert refused.value.code == 107
    assert refused.value.message == f"vector clustering key not allowed[collection={name}]"
    assert not db.has_collection(name)
