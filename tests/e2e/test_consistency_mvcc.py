"""Consistency levels, MVCC snapshots and deletes through pymilvus, across flush and restart.

This module restarts its server (same data folder, same port), so it owns the
module-scoped ``server`` fixture: no other module shares the process.

- Strong reads see every acknowledged write;
- on this single-node server Bounded, Session and Eventually reads see them
  too (the server applies a write before acknowledging it);
- a deleted row never comes back: not after flush, not after restart, not in
  any read path (get, query, count, search);
- a key deleted and inserted again is visible again, with its new value;
- iterators read a pinned snapshot: rows written after the first page neither
  appear nor disappear mid-iteration.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest
from helpers import (
    SluiceProcess,
    brute_force,
    count,
    create_indexed,
    hit_ids,
    hit_scores,
    quick_collection,
    wait_indexed,
)
from pymilvus import DataType, MilvusClient

DIM = 8
STRONG = {"consistency_level": "Strong"}


def _collection(
    client: MilvusClient, name: str, index_type: str = "FLAT", params: dict | None = None
) -> None:
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("n", DataType.INT64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("vector", index_type=index_type, metric_type="L2", params=params or {})
    create_indexed(client, name, schema, index, shards=2)


def _rows(keys: range | list[int], data: np.ndarray, n: int = 0) -> list[dict[str, Any]]:
    return [{"id": k, "n": n, "vector": data[k].tolist()} for k in keys]


def _restart(server: SluiceProcess, client: MilvusClient) -> None:
    server.restart()
    _restart_wait(client)


def _restart_wait(client: MilvusClient) -> None:
    """The client's channel reconnects by itself; wait until requests are served again."""
    deadline = time.monotonic() + 30
    while True:
        try:
            client.list_collections()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


# --- visibility of acknowledged writes -----------------------------------------------------


def test_strong_sees_each_write_immediately(client: MilvusClient) -> None:
    _collection(client, "strong")
    data = np.random.default_rng(1).standard_normal((40, DIM)).astype(np.float32)
    for i in range(40):
        client.insert("strong", _rows([i], data))
        assert [r["id"] for r in client.get("strong", ids=[i], **STRONG)] == [i]
        if i % 5 == 0:
            assert count(client, "strong") == i + 1
            hits = client.search("strong", [data[i].tolist()], limit=1, **STRONG)
            assert hit_ids(hits) == [[i]]
        if i == 20:
            client.flush("strong")


@pytest.mark.parametrize("level", ["Bounded", "Session", "Eventually", None])
def test_weaker_levels_see_acknowledged_writes(client: MilvusClient, level: str | None) -> None:
    name = f"level_{(level or 'default').lower()}"
    quick_collection(client, name, DIM, shards=2)
    kwargs = {"consistency_level": level} if level else {}
    data = np.random.default_rng(2).standard_normal((10, DIM)).astype(np.float32)
    for i in range(10):
        client.insert(name, [{"id": i, "vector": data[i].tolist()}])
        assert [r["id"] for r in client.get(name, ids=[i], **kwargs)] == [i]
        got = client.query(name, filter="", output_fields=["count(*)"], **kwargs)
        assert got[0]["count(*)"] == i + 1
        assert hit_ids(client.search(name, [data[i].tolist()], limit=1, **kwargs)) == [[i]]


def test_collection_default_level(client: MilvusClient) -> None:
    """A collection created with Eventually as its level still serves fresh writes by default."""
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="L2")
    client.create_collection(
        "eventual", schema=schema, index_params=index, consistency_level="Eventually"
    )
    assert client.describe_collection("eventual")["consistency_level"] == 3
    client.insert("eventual", [{"id": 1, "vector": [0.5] * DIM}])
    assert [r["id"] for r in client.get("eventual", ids=[1])] == [1]


# --- deletes ----------------------------------------------------------------------------------


def _assert_gone(
    client: MilvusClient, name: str, data: np.ndarray, deleted: set[int], alive: set[int]
) -> None:
    assert count(client, name) == len(alive)
    got = client.query(name, filter="id >= 0", output_fields=["id"], **STRONG)
    assert {r["id"] for r in got} == alive
    assert client.get(name, ids=sorted(deleted), **STRONG) == []
    queries = data[sorted(deleted)[:20]]
    for _ in range(2):
        result = client.search(name, queries.tolist(), limit=5, **STRONG)
        found = {i for ids in hit_ids(result) for i in ids}
        assert not found & deleted, f"deleted rows returned: {sorted(found & deleted)}"
        assert all(len(ids) == 5 for ids in hit_ids(result))


