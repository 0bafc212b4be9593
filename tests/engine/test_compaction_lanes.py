"""The compactor's two lanes: small merges never wait behind a large one.

The background threads are parked (a one-hour interval) and each lane's
pass is run by the test, so which merges a lane takes is observed directly.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sluice.client.embedded import EmbeddedClient
from sluice.config import CompactionSettings, SegmentSettings, Settings
from sluice.engine.segment import SegmentLevel, SegmentState
from sluice.schema import CollectionSchema, DataType, FieldSchema

NAME = "lanes"
DIM = 8
#: Light merges are at most 1/16 of this: 256 KiB.
MAX_BYTES = 4 << 20


@pytest.fixture
def client(tmp_path: Path) -> Iterator[EmbeddedClient]:
    settings = Settings(
        data_dir=tmp_path,
        tick_seconds=0.05,
        # Automatic, but the threads wait an hour: the test runs each lane's pass.
        compaction=CompactionSettings(auto=True, interval_seconds=3600, quiet_seconds=3600),
        segments=SegmentSettings(max_bytes=MAX_BYTES),
    )
    opened = EmbeddedClient(tmp_path, settings=settings)
    yield opened
    opened.close()


def _create(client: EmbeddedClient) -> None:
    """An id and an 8-d vector with a FLAT index (exact answers), loaded."""
    schema = CollectionSchema(
        NAME,
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("v", DataType.FLOAT_VECTOR, dim=DIM),
        ),
    )
    client.create_collection(NAME, schema=schema)
    client.create_index(NAME, "v", "FLAT", "L2")
    client.load_collection(NAME)


def _flush_batch(client: EmbeddedClient, start: int, n: int, model: dict[int, list[float]]) -> None:
    vectors = np.random.default_rng(start).random((n, DIM), dtype=np.float32)
    rows = [{"id": start + i, "v": vectors[i].tolist()} for i in range(n)]
    client.insert(NAME, rows)
    model.update((r["id"], r["v"]) for r in rows)
    client.flush(NAME).wait(timeout=30)


def _sizes(client: EmbeddedClient) -> list[int]:
    collection = client.engine.get("default", NAME)
    return sorted(
        s.num_rows
        for s in collection.segments()
        if s.level != SegmentLevel.L0 and s.state == SegmentState.FLUSHED
    )


def _rows(client: EmbeddedClient) -> dict[int, list[float]]:
    found = client.query(NAME, "id >= 0", output_fields=["id", "v"])
    return {r["id"]: [round(x, 5) for x in r["v"]] for r in found}


def _model(model: dict[int, list[float]]) -> dict[int, list[float]]:
    return {k: [round(x, 5) for x in v] for k, v in model.items()}


def test_the_light_lane_takes_small_merges_and_skips_segments_being_merged(
    client: EmbeddedClient,
) -> None:
    _create(client)
    model: dict[int, list[float]] = {}
    for b in range(3):  # three tiny segments: one tier, a light merge
        _flush_batch(client, b * 100, 100, model)
    for b in range(3):  # three of 3,000 rows: one tier, together beyond a light merge
        _flush_batch(client, 10_000 + b * 3000, 3000, model)
    compactor: Any = client.engine.compactor
    collection = client.engine.get("default", NAME)
    big = [s for s in collection.segments() if s.num_rows == 3000]
    assert sum(s.nbytes for s in big) > MAX_BYTES / 16  # the premise: not light

    merged, busy = compactor._automatic_pass(light=True)
    assert merged and busy
    assert _sizes(client) == [300, 3000, 3000, 3000]
    assert _rows(client) == _model(model)

    # While the light lane merges the big segments, the main lane plans without them.
    compactor._merging.update(s.id for s in big)
    merged, _ = compactor._automatic_pass(light=False)
    assert not merged
    assert _sizes(client) == [300, 3000, 3000, 3000]

    compactor._merging.clear()
    merged, _ = compactor._automatic_pass(light=False)
    assert merged
    assert _sizes(client) == [300, 9000]
    assert _rows(client) == _model(model)


def test_a_manual_job_waits_for_the_light_lanes_merge_then_plans_every_segment(
    client: EmbeddedClient,
) -> None:
    _create(client)
    model: dict[int, list[float]] = {}
    for b in range(4):
        _flush_batch(client, b * 100, 100, model)
    compactor: Any = client.engine.compactor
    collection = client.engine.get("default", NAME)
    taken = [s.id for s in collection.segments() if s.num_rows == 100][:2]
    with compactor._merge_ended:
        compactor._merging.update(taken)  # as if the light lane were merging two of them

    job_id = client.engine.manual_compaction("default", NAME)
    time.sleep(0.5)
    assert client.engine.compaction_state(job_id).executing  # waiting, nothing planned yet
    assert _sizes(client) == [100, 100, 100, 100]

    with compactor._merge_ended:
        compactor._merging.clear()
        compactor._merge_ended.notify_all()
    deadline = time.monotonic() + 30
    while client.engine.compaction_state(job_id).executing:
        assert time.monotonic() < deadline, "the manual job never ran"
        time.sleep(0.05)
    assert _sizes(client) == [400]  # all four, the two the lane held included
    assert _rows(client) == _model(model)
