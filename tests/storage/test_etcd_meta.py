"""etcd-specific behaviour of the metadata store: blobs, limits, fencing, outages."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.errors import StorageError, StorageUnavailable, WriterFencedError
from sluice.storage import etcd_meta
from sluice.storage.etcd_lease import WriterLease
from sluice.storage.etcd_meta import EtcdConnection, EtcdMetaStore
from tests import services


@pytest.fixture
def root() -> str:
    return f"/sluice-test/{uuid.uuid4().hex}"


@pytest.fixture
def conn(etcd_service: services.EtcdService) -> Iterator[EtcdConnection]:
    connection = EtcdConnection([etcd_service.endpoint], timeout=3.0)
    yield connection
    connection.close()


def _all_keys(conn: EtcdConnection, prefix: str) -> list[str]:
    import aetcd.rpc as rpc

    async def fetch(client):  # type: ignore[no-untyped-def]
        key = prefix.encode()
        return await client.kvstub.Range(
            rpc.RangeRequest(key=key, range_end=etcd_meta._prefix_end(key), keys_only=True)
        )

    return [kv.key.decode() for kv in conn.call("list", fetch).kvs]


def test_replaced_and_deleted_blobs_are_removed(conn: EtcdConnection, root: str) -> None:
    store = EtcdMetaStore(conn, root)
    store.commit({"a": os.urandom(etcd_meta.INLINE_BYTES + 1), "b": os.urandom(2 << 20)})
    assert len({k.split("/")[-2] for k in _all_keys(conn, f"{root}/blob/")}) == 2
    store.commit({"a": b"small"}, deletes=["b"])
    assert _all_keys(conn, f"{root}/blob/") == []
    assert store.scan("") == {"a": b"small"}


def test_sweep_removes_blobs_nothing_points_at(conn: EtcdConnection, root: str) -> None:
    store = EtcdMetaStore(conn, root)
    kept = os.urandom(1 << 20)
    store.commit({"kept": kept})
    store._write_blob(uuid.uuid4().bytes, os.urandom(700_000))  # a crash before the commit
    assert store.sweep_blobs() == 1
    assert len({k.split("/")[-2] for k in _all_keys(conn, f"{root}/blob/")}) == 1
    assert store.get("kept") == kept


def test_too_many_keys_in_one_commit_is_refused_by_name(conn: EtcdConnection, root: str) -> None:
    store = EtcdMetaStore(conn, root)
    puts = {f"k{i}": b"v" for i in range(etcd_meta.MAX_TXN_OPS + 1)}
    with pytest.raises(StorageError, match=r"max-txn-ops \(128\)"):
        store.commit(puts)
    assert store.scan("") == {}


def test_commit_is_fenced_once_another_node_holds_the_writer_key(
    conn: EtcdConnection, root: str
) -> None:
    first = WriterLease(conn, f"{root}/writer", "node-a", ttl=2)
    guard = first.acquire(timeout=10)
    store = EtcdMetaStore(conn, f"{root}/meta", guard=guard)
    store.commit({"x": b"1"})
    # Node A stalls (no renewals) past its TTL; node B takes over.
    first._stop.set()
    second = WriterLease(conn, f"{root}/writer", "node-b", ttl=2)
    second_guard = second.acquire(timeout=15)
    assert second.holder() == "node-b"
    assert not first.held
    with pytest.raises(WriterFencedError):
        first.check()
    with pytest.raises(WriterFencedError, match="not the writer"):
        store.commit({"x": b"2", "y": os.urandom(3 << 20)})
    assert _all_keys(conn, f"{root}/meta/blob/") == []
    assert store.get("x") == b"1" and store.get("y") is None
    EtcdMetaStore(conn, f"{root}/meta", guard=second_guard).commit({"x": b"3"})
    assert store.get("x") == b"3"
    second.release()
    assert second.holder() is None


def test_standby_waits_and_takes_over_after_release(conn: EtcdConnection, root: str) -> None:
    first = WriterLease(conn, f"{root}/writer", "node-a", ttl=3)
    first.acquire(timeout=10)
    waiting = threading.Event()
    result: list[object] = []
    standby = WriterLease(conn, f"{root}/writer", "node-b", ttl=3)
    thread = threading.Thread(
        target=lambda: result.append(standby.acquire(timeout=20, on_wait=waiting.set))
    )
    thread.start()
    assert waiting.wait(10)
    assert first.held and not result
    first.release()
    thread.join(20)
    assert result and standby.held and standby.holder() == "node-b"
    standby.release()


def test_outage_fails_fast_by_name_and_recovers(tmp_path: Path) -> None:
    service = services.started(services.EtcdService(tmp_path / "etcd"))
    assert isinstance(service, services.EtcdService)
    store = EtcdMetaStore.connect([service.endpoint], "/outage", timeout=2.0)
    try:
        store.commit({"before": b"1", "blob": os.urandom(1 << 20)})
        service.kill()
        for call in (lambda: store.get("before"), lambda: store.commit({"during": b"x"})):
            started = time.monotonic()
            with pytest.raises(StorageUnavailable, match=f"etcd at {service.endpoint}"):
                call()
            assert time.monotonic() - started < 10  # bounded, never a hang
        service.start()
        deadline = time.monotonic() + 15
        while True:
            try:
                store.commit({"after": b"2"})
                break
            except StorageUnavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert store.get("before") == b"1"
        assert set(store.scan("")) == {"after", "before", "blob"}
    finally:
        store.close()
        service.kill()
