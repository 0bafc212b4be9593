"""The timestamp oracle: strictly increasing, across threads and across re-opens.

The wall clock is replaced by a controllable one (``sluice.engine.tso.now_ms``)
so the tests can step it backwards, freeze it, or jump it forwards.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

import orjson
import pytest
from meta_doubles import RecordingStore

from sluice.engine import tso as tso_module
from sluice.engine.tso import (
    LOGICAL_MASK,
    RENEW_AHEAD_MS,
    WINDOW_MS,
    TimestampOracle,
    compose,
    physical_ms,
)
from sluice.errors import StorageWriteError
from sluice.storage.local_meta import LocalMetaStore


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock(1_700_000_000_000)
    monkeypatch.setattr(tso_module, "now_ms", c)
    return c


def test_compose_round_trip() -> None:
    assert physical_ms(compose(123_456, 789)) == 123_456
    assert compose(1, 0) == 1 << 18


def test_strictly_increasing_under_threads(tmp_path: Path) -> None:
    oracle = TimestampOracle(LocalMetaStore(tmp_path))
    per_thread = [[] for _ in range(8)]
    barrier = threading.Barrier(8)

    def run(i: int) -> None:
        barrier.wait()
        out = per_thread[i]
        for n in range(3000):
            out.append(oracle.allocate(1 + n % 3))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for values in per_thread:
        assert all(a < b for a, b in itertools.pairwise(values))
    everything = [v for values in per_thread for v in values]
    assert len(set(everything)) == len(everything)
    assert oracle.last() == max(everything)


def test_allocate_count_reserves_a_range(tmp_path: Path, clock: Clock) -> None:
    oracle = TimestampOracle(LocalMetaStore(tmp_path))
    last = oracle.allocate(100)
    first_of_range = last - 99
    nxt = oracle.allocate()
    assert nxt > last
    assert physical_ms(first_of_range) == physical_ms(last)


def test_frozen_clock_and_logical_overflow(tmp_path: Path, clock: Clock) -> None:
    oracle = TimestampOracle(LocalMetaStore(tmp_path))
    values = [oracle.allocate(LOGICAL_MASK // 3) for _ in range(20)]
    assert all(a < b for a, b in itertools.pairwise(values))
    assert physical_ms(values[-1]) > clock.ms, (
        "overflowing the logical part borrows from the future"
    )


def test_clock_going_back_while_running(tmp_path: Path, clock: Clock) -> None:
    oracle = TimestampOracle(LocalMetaStore(tmp_path))
    before = oracle.allocate()
    clock.ms -= 60_000
    after = [oracle.allocate() for _ in range(100)]
    assert before < after[0]
    assert all(a < b for a, b in itertools.pairwise(after))


@pytest.mark.parametrize("step_back_ms", [0, 1, WINDOW_MS - 1, 3_600_000])
def test_never_backwards_across_reopen(tmp_path: Path, clock: Clock, step_back_ms: int) -> None:
    highest = 0
    for round_no in range(5):
        oracle = TimestampOracle(LocalMetaStore(tmp_path))
        values = []
        for n in range(500):
            # Time moves forwards (sometimes a lot) while the process runs...
            clock.ms += n % 7 * 13
            values.append(oracle.allocate(1 + n % 5))
        assert values[0] > highest, f"round {round_no}: went backwards after re-open"
        assert all(a < b for a, b in itertools.pairwise(values))
        highest = max(highest, oracle.last())
        # ...then the process dies (no close exists to call) and the clock steps back.
        clock.ms -= step_back_ms


def test_window_is_not_written_per_timestamp(tmp_path: Path, clock: Clock) -> None:
    store = RecordingStore(tmp_path)
    oracle = TimestampOracle(store)
    for _ in range(10_000):
        clock.ms += 1
        oracle.allocate()
    # 10 s of activity renews a 3 s window a handful of times.
    assert 1 <= len(store.commits) <= 10_000 // WINDOW_MS + 2


def test_failed_window_write_never_lets_timestamps_go_backwards(
    tmp_path: Path, clock: Clock
) -> None:
    store = RecordingStore(tmp_path)
    oracle = TimestampOracle(store)
    start = clock.ms
    store.fail_next = 1
    clock.ms += WINDOW_MS  # the next allocation must renew the window
    with pytest.raises(StorageWriteError):
        oracle.allocate()
    handed_out = []
    for _ in range(100):
        clock.ms += 20
        with contextlib.suppress(StorageWriteError):
            handed_out.append(oracle.allocate())
    # The process dies; the clock is back where it started.
    clock.ms = start
    store.close()
    reopened = TimestampOracle(LocalMetaStore(tmp_path))
    assert reopened.allocate() > max(handed_out)


class FailingDisk(RecordingStore):
    """A metadata store whose commits fail while ``failing`` is set (a read-only folder)."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.failing = False

    @property
    def writes(self) -> int:
        return len(self.commits)

    def commit(self, puts: Mapping[str, bytes], deletes: Iterable[str] = ()) -> None:
        if self.failing:
            raise StorageWriteError.from_os_error(
                OSError(30, "Read-only file system"), self._dir / "journal"
            )
        super().commit(puts, deletes)


def test_reads_never_write_and_never_pass_the_saved_window(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = FailingDisk(tmp_path)
    oracle = TimestampOracle(disk)
    writes_at_start = disk.writes
    last_write = oracle.allocate()
    disk.failing = True
    reads = []
    for _ in range(50):
        clock.ms += 200  # ten seconds pass: the window runs out long before
        reads.append(oracle.read_timestamp())
    assert disk.writes == writes_at_start, "a read wrote to disk"
    assert reads[0] > last_write
    assert all(a < b for a, b in itertools.pairwise(reads))
    saved = LocalMetaStore(tmp_path).get(TimestampOracle.KEY)
    assert saved is not None
    saved_end = int(orjson.loads(saved)["window_end_ms"])
    assert max(physical_ms(r) for r in reads) < saved_end
    with pytest.raises(StorageWriteError) as info:
        oracle.allocate()
    assert "Read-only file system" in info.value.message
    assert "journal" in info.value.message
    disk.failing = False
    assert oracle.allocate() > max(reads), "a write after the disk recovers sees every read"


def test_reads_at_the_end_of_a_window_stay_usable(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Logical values run out at the last millisecond; reads then repeat instead of failing."""
    disk = FailingDisk(tmp_path)
    oracle = TimestampOracle(disk)
    disk.failing = True
    clock.ms += 10 * WINDOW_MS
    values = [oracle.read_timestamp() for _ in range(LOGICAL_MASK + 10)]
    assert all(a <= b for a, b in itertools.pairwise(values))
    assert values[-1] == values[-2]
    disk.failing = False
    assert oracle.allocate() > values[-1]


def test_renew_ahead_only_when_used_and_nearly_spent(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = FailingDisk(tmp_path)
    oracle = TimestampOracle(disk)
    base = disk.writes
    clock.ms += WINDOW_MS - RENEW_AHEAD_MS + 1
    assert not oracle.renew_ahead(), "an idle clock does not rewrite the file"
    oracle.read_timestamp()
    assert oracle.renew_ahead()
    assert disk.writes == base + 1
    assert not oracle.renew_ahead(), "a fresh window is not renewed again"
    # Renewed ahead of need, the next writes do not touch the disk.
    disk.failing = True
    clock.ms += RENEW_AHEAD_MS
    oracle.allocate()
    disk.failing = False
    oracle.read_timestamp()
    clock.ms += WINDOW_MS
    disk.failing = True
    with pytest.raises(StorageWriteError):
        oracle.renew_ahead()
