"""Databases, partitions, aliases and collection changes through the client interface.

Every test runs embedded and remote with the same assertions, so the two
clients cannot drift apart.
"""

from __future__ import annotations

import time
import uuid

import pytest

from sluice.client import Client
from sluice.errors import (
    AliasNotFound,
    CollectionNotFound,
    DatabaseNotFound,
    ParameterInvalid,
    RequestError,
    SluiceError,
)
from sluice.schema import CollectionSchema, DataType, FieldSchema

DIM = 4


def rows(start: int, stop: int) -> list[dict]:
    return [{"id": i, "vector": [float(i), 1.0, 0.5, 0.25]} for i in range(start, stop)]


def count(db: Client, name: str, **kwargs: object) -> int:
    return int(db.query(name, output_fields=["count(*)"], **kwargs)[0]["count(*)"])  # type: ignore[arg-type]


def test_databases_isolate_collections(db: Client, name: str) -> None:
    other = f"db_{uuid.uuid4().hex[:10]}"
    db.create_database(other, properties={"database.max.collections": 5, "team": "search"})
    assert other in db.list_databases()
    assert db.describe_database(other) == {
        "name": other,
        "database.max.collections": "5",
        "team": "search",
    }
    db.create_collection(name, DIM)
    db.insert(name, rows(0, 3))
    home = db.db_name
    db.use_database(other)
    try:
        assert name not in db.list_collections()
        db.create_collection(name, DIM)  # the same name in another database
        db.insert(name, rows(0, 7))
        assert count(db, name) == 7
        with pytest.raises(RequestError, match="not empty, must drop all collections"):
            db.drop_database(other)
        db.drop_collection(name)
    finally:
        db.use_database(home)
    assert count(db, name) == 3
    db.alter_database_properties(other, {"team": "ranking"})
    db.drop_database_properties(other, ["database.max.collections"])
    assert db.describe_database(other) == {"name": other, "team": "ranking"}
    db.drop_database(other)
    assert other not in db.list_databases()
    with pytest.raises(DatabaseNotFound):
        db.use_database(other)
    with pytest.raises(RequestError, match="can not drop default database"):
        db.drop_database("default")


def test_partitions_scope_writes_reads_and_deletes(db: Client, name: str) -> None:
    db.create_collection(name, DIM)
    db.create_partition(name, "p1")
    assert db.list_partitions(name) == ["_default", "p1"]
    assert db.has_partition(name, "p1") and not db.has_partition(name, "p2")
    db.insert(name, rows(0, 5))
    db.insert(name, rows(100, 104), partition_name="p1")
    db.insert(name, rows(0, 2), partition_name="p1")  # keys 0 and 1 in both partitions
    assert count(db, name) == 11
    assert count(db, name, partition_names=["p1"]) == 6
    hits = db.search(name, [[101.0, 1.0, 0.5, 0.25]], limit=3, partition_names=["_default"])
    assert all(h["id"] < 5 for h in hits[0])
    # A delete naming a partition leaves the same keys elsewhere alone.
    assert db.delete(name, ids=[0, 1], partition_name="p1") == {"delete_count": 2}
    assert count(db, name) == 9
    assert sorted(r["id"] for r in db.get(name, [0, 1])) == [0, 1]
    db.release_partitions(name, ["p1"])
    assert db.get_load_state(name, "p1") == "NotLoad"
    assert db.get_load_state(name) == "Loaded"
    assert count(db, name) == 5  # only loaded partitions are read
    with pytest.raises(SluiceError, match="partition not loaded"):
        db.query(name, filter="id >= 0", partition_names=["p1"])
    db.flush(name).wait(timeout=30)
    assert db.get_partition_stats(name, "p1") == {"row_count": 6}
    db.drop_partition(name, "p1")
    assert db.list_partitions(name) == ["_default"]
    db.load_partitions(name, ["_default"])
    assert count(db, name) == 5
    with pytest.raises(RequestError, match="default partition cannot be deleted"):
        db.drop_partition(name, "_default")


def test_aliases_follow_their_collection(db: Client, name: str) -> None:
    alias = f"{name}_a"
    other = f"{name}_b"
    db.create_collection(name, DIM)
    db.create_collection(other, DIM)
    db.insert(name, rows(0, 2))
    db.insert(other, rows(0, 5))
    db.create_alias(name, alias)
    assert db.describe_alias(alias) == {
        "alias": alias,
        "collection_name": name,
        "db_name": db.db_name,
    }
    assert db.list_aliases(name) == [alias]
    assert db.describe_collection(alias)["aliases"] == [alias]
    assert count(db, alias) == 2
    db.alter_alias(other, alias)
    assert count(db, alias) == 5
    assert db.list_aliases(name) == []
    with pytest.raises(RequestError, match="cannot drop the collection via alias"):
        db.drop_collection(alias)
    with pytest.raises(RequestError, match="because it has associated aliases"):
        db.drop_collection(other)
    db.drop_alias(alias)
    db.drop_alias(alias)  # dropping a missing alias succeeds
    with pytest.raises(AliasNotFound):
        db.describe_alias(alias)
    db.drop_collection(other)


def test_rename_and_truncate_keep_the_collection(db: Client, name: str) -> None:
    renamed = f"{name}_r"
    db.create_collection(name, DIM)
    db.insert(name, rows(0, 4))
    db.rename_collection(name, renamed)
    assert not db.has_collection(name)
    assert count(db, renamed) == 4  # data and load state came along
    db.truncate_collection(renamed)
    assert count(db, renamed) == 0
    db.insert(renamed, rows(10, 12))
    assert [r["id"] for r in db.query(renamed, filter="id >= 0")] == [10, 11]
    with pytest.raises(CollectionNotFound):
        db.truncate_collection(name)


def test_properties_fields_and_ttl(db: Client, name: str) -> None:
    schema = CollectionSchema(
        name,
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("title", DataType.VARCHAR, max_length=8),
            FieldSchema("vector", DataType.FLOAT_VECTOR, dim=DIM),
        ),
    )
    db.create_collection(name, schema=schema)
    db.alter_collection_field(name, "title", {"max_length": 32})
    title = next(f for f in db.describe_collection(name)["fields"] if f["name"] == "title")
    assert title["params"]["max_length"] == 32
    db.create_index(name, "vector")
    db.load_collection(name)
    db.insert(name, [{"id": 1, "title": "a much longer title", "vector": [1.0] * DIM}])
    db.add_collection_field(
        name, FieldSchema("score", DataType.INT64, nullable=True, default_value=5)
    )
    db.insert(name, [{"id": 2, "title": "b", "vector": [2.0] * DIM, "score": 9}])
    got = db.query(name, filter="id > 0", output_fields=["score"])
    assert got == [{"id": 1, "score": 5}, {"id": 2, "score": 9}]
    with pytest.raises(ParameterInvalid, match="added field must be nullable"):
        db.add_collection_field(name, FieldSchema("bad", DataType.INT64))
    db.alter_collection_properties(name, {"collection.ttl.seconds": 1})
    assert db.describe_collection(name)["properties"]["collection.ttl.seconds"] == "1"
    time.sleep(1.3)
    assert count(db, name) == 0
    db.drop_collection_properties(name, ["collection.ttl.seconds"])
    assert count(db, name) == 2  # TTL hides rows; it does not delete them
