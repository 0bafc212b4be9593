"""A data folder that refuses writes: reads keep working, writes and flushes say why.

The folder is made unwritable under a running server (``helpers.unwritable``:
the immutable attribute as root, permissions otherwise).  Reads must not touch
the disk at all, so query, search, get, count and both iterators keep working
long after the saved timestamp window has run out; inserts, deletes and
flushes fail at once with a storage error (code 1001) naming the file and the
system's reason, never a hang until the client's timeout and never a
traceback in the log.  When the folder is writable again, so is the server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import (
    SluiceProcess,
    count,
    milvus_error,
    quick_collection,
    rows,
    unwritable,
    wait_for,
    wait_indexed,
)
from pymilvus import MilvusClient, MilvusException

DIM = 8
NAME = "ro"
IO_FAILED = 1001
STRONG = {"consistency_level": "Strong"}
#: Longer than the timestamp window saved on disk (3 s): reads outlive it.
PAST_THE_WINDOW_S = 3.5
WRITE_REFUSED = r"^IO failed: cannot write .*(Operation not permitted|Permission denied|Read-only)"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[SluiceProcess, MilvusClient]]:
    server = SluiceProcess(tmp_path / "data").start()
    client = MilvusClient(server.uri)
    try:
        yield server, client
    finally:
        client.close()
        server.kill()


def _read_everything(client: MilvusClient) -> None:
    assert count(client, NAME) == 300
    assert len(client.query(NAME, filter="id < 10", **STRONG)) == 10
    assert sorted(r["id"] for r in client.get(NAME, ids=[1, 2, 250])) == [1, 2, 250]
    query = rows(1, DIM, seed=9)[0]["vector"]
    assert len(client.search(NAME, [query], limit=5, **STRONG)[0]) == 5
    seen = []
    iterator = client.query_iterator(NAME, batch_size=64, filter="id >= 0")
    while page := iterator.next():
        seen.extend(r["id"] for r in page)
    iterator.close()
    assert sorted(seen) == list(range(300))
    hits = []
    iterator = client.search_iterator(NAME, [query], batch_size=50, limit=120)
    while page := iterator.next():
        hits.extend(h["id"] for h in page)
    iterator.close()
    assert len(hits) == len(set(hits)) == 120
    assert client.describe_collection(NAME)["collection_name"] == NAME


def test_reads_work_and_writes_fail_clearly_on_a_read_only_folder(
    served: tuple[SluiceProcess, MilvusClient],
) -> None:
    server, client = served
    quick_collection(client, NAME, DIM, shards=2)
    data = rows(300, DIM)
    client.insert(NAME, data[:200])
    client.flush(NAME)
    wait_indexed(client, NAME, "vector", rows=200)
    client.insert(NAME, data[200:])  # growing rows, only in memory and the WAL
    with unwritable(server.data_dir):
        time.sleep(PAST_THE_WINDOW_S)
        _read_everything(client)
        with milvus_error(IO_FAILED, match=WRITE_REFUSED):
            client.insert(NAME, rows(5, DIM, start=1000))
        with milvus_error(IO_FAILED, match=WRITE_REFUSED):
            client.delete(NAME, ids=[1, 2])
        with milvus_error(IO_FAILED, match=WRITE_REFUSED):
            client.flush(NAME)
        _read_everything(client)
    client.insert(NAME, rows(5, DIM, start=1000))
    client.delete(NAME, ids=[1, 2])
    assert count(client, NAME) == 303
    client.flush(NAME)
    log = server.log()
    assert "Traceback" not in log, log[-3000:]


def test_flush_reports_a_disk_that_keeps_failing(
    served: tuple[SluiceProcess, MilvusClient],
) -> None:
    """Segment files cannot be written: Flush answers with the error instead of hanging."""
    server, client = served
    quick_collection(client, NAME, DIM)
    client.insert(NAME, rows(100, DIM))
    with unwritable(server.data_dir / "segments"):
        with pytest.raises(MilvusException) as info:
            client.flush(NAME, timeout=120)
        assert info.value.code == IO_FAILED, info.value.message
        assert "cannot write" in info.value.message
        assert count(client, NAME) == 100, "the rows are still served from memory"

    def flushed() -> bool:
        # The error stands until the persister's next attempt succeeds.
        try:
            client.flush(NAME, timeout=30)
        except MilvusException as exc:
            assert exc.code == IO_FAILED, exc.message
            return False
        return True

    wait_for(flushed, timeout=30, what="a flush after the disk recovered")
    assert int(client.get_collection_stats(NAME)["row_count"]) == 100
    assert "Traceback" not in server.log()
