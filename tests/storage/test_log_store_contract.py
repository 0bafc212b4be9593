"""The log store contract, run over every implementation."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sluice.storage.local_log import LocalLogStore
from sluice.storage.log_store import ChannelLog, LogStore
from sluice.storage.nats_log import NatsLogStore

Opener = Callable[[], LogStore]


@pytest.fixture(params=["local", "nats"])
def open_logs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    opened: list[NatsLogStore] = []
    if request.param == "nats":
        url = request.getfixturevalue("nats_service").url
        prefix = f"t{uuid.uuid4().hex[:12]}"

    def opener() -> LogStore:
        if request.param == "nats":
            store = NatsLogStore([url], prefix)
            opened.append(store)
            return store
        return LocalLogStore(tmp_path / "wal", file_bytes=4096)

    yield opener
    for store in opened:
        store.close()


def _payloads(log: ChannelLog, start: int = 0) -> list[tuple[int, int, bytes]]:
    return [(r.kind, r.timestamp, r.payload) for r in log.replay(start)]


def test_append_sync_replay_round_trip(open_logs: Opener) -> None:
    store = open_logs()
    assert isinstance(store, LogStore)
    log = store.open("ch-1")
    assert isinstance(log, ChannelLog)
    records = [log.append(1, 100 + i, b"head", f"body-{i}".encode()) for i in range(20)]
    log.sync(records[-1].end)
    offsets = [r.offset for r in records]
    assert offsets == sorted(offsets) and len(set(offsets)) == 20
    assert all(a.end <= b.offset for a, b in itertools.pairwise(records))
    assert log.end_offset >= records[-1].end
    log.close()
    again = open_logs().open("ch-1")
    assert _payloads(again) == [(1, 100 + i, f"headbody-{i}".encode()) for i in range(20)]
    assert _payloads(again, records[5].offset)[0] == (1, 105, b"headbody-5")
    again.close()


def test_appends_continue_after_reopen(open_logs: Opener) -> None:
    log = open_logs().open("ch")
    first = log.append(2, 1, b"a")
    log.sync(first.end)
    log.close()
    log = open_logs().open("ch")
    second = log.append(2, 2, b"b")
    assert second.offset >= first.end
    log.sync(second.end)
    assert _payloads(log) == [(2, 1, b"a"), (2, 2, b"b")]
    log.close()


def test_truncate_before_keeps_everything_from_the_offset(open_logs: Opener) -> None:
    log = open_logs().open("ch")
    records = [log.append(1, i, b"x" * 500) for i in range(40)]
    log.sync(records[-1].end)
    keep = records[25].offset
    log.truncate_before(keep)
    assert log.first_offset <= keep
    assert [r.timestamp for r in log.replay(keep)] == list(range(25, 40))
    log.close()
    reopened = open_logs().open("ch")
    assert reopened.first_offset <= keep
    assert [r.timestamp for r in reopened.replay(keep)] == list(range(25, 40))
    reopened.close()


def test_records_larger_than_one_message(open_logs: Opener) -> None:
    """NATS refuses messages over max_payload (1 MiB by default); a batch of vectors is larger."""
    log = open_logs().open("big")
    payloads = [bytes([i]) * ((3 << 20) + i) for i in range(3)]
    records = [log.append(7, i, p[:100], p[100:]) for i, p in enumerate(payloads)]
    small = log.append(1, 99, b"after")
    log.sync(small.end)
    assert all(a.end <= b.offset for a, b in itertools.pairwise([*records, small]))
    replayed = list(log.replay(records[1].offset))
    assert [(r.kind, r.timestamp, r.payload) for r in replayed] == [
        (7, 1, payloads[1]),
        (7, 2, payloads[2]),
        (1, 99, b"after"),
    ]
    assert [(r.offset, r.end) for r in replayed] == [
        (r.offset, r.end) for r in [*records[1:], small]
    ]
    log.close()


def test_channel_names_with_any_characters(open_logs: Opener) -> None:
    store = open_logs()
    names = ["by-dev-rootcoord-dml_0_451v0", "a.b c*>_x"]
    for name in names:
        log = store.open(name)
        log.sync(log.append(1, 5, name.encode()).end)
        log.close()
    assert store.channels() == sorted(names)
    for name in names:
        assert _payloads(store.open(name)) == [(1, 5, name.encode())]


def test_channels_are_listed_and_dropped(open_logs: Opener) -> None:
    store = open_logs()
    for name in ("b", "a"):
        log = store.open(name)
        log.sync(log.append(1, 1, b"x").end)
        log.close()
    assert store.channels() == ["a", "b"]
    store.drop("a")
    assert store.channels() == ["b"]
    assert _payloads(store.open("a")) == []
