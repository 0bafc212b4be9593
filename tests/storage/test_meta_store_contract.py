"""The metadata store contract, run over every implementation.

Each backend gives a factory that opens the store over one location; opening
it again after ``close`` (or after a crash) must show every returned commit.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sluice.errors import MetaCorruptedError
from sluice.storage import local_meta
from sluice.storage.etcd_meta import EtcdMetaStore
from sluice.storage.local_meta import LocalMetaStore
from sluice.storage.meta_store import MetaStore

Opener = Callable[[], MetaStore]


@pytest.fixture(params=["local", "etcd"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    opened: list[MetaStore] = []
    if request.param == "etcd":
        endpoint = request.getfixturevalue("etcd_service").endpoint
        root = f"/sluice-test/{uuid.uuid4().hex}"

    def opener() -> MetaStore:
        store: MetaStore
        if request.param == "etcd":
            store = EtcdMetaStore.connect([endpoint], root)
        else:
            store = LocalMetaStore(tmp_path / "meta")
        opened.append(store)
        return store

    yield opener
    for store in opened:
        store.close()


def test_empty_store_has_nothing(open_store: Opener) -> None:
    store = open_store()
    assert isinstance(store, MetaStore)
    assert store.get("a") is None
    assert store.scan("") == {}


def test_commit_is_visible_and_survives_reopen(open_store: Opener) -> None:
    store = open_store()
    store.commit({"catalog/db/default": b"1", "catalog/db/other": b"2"})
    store.commit({"tso": b"\x00\xff"})
    assert store.get("catalog/db/default") == b"1"
    store.close()
    again = open_store()
    assert again.get("tso") == b"\x00\xff"
    assert again.scan("catalog/") == {"catalog/db/default": b"1", "catalog/db/other": b"2"}


def test_scan_is_by_prefix_in_key_order(open_store: Opener) -> None:
    store = open_store()
    store.commit({"b/2": b"x", "a/1": b"y", "b/1": b"z", "bb": b"w"})
    assert list(store.scan("b/")) == ["b/1", "b/2"]
    assert list(store.scan("")) == ["a/1", "b/1", "b/2", "bb"]


def test_deletes_and_puts_in_one_commit(open_store: Opener) -> None:
    store = open_store()
    store.commit({"k1": b"1", "k2": b"2"})
    store.commit({"k3": b"3"}, deletes=["k1", "missing"])
    assert store.scan("") == {"k2": b"2", "k3": b"3"}
    store.close()
    assert open_store().scan("") == {"k2": b"2", "k3": b"3"}


def test_overwrite_keeps_the_last_value(open_store: Opener) -> None:
    store = open_store()
    for i in range(50):
        store.commit({"counter": str(i).encode()})
    store.close()
    assert open_store().get("counter") == b"49"


def test_large_values_and_many_commits_survive_checkpoints(
    open_store: Opener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_meta, "CHECKPOINT_BYTES", 4096)
    store = open_store()
    expected = {}
    for i in range(300):
        key = f"collection/{i % 17}/manifest"
        value = os.urandom(100 + i)
        store.commit({key: value})
        expected[key] = value
    store.close()
    assert open_store().scan("collection/") == dict(sorted(expected.items()))


def test_values_larger_than_one_request(open_store: Opener) -> None:
    """etcd refuses requests over 1.5 MiB; a store must still hold a manifest of several MiB."""
    store = open_store()
    big = {f"manifest/{i}": os.urandom(3 << 20) for i in range(2)}
    small = {f"small/{i}": os.urandom(300_000) for i in range(6)}  # 1.8 MB together
    store.commit({**big, **small})
    store.commit({"manifest/0": b"tiny"}, deletes=["manifest/1"])
    store.close()
    again = open_store()
    assert again.get("manifest/0") == b"tiny"
    assert again.get("manifest/1") is None
    assert again.scan("small/") == small


# --- local implementation: torn tails and corruption --------------------------------


def test_local_torn_tail_is_cut(tmp_path: Path) -> None:
    store = LocalMetaStore(tmp_path)
    store.commit({"a": b"1"})
    store.commit({"b": b"2"})
    store.close()
    journal = tmp_path / "journal"
    data = journal.read_bytes()
    journal.write_bytes(data[:-3])  # the last commit half-written
    again = LocalMetaStore(tmp_path)
    assert again.scan("") == {"a": b"1"}
    again.commit({"c": b"3"})
    again.close()
    assert LocalMetaStore(tmp_path).scan("") == {"a": b"1", "c": b"3"}


def test_local_damage_followed_by_records_stops_the_open(tmp_path: Path) -> None:
    store = LocalMetaStore(tmp_path)
    for i in range(3):
        store.commit({f"k{i}": b"v" * 20})
    store.close()
    journal = tmp_path / "journal"
    data = bytearray(journal.read_bytes())
    data[12] ^= 0xFF  # inside the first record's body
    journal.write_bytes(bytes(data))
    before = journal.read_bytes()
    with pytest.raises(MetaCorruptedError, match=r"journal .* offset 0"):
        LocalMetaStore(tmp_path)
    assert journal.read_bytes() == before


def test_local_damaged_snapshot_stops_the_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_meta, "CHECKPOINT_BYTES", 64)
    store = LocalMetaStore(tmp_path)
    for i in range(10):
        store.commit({f"k{i}": b"v" * 40})
    store.close()
    snapshot = tmp_path / "snapshot"
    data = bytearray(snapshot.read_bytes())
    data[len(data) // 2] ^= 0x01
    snapshot.write_bytes(bytes(data))
    with pytest.raises(MetaCorruptedError, match="snapshot"):
        LocalMetaStore(tmp_path)


def test_local_crash_between_snapshot_and_journal_reset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot written but the old journal kept: replay skips what the snapshot holds."""
    monkeypatch.setattr(local_meta, "CHECKPOINT_BYTES", 1 << 30)
    store = LocalMetaStore(tmp_path)
    store.commit({"a": b"1"})
    store.commit({"a": b"2", "b": b"1"}, deletes=[])
    journal_before = (tmp_path / "journal").read_bytes()
    monkeypatch.setattr(local_meta, "CHECKPOINT_BYTES", 1)
    store.commit({"c": b"1"}, deletes=["a"])  # checkpoints
    store.close()
    # Put back the pre-checkpoint journal, as if the reset never happened.
    (tmp_path / "journal").write_bytes(journal_before)
    assert LocalMetaStore(tmp_path).scan("") == {"b": b"1", "c": b"1"}
