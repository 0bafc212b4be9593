"""Chunked columns: appends adopt arrays, reads consolidate, old snapshots stay readable."""

from __future__ import annotations

import threading

import numpy as np

from sluice.engine.columns import ChunkedColumn


def test_reads_return_exactly_the_published_prefix() -> None:
    col = ChunkedColumn(np.int64)
    col.append(np.arange(3))
    col.append(np.arange(3, 7))
    assert col.read(3).tolist() == [0, 1, 2]
    assert col.read(7).tolist() == list(range(7))
    assert col.read(0).tolist() == []


def test_an_older_snapshot_reads_after_a_newer_one_merged() -> None:
    # A reader holding a 3-row snapshot must still read it after a 7-row read merged chunks.
    col = ChunkedColumn(np.int64)
    col.append(np.arange(3))
    col.append(np.arange(3, 5))
    col.append(np.arange(5, 7))
    assert col.read(7).tolist() == list(range(7))
    assert col.read(3).tolist() == [0, 1, 2]
    assert col.read(5).tolist() == [0, 1, 2, 3, 4]


def test_vectors_keep_their_width() -> None:
    col = ChunkedColumn(np.float32, width=4)
    col.append(np.ones((2, 4), dtype=np.float32))
    col.append(np.zeros((1, 4), dtype=np.float32))
    assert col.read(3).shape == (3, 4)
    assert col.read_range(1, 3).tolist() == [[1, 1, 1, 1], [0, 0, 0, 0]]


def test_concurrent_readers_of_different_snapshots_never_fail() -> None:
    col = ChunkedColumn(np.int64)
    published: list[int] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        for i in range(400):
            col.append(np.arange(i * 5, i * 5 + 5))
            published.append(len(col))
        stop.set()

    def reader(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            while not stop.is_set() or rng.random() < 0.5:
                if not published:
                    continue
                rows = published[int(rng.integers(0, len(published)))]
                assert col.read(rows).tolist() == list(range(rows))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=reader, args=(i,)) for i in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors[0]
