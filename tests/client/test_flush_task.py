"""FlushTask: Go's Await semantics, against a scripted poll and then against real flushes."""

from __future__ import annotations

import asyncio
import itertools
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

import sluice
import sluice.client.embedded
from sluice.client import (
    Checkpoint,
    Client,
    FlushAllTask,
    FlushCancelledError,
    FlushTask,
    FlushTimeoutError,
)
from sluice.config import Settings
from sluice.engine.engine import Engine
from sluice.errors import CollectionNotFound, SluiceError
from tests.conftest import SluiceProcess
from tests.slow_storage import with_delay

# --- the wait loop, against a scripted poll ------------------------------------------------


class ScriptedPoll:
    """Answers from a script (a bool, or an exception to raise) and records each call."""

    def __init__(self, answers: list[bool | Exception], default: bool = False) -> None:
        self.answers = answers
        self.default = default
        self.calls: list[tuple[float, float | None]] = []
        self.start = time.monotonic()

    def __call__(self, budget: float | None) -> bool:
        self.calls.append((time.monotonic() - self.start, budget))
        answer = self.answers.pop(0) if self.answers else self.default
        if isinstance(answer, Exception):
            raise answer
        return answer


def scripted_task(poll: Callable[[float | None], bool]) -> FlushTask:
    return FlushTask(
        collection_name="docs",
        segment_ids=[1],
        flushed_segment_ids=[],
        flush_ts=42,
        checkpoints={},
        seal_time=0,
        poll=poll,
    )


def test_first_poll_waits_one_interval_and_returns_when_flushed() -> None:
    poll = ScriptedPoll([False, False, True])
    scripted_task(poll).wait(interval=0.05)
    assert len(poll.calls) == 3
    times = [t for t, _ in poll.calls]
    assert times[0] >= 0.05  # Go starts a timer before the first check
    assert all(b - a >= 0.045 for a, b in itertools.pairwise(times))
    assert all(budget is None for _, budget in poll.calls)


def test_timeout_polls_at_least_once_then_raises() -> None:
    poll = ScriptedPoll([])
    with pytest.raises(FlushTimeoutError) as err:
        scripted_task(poll).wait(timeout=0)
    assert len(poll.calls) == 1
    assert err.value.code == 1
    assert isinstance(err.value, SluiceError)
    assert err.value.message == "wait for flush timeout, collection: docs, flush_ts: 42"


def test_timeout_bounds_the_wait_and_each_poll() -> None:
    poll = ScriptedPoll([])
    start = time.monotonic()
    with pytest.raises(FlushTimeoutError):
        scripted_task(poll).wait(timeout=0.3, interval=0.1)
    assert 0.3 <= time.monotonic() - start < 0.6
    budgets = [budget for _, budget in poll.calls if budget is not None]
    assert len(budgets) == len(poll.calls) == 3
    assert all(b <= 0.3 for b in budgets)
    assert budgets == sorted(budgets, reverse=True)


def test_flush_finishing_at_the_deadline_is_not_a_timeout() -> None:
    poll = ScriptedPoll([True])
    scripted_task(poll).wait(timeout=0.01, interval=1.0)
    assert len(poll.calls) == 1


def test_poll_error_is_raised_at_once_without_retry() -> None:
    gone = CollectionNotFound.named("default", "docs")
    poll = ScriptedPoll([False, gone, True])
    with pytest.raises(CollectionNotFound) as err:
        scripted_task(poll).wait(timeout=5, interval=0.01)
    assert err.value is gone
    assert len(poll.calls) == 2


def test_cancel_event_interrupts_the_sleep() -> None:
    poll = ScriptedPoll([])
    cancel = threading.Event()
    threading.Timer(0.15, cancel.set).start()
    start = time.monotonic()
    with pytest.raises(FlushCancelledError, match="collection: docs, flush_ts: 42"):
        scripted_task(poll).wait(cancel=cancel, interval=10)
    assert time.monotonic() - start < 1.0
    assert poll.calls == []


def test_done_is_one_poll() -> None:
    poll = ScriptedPoll([False, True])
    task = scripted_task(poll)
    assert task.done() is False
    assert task.done() is True
    assert len(poll.calls) == 2


def test_await_and_wait_async() -> None:
    poll = ScriptedPoll([False, True])
    task = scripted_task(poll)

    async def main() -> None:
        await task

    asyncio.run(main())
    assert len(poll.calls) == 2

    never = scripted_task(ScriptedPoll([]))
    with pytest.raises(FlushTimeoutError):
        asyncio.run(never.wait_async(timeout=0.1, interval=0.02))


def test_flush_all_task_names_its_timestamp() -> None:
    task = FlushAllTask(flush_all_ts=7, pchannels=["p"], poll=ScriptedPoll([]))
    with pytest.raises(FlushTimeoutError, match="flush all timeout, flush_all_ts: 7"):
        task.wait(timeout=0)


# --- real flushes, both modes ---------------------------------------------------------------


def insert_rows(db: Client, name: str, ids: range) -> None:
    rng = np.random.default_rng(ids.start)
    db.insert(name, {"id": np.asarray(ids), "vector": rng.random((len(ids), 4), np.float32)})


