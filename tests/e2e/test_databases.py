"""Databases through pymilvus: isolation, the ``dbname`` header, properties, Milvus's errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import RawMilvus, SluiceProcess, count, milvus_error, quick_collection, rows
from pymilvus import (
    Collection,
    CollectionSchema,
    DataType,
    FieldSchema,
    MilvusClient,
    connections,
    db,
)
from pymilvus.grpc_gen import milvus_pb2

DIM = 4


@pytest.fixture
def other_db(
    client: MilvusClient, server: SluiceProcess, request: pytest.FixtureRequest
) -> Iterator[str]:
    name = f"db_{request.node.name[5:30]}"
    client.create_database(name)
    yield name
    scoped = MilvusClient(server.uri, db_name=name)
    for collection in scoped.list_collections():
        scoped.drop_collection(collection)
    scoped.close()
    client.drop_database(name)


def test_same_name_in_two_databases(
    client: MilvusClient, server: SluiceProcess, other_db: str
) -> None:
    quick_collection(client, "twin", DIM)
    client.insert("twin", rows(3, DIM))
    scoped = MilvusClient(server.uri, db_name=other_db)
    try:
        assert "twin" not in scoped.list_collections()
        quick_collection(scoped, "twin", DIM)
        scoped.insert("twin", rows(8, DIM))
        assert count(scoped, "twin") == 8
        assert count(client, "twin") == 3
        ids = {
            client.describe_collection("twin")["collection_id"],
            scoped.describe_collection("twin")["collection_id"],
        }
        assert len(ids) == 2  # IDs are global
    finally:
        scoped.close()
    client.drop_collection("twin")


def test_request_field_wins_over_header(server: SluiceProcess, other_db: str) -> None:
    raw = RawMilvus(server, db="default")
    try:
        shown = raw.call("ShowCollections", milvus_pb2.ShowCollectionsRequest(db_name=other_db))
        assert shown.status.code == 0
        assert list(shown.collection_names) == []
        missing = raw.call(
            "ShowCollections", milvus_pb2.ShowCollectionsRequest(db_name="no_such_db")
        )
        assert missing.status.code == 800
        assert missing.status.reason == "database not found[database=no_such_db]"
    finally:
        raw.close()


def test_orm_using_database(client: MilvusClient, server: SluiceProcess, other_db: str) -> None:
    connections.connect("orm_db", uri=server.uri)
    try:
        db.using_database(other_db, using="orm_db")
        assert other_db in db.list_database(using="orm_db")
        collection = Collection(
            "orm_scoped",
            CollectionSchema(
                [
                    FieldSchema("id", DataType.INT64, is_primary=True),
                    FieldSchema("vector", DataType.FLOAT_VECTOR, dim=DIM),
                ]
            ),
            using="orm_db",
        )
        assert collection.name in MilvusClient(server.uri, db_name=other_db).list_collections()
        assert "orm_scoped" not in client.list_collections()
    finally:
        connections.disconnect("orm_db")


def test_properties_and_describe(client: MilvusClient, server: SluiceProcess) -> None:
    client.create_database("props_db", properties={"database.replica.number": "3"})
    try:
        described = client.describe_database("props_db")
        assert described == {"name": "props_db", "database.replica.number": "3"}
        client.alter_database_properties("props_db", {"database.max.collections": 1})
        client.drop_database_properties("props_db", ["database.replica.number"])
        assert client.describe_database("props_db") == {
            "name": "props_db",
            "database.max.collections": "1",
        }
        scoped = MilvusClient(server.uri, db_name="props_db")
        quick_collection(scoped, "first", DIM)
        with milvus_error(
            102,
            message="exceeded the limit number of collections[dbName=props_db][limit=1]",
        ):
            quick_collection(scoped, "second", DIM)
        scoped.drop_collection("first")
        scoped.close()
    finally:
        client.drop_database("props_db")


def test_connecting_to_a_missing_database_fails(server: SluiceProcess) -> None:
    with pytest.raises(Exception, match=r"database not found\[database=nope_db\]"):
        MilvusClient(server.uri).use_database("nope_db")


def test_errors_word_for_word(client: MilvusClient, server: SluiceProcess) -> None:
    client.create_database("errs_db")
    with milvus_error(65535, message="database already exist: errs_db"):
        client.create_database("errs_db")
    with milvus_error(
        802,
        message="the first character of a database name must be an underscore or letter: "
        "invalid database name[database=1db]",
    ):
        client.create_database("1db")
    with milvus_error(65535, message="can not drop default database"):
        client.drop_database("default")
    with milvus_error(800, message="database not found[database=nope_db]"):
        client.describe_database("nope_db")
    with milvus_error(
        65535,
        message="alter database with empty properties and delete keys, expected to set either "
        "properties or delete keys",
    ):
        client.drop_database_properties("errs_db", [])
    scoped = MilvusClient(server.uri, db_name="errs_db")
    quick_collection(scoped, "keep", DIM)
    with milvus_error(
        65535, message="database:errs_db not empty, must drop all collections before drop database"
    ):
        client.drop_database("errs_db")
    scoped.drop_collection("keep")
    scoped.close()
    client.drop_database("errs_db")
    client.drop_database("errs_db")  # a missing database drops without error
    assert "errs_db" not in client.list_databases()