@pytest.mark.parametrize(
    ("index_type", "params"), [("FLAT", {}), ("HNSW", {"M": 16, "efConstruction": 64})]
)
def test_deleted_rows_never_come_back(
    client: MilvusClient, server: SluiceProcess, index_type: str, params: dict
) -> None:
    name = f"gone_{index_type.lower()}"
    _collection(client, name, index_type, params)
    data = np.random.default_rng(3).standard_normal((600, DIM)).astype(np.float32)
    client.insert(name, _rows(range(400), data))
    client.flush(name)
    if index_type != "FLAT":
        wait_indexed(client, name, "vector", rows=400)
    client.insert(name, _rows(range(400, 500), data))

    # Rows in flushed (indexed) segments and in growing ones, by filter and by key.
    client.delete(name, filter="id % 7 == 0")
    client.delete(name, ids=[1, 2, 401, 402])
    deleted = {i for i in range(500) if i % 7 == 0} | {1, 2, 401, 402}
    alive = set(range(500)) - deleted
    _assert_gone(client, name, data, deleted, alive)

    client.flush(name)
    _assert_gone(client, name, data, deleted, alive)

    _restart(server, client)
    _assert_gone(client, name, data, deleted, alive)

    # Deletes not yet flushed when the server stops are replayed from the WAL.
    client.delete(name, ids=[10, 11, 403])
    deleted |= {10, 11, 403}
    alive -= {10, 11, 403}
    _restart(server, client)
    _assert_gone(client, name, data, deleted, alive)

    # More writes and another flush after the restart change nothing for the deleted keys.
    client.insert(name, _rows(range(500, 600), data))
    client.flush(name)
    _assert_gone(client, name, data, deleted, alive | set(range(500, 600)))


def test_deleted_then_reinserted_key_is_visible(client: MilvusClient, server: SluiceProcess):
    _collection(client, "again")
    data = np.random.default_rng(4).standard_normal((100, DIM)).astype(np.float32)
    client.insert("again", _rows(range(100), data))
    client.flush("again")
    client.delete("again", ids=[5, 6])
    assert client.get("again", ids=[5, 6], **STRONG) == []

    fresh = data[5] + 50.0
    client.insert("again", [{"id": 5, "n": 1, "vector": fresh.tolist()}])

    def check() -> None:
        got = client.get("again", ids=[5, 6], output_fields=["n", "vector"], **STRONG)
        assert [(r["id"], r["n"]) for r in got] == [(5, 1)]
        np.testing.assert_allclose(got[0]["vector"], fresh, rtol=1e-6)
        assert count(client, "again") == 99
        near_old = client.search("again", [data[5].tolist()], limit=10, **STRONG)
        assert 5 not in hit_ids(near_old)[0]
        near_new = client.search("again", [fresh.tolist()], limit=1, **STRONG)
        assert hit_ids(near_new) == [[5]]
        assert hit_scores(near_new)[0][0] == pytest.approx(0.0, abs=1e-3)

    check()
    client.flush("again")
    check()
    _restart(server, client)
    check()
    # Deleting it again hides the new version too, and an acknowledged delete
    # survives a crash (SIGKILL, no flush) through the write-ahead log.
    client.delete("again", ids=[5])
    assert client.get("again", ids=[5], **STRONG) == []
    server.kill()
    server.start()
    _restart_wait(client)
    assert client.get("again", ids=[5], **STRONG) == []
    assert count(client, "again") == 98
    assert 5 not in hit_ids(client.search("again", [fresh.tolist()], limit=3, **STRONG))[0]


def test_versions_inside_one_segment_survive_flush_and_restart(
    client: MilvusClient, server: SluiceProcess
) -> None:
    """Insert, delete, insert again, all in one growing segment: the delete hides only the
    first version, before and after the segment is flushed and reloaded."""
    _collection(client, "versions")
    data = np.random.default_rng(8).standard_normal((20, DIM)).astype(np.float32)
    client.insert("versions", _rows(range(20), data))
    client.delete("versions", ids=[3, 4])
    client.insert("versions", [{"id": 3, "n": 7, "vector": (data[3] + 9).tolist()}])
    client.upsert("versions", [{"id": 9, "n": 8, "vector": (data[9] + 9).tolist()}])

    def check() -> None:
        got = client.query("versions", filter="id in [3, 4, 9]", output_fields=["n"], **STRONG)
        assert sorted((r["id"], r["n"]) for r in got) == [(3, 7), (9, 8)]
        assert count(client, "versions") == 19
        for key in (3, 9):
            assert (
                key
                not in hit_ids(client.search("versions", [data[key].tolist()], limit=3, **STRONG))[
                    0
                ]
            )

    check()
    client.flush("versions")
    check()
    _restart(server, client)
    check()


