"""The ID allocator never hands out an ID twice, across threads and re-opens."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import orjson
import pytest
from meta_doubles import RecordingStore

from sluice.engine.ids import BLOCK, IdAllocator
from sluice.storage.local_meta import LocalMetaStore

FIRST = 450_000_000_000_000_000


def test_first_id_and_consecutive_ranges(tmp_path: Path) -> None:
    store = LocalMetaStore(tmp_path)
    alloc = IdAllocator(store, FIRST)
    assert alloc.allocate() == FIRST
    assert alloc.allocate(10) == FIRST + 1
    assert alloc.allocate() == FIRST + 11
    # The block is persisted before any ID in it is handed out.
    store.close()
    saved = LocalMetaStore(tmp_path).get(IdAllocator.KEY)
    assert saved is not None and orjson.loads(saved)["reserved_end"] >= FIRST + 12


def test_unique_under_threads(tmp_path: Path) -> None:
    alloc = IdAllocator(LocalMetaStore(tmp_path), FIRST)
    got: list[list[tuple[int, int]]] = [[] for _ in range(8)]
    barrier = threading.Barrier(8)

    def run(i: int) -> None:
        barrier.wait()
        for n in range(2000):
            count = 1 + (n * 7919 + i) % 700
            got[i].append((alloc.allocate(count), count))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ranges = sorted(r for per in got for r in per)
    for (a, n), (b, _) in itertools.pairwise(ranges):
        assert a + n <= b, "ranges overlap"


def test_never_reused_after_reopen(tmp_path: Path) -> None:
    seen_end = 0
    for round_no in range(6):
        # The first_id argument only matters for a fresh folder.
        alloc = IdAllocator(LocalMetaStore(tmp_path), FIRST)
        first = alloc.allocate()
        assert first >= seen_end, f"round {round_no}: reused IDs"
        big = alloc.allocate(BLOCK + 5)  # larger than a block
        last = alloc.allocate(3)
        assert first < big < last
        seen_end = last + 3
        # Crash: no close, whatever was left of the block is skipped.


def test_reopen_skips_rest_of_block_only(tmp_path: Path) -> None:
    alloc = IdAllocator(LocalMetaStore(tmp_path), FIRST)
    alloc.allocate(5)
    again = IdAllocator(LocalMetaStore(tmp_path), FIRST)
    assert again.allocate() == FIRST + BLOCK


def test_failed_block_write_never_leads_to_reuse(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path)
    alloc = IdAllocator(store, FIRST)
    alloc.allocate(BLOCK)  # the first block is used up exactly
    store.fail_next = 1
    with pytest.raises(OSError):
        alloc.allocate()
    handed_out = [alloc.allocate() for _ in range(10)]
    store.close()
    reopened = IdAllocator(LocalMetaStore(tmp_path), FIRST)
    assert reopened.allocate() > max(handed_out)
