"""Names are checked as Milvus checks them, RPC by RPC.

Most RPCs check a name before looking anything up: ``describe_collection("12-s")``
says the name is malformed, not that the collection is missing, in Milvus's
words.  A few (search, indexes, property and field changes, statistics) look
the collection up directly, as Milvus's proxy does, and report it missing.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from helpers import milvus_error, quick_collection
from pymilvus import DataType, MilvusClient

BAD = "12-s"
INVALID_NAME = (
    f"Invalid collection name: {BAD}. the first character of a collection name must be an "
    "underscore or letter: invalid parameter"
)

CALLS: list[tuple[str, Callable[[MilvusClient], object]]] = [
    ("describe_collection", lambda c: c.describe_collection(BAD)),
    ("has_collection", lambda c: c.has_collection(BAD)),
    ("insert", lambda c: c.insert(BAD, [{"id": 1, "vector": [0.0] * 4}])),
    ("upsert", lambda c: c.upsert(BAD, [{"id": 1, "vector": [0.0] * 4}])),
    ("delete", lambda c: c.delete(BAD, ids=[1])),
    ("query", lambda c: c.query(BAD, "id > 0")),
    ("get", lambda c: c.get(BAD, ids=[1])),
    ("load_collection", lambda c: c.load_collection(BAD)),
    ("release_collection", lambda c: c.release_collection(BAD)),
    ("create_partition", lambda c: c.create_partition(BAD, "p")),
    ("drop_partition", lambda c: c.drop_partition(BAD, "p")),
    ("has_partition", lambda c: c.has_partition(BAD, "p")),
    ("list_partitions", lambda c: c.list_partitions(BAD)),
    ("load_partitions", lambda c: c.load_partitions(BAD, ["p"])),
    ("release_partitions", lambda c: c.release_partitions(BAD, ["p"])),
    ("get_partition_stats", lambda c: c.get_partition_stats(BAD, "p")),
    ("create_alias", lambda c: c.create_alias(BAD, "alias_ok")),
    ("alter_alias", lambda c: c.alter_alias(BAD, "alias_ok")),
    ("list_aliases", lambda c: c.list_aliases(BAD)),
    ("rename_collection", lambda c: c.rename_collection("names_target", BAD)),
    ("truncate_collection", lambda c: c.truncate_collection(BAD)),
    ("get_load_state", lambda c: c.get_load_state(BAD)),
]


#: RPCs whose Milvus proxy task looks the collection up without checking its name first.
UNCHECKED: list[tuple[str, Callable[[MilvusClient], object]]] = [
    ("search", lambda c: c.search(BAD, [[0.0] * 4], limit=1)),
    ("get_collection_stats", lambda c: c.get_collection_stats(BAD)),
    ("alter_collection_properties", lambda c: c.alter_collection_properties(BAD, {"a": "1"})),
    ("drop_collection_properties", lambda c: c.drop_collection_properties(BAD, ["a"])),
    (
        "add_collection_field",
        lambda c: c.add_collection_field(BAD, "f", DataType.INT64, nullable=True),
    ),
    ("create_index", lambda c: c.create_index(BAD, c.prepare_index_params("vector"))),
]


@pytest.fixture(scope="module")
def target(client: MilvusClient) -> str:
    quick_collection(client, "names_target", 4)
    return "names_target"


@pytest.mark.parametrize("call", [c for _, c in CALLS], ids=[n for n, _ in CALLS])
def test_malformed_collection_name_is_reported_as_malformed(
    client: MilvusClient, target: str, call: Callable[[MilvusClient], object]
) -> None:
    with milvus_error(1100, message=INVALID_NAME):
        call(client)


@pytest.mark.parametrize("call", [c for _, c in UNCHECKED], ids=[n for n, _ in UNCHECKED])
def test_some_rpcs_report_a_malformed_name_as_missing(
    client: MilvusClient, call: Callable[[MilvusClient], object]
) -> None:
    with milvus_error(100, message=f"collection not found[database=default][collection={BAD}]"):
        call(client)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("a" * 256, "the length of a collection name must be less than 255 characters"),
        ("a-b", "collection name can only contain numbers, letters and underscores"),
        ("中文", "the first character of a collection name must be an underscore or letter"),
    ],
)
def test_collection_name_rules(client: MilvusClient, name: str, reason: str) -> None:
    with milvus_error(
        1100, message=f"Invalid collection name: {name}. {reason}: invalid parameter"
    ):
        client.describe_collection(name)


def test_partition_and_alias_and_database_names(client: MilvusClient, target: str) -> None:
    with milvus_error(
        65535,
        message="Invalid partition name: 1p. The first character of a partition name must be an "
        "underscore or letter.",
    ):
        client.has_partition(target, "1p")
    with milvus_error(
        65535,
        message=f"Invalid partition name: {'p' * 256}. The length of a partition name must be "
        "less than 255 characters.",
    ):
        client.create_partition(target, "p" * 256)
    with milvus_error(
        1100,
        message="Invalid collection alias: a-b. collection alias can only contain numbers, "
        "letters and underscores: invalid parameter",
    ):
        client.create_alias(target, "a-b")
    with milvus_error(
        802,
        message="database name can only contain numbers, letters and underscores: invalid "
        "database name[database=d-b]",
    ):
        client.create_database("d-b")
    with milvus_error(
        1701,
        message="Invalid field name: like. like is keyword in milvus.: field name invalid"
        "[field=like]",
    ):
        client.add_collection_field(target, "like", DataType.INT64, nullable=True)


def test_drop_collection_accepts_any_name(client: MilvusClient) -> None:
    """Milvus lets a drop through whatever the name (so a bad name can always be removed)."""
    client.drop_collection(BAD)
