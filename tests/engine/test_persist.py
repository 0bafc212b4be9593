"""The persister in-process: clean close, WAL trimming, and what happens when a write fails."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from sluice.config import SegmentSettings, Settings
from sluice.engine.engine import Engine
from sluice.engine.ingest import Column
from sluice.engine.segment import SegmentLevel, SegmentState
from sluice.errors import StorageWriteError
from sluice.schema import CollectionSchema, DataType, FieldSchema
from sluice.storage.segment_files import SegmentFiles

NAME = "persisted"
DIM = 4


def settings(data: Path) -> Settings:
    return Settings(
        data_dir=data,
        wal_file_bytes=8192,
        tick_seconds=0.05,
        segments=SegmentSettings(max_bytes=16384, sync_buffer_bytes=4096),
    )


def insert(engine: Engine, ids: np.ndarray) -> None:
    vectors = np.repeat(ids.astype(np.float32)[:, None], DIM, axis=1).reshape(-1)
    columns = [
        Column("id", DataType.INT64, pa.array(ids)),
        Column(
            "vec",
            DataType.FLOAT_VECTOR,
            pa.FixedSizeListArray.from_arrays(pa.array(vectors), DIM),
            DIM,
        ),
    ]
    engine.insert("default", NAME, None, columns, len(ids))


def stored_ids(engine: Engine) -> list[int]:
    collection = engine.get("default", NAME)
    out: list[int] = []
    for segment in collection.segments():
        if segment.level != SegmentLevel.L0 and segment.state != SegmentState.DROPPED:
            out.extend(np.asarray(segment.view().pk).tolist())
    return sorted(out)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = Engine(settings(tmp_path / "data"))
    schema = CollectionSchema(
        NAME,
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("vec", DataType.FLOAT_VECTOR, dim=DIM),
        ),
    )
    eng.create_collection("default", schema, shards_num=2)
    try:
        yield eng
    finally:
        eng.close()


def test_clean_close_leaves_nothing_to_replay(engine: Engine, tmp_path: Path) -> None:
    for batch in range(30):
        insert(engine, np.arange(batch * 50, batch * 50 + 50, dtype=np.int64))
        if batch % 7 == 3:
            engine.delete("default", NAME, None, f"id in [{batch * 50}, {batch * 50 + 1}]", None)
        if batch % 10 == 9:
            engine.flush("default", [NAME])
    engine.close()
    reopened = Engine(settings(tmp_path / "data"))
    try:
        collection = reopened.get("default", NAME)
        for channel in collection.channels:
            assert channel.persisted.offset == channel.wal.end_offset
            assert list(channel.wal.replay(channel.persisted.offset)) == []
            # Everything before the checkpoint was trimmed down to the current file.
            assert channel.wal.first_offset > 0
        assert stored_ids(reopened) == list(range(1500))
    finally:
        reopened.close()


def test_flush_completes_and_moves_checkpoints(engine: Engine) -> None:
    insert(engine, np.arange(500, dtype=np.int64))
    engine.delete("default", NAME, None, "id in [3, 4]", None)
    result = engine.flush("default", [NAME]).collections[NAME]
    assert engine.flush_state("default", NAME, result.sealed, result.flush_ts, 10.0)
    collection = engine.get("default", NAME)
    for channel in collection.channels:
        assert channel.persisted.timestamp >= result.flush_ts
        assert not channel.pending_deletes


def test_failed_final_sync_is_retried(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    real = SegmentFiles.write_table
    failures = {"left": 1}

    def flaky(self: SegmentFiles, rel: str, table: pa.Table) -> int:
        if failures["left"]:
            failures["left"] -= 1
            raise OSError(5, "Input/output error")
        return real(self, rel, table)

    monkeypatch.setattr(SegmentFiles, "write_table", flaky)
    insert(engine, np.arange(50, dtype=np.int64))
    result = engine.flush("default", [NAME]).collections[NAME]
    # The persister retries a failed channel after a second; give it a few.
    assert engine.flush_state("default", NAME, result.sealed, result.flush_ts, 4.0)


def test_flush_reports_a_disk_that_keeps_failing(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GetFlushState answers with the storage error instead of waiting for ever; then recovers."""
    real = SegmentFiles.write_table
    broken = {"on": True}

    def failing(self: SegmentFiles, rel: str, table: pa.Table) -> int:
        if broken["on"]:
            raise OSError(28, "No space left on device", f"/data/segments/{rel}")
        return real(self, rel, table)

    monkeypatch.setattr(SegmentFiles, "write_table", failing)
    insert(engine, np.arange(50, dtype=np.int64))
    result = engine.flush("default", [NAME]).collections[NAME]
    with pytest.raises(StorageWriteError) as info:
        # Long enough for two failed attempts; a hang would return False at the end instead.
        engine.flush_state("default", NAME, result.sealed, result.flush_ts, 30.0)
    assert "No space left on device" in info.value.message
    assert "/data/segments/insert_log/" in info.value.message
    with pytest.raises(StorageWriteError):
        engine.flush("default", [NAME])
    broken["on"] = False

    def flushed_once_retried() -> bool:
        # The error stands until the next attempt (a second later) succeeds.
        with contextlib.suppress(StorageWriteError):
            return engine.flush_state("default", NAME, result.sealed, result.flush_ts, 0.5)
        return False

    deadline = time.monotonic() + 20
    while not flushed_once_retried():
        assert time.monotonic() < deadline, "flush never completed after the disk recovered"
    again = engine.flush("default", [NAME]).collections[NAME]
    assert engine.flush_state("default", NAME, again.sealed, again.flush_ts, 10.0)
    assert stored_ids(engine) == list(range(50))
