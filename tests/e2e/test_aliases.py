"""Aliases through pymilvus: usable wherever a name is, switchable under load, Milvus's rules."""

from __future__ import annotations

import threading

import numpy as np
from helpers import SluiceProcess, count, milvus_error, quick_collection, rows, wait_for
from pymilvus import MilvusClient

DIM = 4
STRONG = {"consistency_level": "Strong"}


def test_alias_works_wherever_a_name_does(client: MilvusClient) -> None:
    quick_collection(client, "al_target", DIM)
    client.create_alias("al_target", "al_name")
    client.create_alias("al_target", "al_name")  # the same alias again succeeds
    client.insert("al_name", rows(6, DIM))
    client.upsert("al_name", rows(1, DIM, start=5))
    client.delete("al_name", ids=[0])
    assert count(client, "al_name") == 5
    hits = client.search("al_name", [[0.3] * DIM], limit=2, **STRONG)
    assert len(hits[0]) == 2
    client.flush("al_name")
    assert client.get_collection_stats("al_name")["row_count"] >= 5
    client.release_collection("al_name")
    assert client.get_load_state("al_name")["state"].name == "NotLoad"
    client.load_collection("al_name")
    client.create_partition("al_name", "p1")
    assert client.list_partitions("al_target") == ["_default", "p1"]
    assert client.has_collection("al_name")
    described = client.describe_collection("al_name")
    assert described["collection_name"] == "al_target"
    assert described["aliases"] == ["al_name"]
    assert client.describe_index("al_name", "vector")["index_type"] == "AUTOINDEX"
    assert client.describe_alias("al_name") == {
        "alias": "al_name",
        "collection_name": "al_target",
        "db_name": "default",
    }
    assert client.list_aliases("al_target")["aliases"] == ["al_name"]


def test_alias_switch_under_a_search_loop(server: SluiceProcess, client: MilvusClient) -> None:
    quick_collection(client, "al_blue", DIM)
    quick_collection(client, "al_green", DIM)
    client.insert("al_blue", rows(20, DIM, start=0))
    client.insert("al_green", rows(20, DIM, start=1000))
    client.create_alias("al_blue", "al_live")
    stop = threading.Event()
    seen: set[str] = set()
    errors: list[Exception] = []
    done = [0]

    def search_loop() -> None:
        reader = MilvusClient(server.uri)
        query = np.full((1, DIM), 0.5, dtype=np.float32)
        try:
            while not stop.is_set():
                try:
                    hits = reader.search("al_live", query, limit=3, **STRONG)[0]
                except Exception as exc:  # every failure counts
                    errors.append(exc)
                    continue
                ids = {h["id"] for h in hits}
                assert len(hits) == 3
                seen.add("blue" if max(ids) < 1000 else "green")
                assert min(ids) >= 1000 or max(ids) < 1000, "one search saw both collections"
                done[0] += 1
        finally:
            reader.close()

    threads = [threading.Thread(target=search_loop) for _ in range(3)]
    for thread in threads:
        thread.start()
    for target in ["al_green", "al_blue", "al_green", "al_blue", "al_green"] * 4:
        client.alter_alias(target, "al_live")
        before = done[0]
        # Let searches run against each target before switching again.
        wait_for(lambda before=before: done[0] >= before + 5, what="searches to continue")
    stop.set()
    for thread in threads:
        thread.join()
    assert errors == []
    assert seen == {"blue", "green"}
    assert client.describe_alias("al_live")["collection_name"] == "al_green"


def test_aliases_survive_a_restart(client: MilvusClient, server: SluiceProcess) -> None:
    quick_collection(client, "al_kept", DIM)
    client.insert("al_kept", rows(3, DIM))
    client.create_alias("al_kept", "al_kept_a")
    client.create_alias("al_kept", "al_kept_b")
    client.drop_alias("al_kept_b")
    server.kill()
    server.start()
    fresh = MilvusClient(server.uri)
    try:
        assert fresh.list_aliases("al_kept")["aliases"] == ["al_kept_a"]
        assert count(fresh, "al_kept_a") == 3
    finally:
        fresh.close()


def test_alias_errors_word_for_word(client: MilvusClient) -> None:
    quick_collection(client, "al_one", DIM)
    quick_collection(client, "al_two", DIM)
    client.create_alias("al_one", "al_x")
    with milvus_error(
        1602,
        message="al_x is alias to another collection: al_one: alias already exist"
        "[database=default][alias=al_x]",
    ):
        client.create_alias("al_two", "al_x")
    with milvus_error(
        1601, message="alias and collection name conflict[database=default][alias=al_two]"
    ):
        client.create_alias("al_one", "al_two")
    with milvus_error(
        1601, message="alias and collection name conflict[database=default][alias=al_x]"
    ):
        quick_collection(client, "al_x", DIM)
    with milvus_error(100, message="collection not found[database=default][collection=al_none]"):
        client.create_alias("al_none", "al_y")
    with milvus_error(100, message="collection not found[collection=al_none]"):
        client.alter_alias("al_none", "al_x")
    with milvus_error(1600, message="alias not found[database=default][alias=al_none]"):
        client.alter_alias("al_one", "al_none")
    with milvus_error(1600, message="alias not found[database=default][alias=al_none]"):
        client.describe_alias("al_none")
    with milvus_error(65535, message="cannot drop the collection via alias = al_x"):
        client.drop_collection("al_x")
    with milvus_error(
        65535,
        message="unable to drop the collection [al_one] because it has associated aliases "
        "[al_x], please remove all aliases before dropping the collection",
    ):
        client.drop_collection("al_one")
    with milvus_error(
        1100,
        message="Invalid collection alias: 1x. the first character of a collection alias must "
        "be an underscore or letter: invalid parameter",
    ):
        client.create_alias("al_one", "1x")
    client.drop_alias("al_none")  # dropping a missing alias succeeds
    client.drop_alias("al_x")
    client.drop_collection("al_one")