def test_flush_stats_describe_the_flush(db: Client, name: str) -> None:
    db.create_collection(name, 4, num_shards=2)
    collection_id = db.describe_collection(name)["collection_id"]
    insert_rows(db, name, range(0, 40))

    first = db.flush(name)
    segment_ids, flushed_ids, flush_ts, checkpoints = first.get_flush_stats()
    assert abs((flush_ts >> 18) / 1000 - time.time()) < 5
    assert first.seal_time == (flush_ts >> 18) // 1000
    assert len(segment_ids) == 2  # one growing segment per shard was sealed
    assert flushed_ids == []
    pattern = re.compile(rf"by-dev-rootcoord-dml_\d+_{collection_id}v([01])")
    assert sorted(pattern.fullmatch(ch).group(1) for ch in checkpoints) == ["0", "1"]  # type: ignore[union-attr]
    for channel, cp in checkpoints.items():
        assert isinstance(cp, Checkpoint) and cp.channel_name == channel
        assert len(cp.msg_id) == 8
    first.wait(timeout=20)

    segments = db.list_persistent_segments(name)
    assert sorted(s.segment_id for s in segments) == sorted(segment_ids)
    assert {(s.state, s.level) for s in segments} == {("Flushed", "L1")}
    assert {s.channel for s in segments} == set(checkpoints)
    assert sum(s.num_rows for s in segments) == 40

    insert_rows(db, name, range(40, 50))
    second = db.flush(name)
    assert sorted(second.flushed_segment_ids) == sorted(segment_ids)
    assert not set(second.segment_ids) & set(segment_ids)
    assert second.flush_ts > flush_ts
    # The first flush completed, so every channel checkpoint is at or past its flush_ts.
    for cp in second.checkpoints.values():
        assert cp.timestamp >= flush_ts
        assert int.from_bytes(cp.msg_id, "little") > 0
    asyncio.run(second.wait_async(timeout=20))
    assert db.get_collection_stats(name) == {"row_count": 50}


def test_flush_of_an_empty_collection_completes(db: Client, name: str) -> None:
    db.create_collection(name, 4)
    task = db.flush(name)
    assert task.segment_ids == [] and task.flushed_segment_ids == []
    task.wait(timeout=10)
    assert db.list_persistent_segments(name) == []


def test_flush_all_waits_for_every_collection(db: Client, name: str) -> None:
    db.create_collection(name, 4)
    insert_rows(db, name, range(0, 5))
    task = db.flush_all()
    assert abs((task.flush_all_ts >> 18) / 1000 - time.time()) < 5
    task.wait(timeout=20)
    assert db.get_collection_stats(name) == {"row_count": 5}


# --- slow persistence: the flush stays in flight ---------------------------------------------

#: Seconds per segment-file write for the embedded engine (the slow server uses 3): shorter,
#: because dropping a collection waits for the write in flight.
EMBEDDED_STORAGE_DELAY = 1.5


@pytest.fixture(params=["embedded", "remote"])
def slow_db(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Client]:
    """A client whose segment-file writes are slow enough to keep a flush in flight."""
    if request.param == "remote":
        server: SluiceProcess = request.getfixturevalue("slow_server")
        client = sluice.connect(server.uri)
    else:

        def slow_engine(settings: Settings) -> Engine:
            return Engine(settings, wrap_stores=with_delay(EMBEDDED_STORAGE_DELAY))

        monkeypatch.setattr(sluice.client.embedded, "Engine", slow_engine)
        client = sluice.connect(tmp_path / "data")
    try:
        yield client
    finally:
        if request.param == "embedded":
            # Leave close() nothing to persist slowly.
            for collection in client.list_collections():
                client.drop_collection(collection)
        client.close()


def test_wait_times_out_while_persistence_is_slow(slow_db: Client, name: str) -> None:
    slow_db.create_collection(name, 4)
    insert_rows(slow_db, name, range(0, 10))
    task = slow_db.flush(name)
    start = time.monotonic()
    with pytest.raises(FlushTimeoutError) as err:
        task.wait(timeout=0.5)
    assert 0.5 <= time.monotonic() - start < 1.5
    assert (
        err.value.message
        == f"wait for flush timeout, collection: {name}, flush_ts: {task.flush_ts}"
    )
    assert not task.done()
    with pytest.raises(FlushTimeoutError):
        asyncio.run(task.wait_async(timeout=0.3))


def test_cancel_stops_a_slow_wait(slow_db: Client, name: str) -> None:
    slow_db.create_collection(name, 4)
    insert_rows(slow_db, name, range(0, 10))
    task = slow_db.flush(name)
    cancel = threading.Event()
    threading.Timer(0.4, cancel.set).start()
    start = time.monotonic()
    with pytest.raises(FlushCancelledError):
        task.wait(cancel=cancel)
    assert time.monotonic() - start < EMBEDDED_STORAGE_DELAY


def test_dropping_the_collection_fails_the_wait_at_once(slow_db: Client, name: str) -> None:
    slow_db.create_collection(name, 4)
    insert_rows(slow_db, name, range(0, 10))
    task = slow_db.flush(name)
    dropped_at: list[float] = []

    def drop() -> None:
        time.sleep(0.3)
        dropped_at.append(time.monotonic())
        slow_db.drop_collection(name)
        dropped_at.append(time.monotonic())

    dropper = threading.Thread(target=drop)
    dropper.start()
    try:
        with pytest.raises(CollectionNotFound):
            task.wait(timeout=30)
        failed_at = time.monotonic()
    finally:
        dropper.join()
    # One poll interval (plus the server's short hold) after the drop began, not after persistence.
    assert failed_at - dropped_at[0] < 1.0