# --- pinned snapshots -----------------------------------------------------------------------------


def test_query_iterator_reads_one_snapshot(client: MilvusClient) -> None:
    _collection(client, "snap_q")
    data = np.random.default_rng(5).standard_normal((400, DIM)).astype(np.float32)
    client.insert("snap_q", _rows(range(200), data))
    iterator = client.query_iterator("snap_q", batch_size=50, filter="id >= 0")
    seen = [r["id"] for r in iterator.next()]
    # After the first batch: new matching rows arrive and unseen rows are deleted.
    client.insert("snap_q", _rows(range(200, 400), data))
    client.delete("snap_q", ids=list(range(150, 200)))
    while batch := iterator.next():
        seen += [r["id"] for r in batch]
    iterator.close()
    assert sorted(seen) == list(range(200))
    assert count(client, "snap_q") == 350


def test_search_iterator_reads_one_snapshot(client: MilvusClient) -> None:
    _collection(client, "snap_s")
    data = np.random.default_rng(6).standard_normal((300, DIM)).astype(np.float32)
    client.insert("snap_s", _rows(range(300), data))
    query = data[:1]
    iterator = client.search_iterator("snap_s", query.tolist(), batch_size=60)
    seen = [h["id"] for h in iterator.next()]
    # Copies of every row (same distances) under new keys: a live read would return them.
    client.insert(
        "snap_s", [{"id": 1000 + k, "n": 0, "vector": data[k].tolist()} for k in range(300)]
    )
    while page := iterator.next():
        seen += [h["id"] for h in page]
    iterator.close()
    assert len(seen) == len(set(seen))
    assert set(seen) <= set(range(300)), sorted(set(seen) - set(range(300)))[:5]
    want, _ = brute_force(data, query, "L2", 300)
    assert seen == want[0].tolist()[: len(seen)]


# --- concurrency ---------------------------------------------------------------------------------


def _busy_search(c: MilvusClient, vectors: np.ndarray) -> Any:
    # nprobe == nlist: the IVF search is exhaustive, so results are exact.
    return c.search(
        "busy", vectors.tolist(), limit=10, search_params={"params": {"nprobe": 8}}, **STRONG
    )


def test_searches_while_inserting_and_flushing(server: SluiceProcess, client: MilvusClient):
    """Three searchers and a writer that inserts, flushes (and so triggers index builds)."""
    _collection(client, "busy", "IVF_FLAT", {"nlist": 8})
    data = np.random.default_rng(7).standard_normal((1100, DIM)).astype(np.float32)
    client.insert("busy", _rows(range(100), data))
    # Rows acknowledged so far, and rows sent so far (a write may be visible before
    # its acknowledgement reaches the writer); only the writer changes them.
    acked, sent = [100], [100]
    stop = threading.Event()
    errors: list[BaseException] = []
    searches = [0, 0, 0]

    def writer() -> None:
        writer_client = MilvusClient(server.uri)
        try:
            for batch in range(1, 11):
                start = batch * 100
                sent[0] = start + 100
                writer_client.insert("busy", _rows(range(start, start + 100), data))
                acked[0] = start + 100
                if batch % 3 == 0:
                    writer_client.flush("busy")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            writer_client.close()
            stop.set()

    def searcher(no: int) -> None:
        mine = MilvusClient(server.uri)
        rng = np.random.default_rng(no)
        last_count = 0
        try:
            while not stop.is_set():
                known = acked[0]
                anchor = int(rng.integers(0, 100))
                result = _busy_search(mine, data[[anchor]])
                upper = sent[0]
                ids, scores = hit_ids(result)[0], hit_scores(result)[0]
                assert ids[0] == anchor, ids
                assert len(ids) == 10 and len(set(ids)) == 10
                assert all(0 <= i < upper for i in ids), ids
                assert scores == sorted(scores)
                true = ((data[ids] - data[anchor]) ** 2).sum(axis=1)
                np.testing.assert_allclose(scores, true, rtol=1e-4, atol=1e-3)
                seen = count(mine, "busy")
                assert known <= seen <= sent[0] and seen >= last_count
                last_count = seen
                searches[no] += 1
        except BaseException as exc:
            errors.append(exc)
            stop.set()
        finally:
            mine.close()

    threads = [threading.Thread(target=searcher, args=(no,)) for no in range(3)]
    threads.append(threading.Thread(target=writer))
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[0]
    assert min(searches) >= 3, searches
    assert count(client, "busy") == 1100
    want, _ = brute_force(data, data[:5], "L2", 10)
    assert hit_ids(_busy_search(client, data[:5])) == want.tolist()
