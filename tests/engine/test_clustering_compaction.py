"""Clustering compaction: segments re-cut by clustering-key range, reads pruned by it.

Every check compares the collection with a model (a dict of the live rows),
before and after the compaction, and across a restart.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from sluice.client.embedded import EmbeddedClient
from sluice.config import CompactionSettings, SegmentSettings, Settings
from sluice.engine.clustering import key_slices
from sluice.engine.data import read_snapshot
from sluice.engine.segment import Segment, SegmentLevel, SegmentState
from sluice.query import compile_filter
from sluice.schema import CollectionSchema, DataType, FieldSchema

NAME = "clustered"
DIM = 8
#: About 1,500 rows of this schema per segment.
MAX_BYTES = 64 << 10

FILTERS = [
    "k == 500",
    "k in [3, 250, 999]",
    "k > 900",
    "k >= 100 and k < 200",
    "k < 20 or k > 980",
    "k != 500",
    "k is null",
    "id < 300 and k > 400",
]


def _settings(path: Path) -> Settings:
    return Settings(
        data_dir=path,
        tick_seconds=0.05,
        compaction=CompactionSettings(auto=False),
        segments=SegmentSettings(max_bytes=MAX_BYTES),
    )


@pytest.fixture
def client(tmp_path: Path) -> Iterator[EmbeddedClient]:
    opened = EmbeddedClient(tmp_path, settings=_settings(tmp_path))
    yield opened
    opened.close()


def _create(client: EmbeddedClient) -> None:
    schema = CollectionSchema(
        NAME,
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("v", DataType.FLOAT_VECTOR, dim=DIM),
            FieldSchema("k", DataType.INT64, nullable=True, is_clustering_key=True),
        ),
    )
    client.create_collection(NAME, schema=schema)
    client.create_index(NAME, "v", "FLAT", "L2")
    client.load_collection(NAME)


def _insert(client: EmbeddedClient, ids: range, model: dict[int, int | None]) -> None:
    rng = np.random.default_rng(ids.start)
    keys = rng.integers(0, 1000, len(ids))
    rows = []
    for i, key in zip(ids, keys, strict=True):
        value = None if i % 50 == 0 else int(key)
        rows.append({"id": i, "v": rng.random(DIM).tolist(), "k": value})
        model[i] = value
    client.insert(NAME, rows)
    client.flush(NAME).wait(timeout=30)


def _matching(client: EmbeddedClient, text: str) -> dict[int, int | None]:
    found = client.query(NAME, text, output_fields=["id", "k"])
    return {r["id"]: r["k"] for r in found}


def _expected(model: dict[int, int | None], text: str) -> dict[int, int | None]:
    out = {}
    for i, k in model.items():
        if text == "k is null":
            keep = k is None
        elif k is None:
            keep = False
        else:
            keep = eval(text, {}, {"k": k, "id": i})
        if keep:
            out[i] = k
    return out


def _data_segments(client: EmbeddedClient) -> list[Segment]:
    collection = client.engine.get("default", NAME)
    return sorted(
        (
            s
            for s in collection.segments()
            if s.level != SegmentLevel.L0 and s.state == SegmentState.FLUSHED and s.num_rows
        ),
        key=lambda s: _range_order(s.cluster_range),
    )


def _range_order(cluster_range: tuple[object, object] | None) -> tuple[bool, bool, object]:
    """Clustered segments by key range (nulls-only ones last), then unclustered ones."""
    if cluster_range is None:
        return True, True, 0
    lo = cluster_range[0]
    return False, lo is None, 0 if lo is None else lo


def _wait(client: EmbeddedClient, job_id: int) -> None:
    deadline = time.monotonic() + 60
    while client.engine.compaction_state(job_id).executing:
        assert time.monotonic() < deadline, f"compaction {job_id} never ended"
        time.sleep(0.05)


def _cluster(client: EmbeddedClient) -> int:
    job_id = client.engine.manual_compaction("default", NAME, clustering=True)
    _wait(client, job_id)
    return job_id


def test_segments_hold_disjoint_key_ranges_and_every_answer_is_unchanged(
    client: EmbeddedClient,
) -> None:
    _create(client)
    model: dict[int, int | None] = {}
    for b in range(5):
        _insert(client, range(b * 1000, (b + 1) * 1000), model)
    client.delete(NAME, ids=[1, 2, 3, 4000])
    for i in (1, 2, 3, 4000):
        model.pop(i)
    before = {s.id for s in _data_segments(client)}
    probe = np.random.default_rng(7).random(DIM).tolist()
    searched = client.search(NAME, [probe], limit=10, filter="k > 300", anns_field="v")[0]

    job_id = _cluster(client)

    info = client.engine.compaction_state(job_id)
    assert [p.kind for p in info.plans] == ["clustering"] * len(info.plans)
    assert {s for p in info.plans for s in p.sources} == before
    segments = _data_segments(client)
    assert {s.id for s in segments} == {t for p in info.plans for t in p.targets}
    assert len(segments) >= 3  # 5,000 rows at about 1,500 per segment
    assert all(s.level == SegmentLevel.L2 and s.is_sorted for s in segments)
    ranged = [s.cluster_range for s in segments if s.cluster_range != (None, None)]
    assert all(r is not None for r in ranged)
    for (_, hi), (lo, _) in itertools.pairwise(ranged):
        assert hi < lo  # disjoint, ascending: a key value lives in one segment
    for segment in segments:
        keys = segment.view().table().column("k")
        lo, hi = segment.cluster_range or (None, None)
        non_null = [k for k in keys.to_pylist() if k is not None]
        assert non_null == [] if lo is None else (min(non_null), max(non_null)) == (lo, hi)
    for text in FILTERS:
        assert _matching(client, text) == _expected(model, text), text
    again = client.search(NAME, [probe], limit=10, filter="k > 300", anns_field="v")[0]
    assert [h["id"] for h in again] == [h["id"] for h in searched]


def test_reads_skip_the_segments_a_filter_rules_out(client: EmbeddedClient) -> None:
    _create(client)
    model: dict[int, int | None] = {}
    for b in range(4):
        _insert(client, range(b * 1000, (b + 1) * 1000), model)
    _cluster(client)
    collection = client.engine.get("default", NAME)
    total = len(_data_segments(client))
    ts = client.engine.ctx.tso.allocate()

    def views(text: str) -> int:
        bound = compile_filter(text, collection.schema)
        return len(read_snapshot(collection, ts, None, bound=bound).segments)

    assert views("k == 500") == 1
    assert views("k > 10000") == 0
    assert 1 <= views("k >= 100 and k < 200") < total
    assert views("k != 500") == views("id > 0") == total
    # Rows flushed after the compaction (an unclustered L1 segment) are always read.
    _insert(client, range(9000, 9010), model)
    assert views("k == 500") == 2
    assert _matching(client, "k == 500") == _expected(model, "k == 500")


def test_clustered_segments_survive_restart_mix_compaction_and_deletes(tmp_path: Path) -> None:
    client = EmbeddedClient(tmp_path, settings=_settings(tmp_path))
    model: dict[int, int | None] = {}
    try:
        _create(client)
        for b in range(3):
            _insert(client, range(b * 1000, (b + 1) * 1000), model)
        _cluster(client)
        clustered = {s.id: s.cluster_range for s in _data_segments(client)}
        for b in range(3, 6):  # three small L1 segments: a manual mix compaction merges them
            _insert(client, range(b * 1000, b * 1000 + 100), model)
        job_id = client.engine.manual_compaction("default", NAME)
        _wait(client, job_id)
        segments = _data_segments(client)
        assert {s.id: s.cluster_range for s in segments if s.level == SegmentLevel.L2} == clustered
        assert sum(1 for s in segments if s.level != SegmentLevel.L2) == 1
    finally:
        client.close()
    client = EmbeddedClient(tmp_path, settings=_settings(tmp_path))
    try:
        client.load_collection(NAME)
        segments = _data_segments(client)
        assert {s.id: s.cluster_range for s in segments if s.level == SegmentLevel.L2} == clustered
        for text in FILTERS:
            assert _matching(client, text) == _expected(model, text), text
        # A second clustering takes the L1 segment in; deleted rows are gone physically.
        client.delete(NAME, filter="id < 500")
        for i in range(500):
            model.pop(i)
        _cluster(client)
        segments = _data_segments(client)
        assert all(s.level == SegmentLevel.L2 for s in segments)
        assert sum(s.num_rows for s in segments) == len(model)
        for text in FILTERS:
            assert _matching(client, text) == _expected(model, text), text
    finally:
        client.close()


def test_a_collection_without_clustering_key_has_nothing_to_cluster(
    client: EmbeddedClient,
) -> None:
    schema = CollectionSchema(
        "plain",
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("v", DataType.FLOAT_VECTOR, dim=DIM),
        ),
    )
    client.create_collection("plain", schema=schema)
    job_id = client.engine.manual_compaction("default", "plain", clustering=True)
    assert job_id == -1
    info = client.engine.compaction_state(job_id)
    assert not info.executing and info.plans == ()


def test_key_slices_keep_a_run_of_equal_keys_together_and_nulls_last() -> None:
    keys = [5] * 20 + [1] * 10 + [None] * 7 + [9] * 10 + [3] * 3
    rows = pa.table({"k": pa.array(keys, pa.int64()), "pad": pa.array([0] * len(keys))})
    per_row = rows.nbytes // rows.num_rows
    slices = key_slices(rows, "k", 20 * per_row)
    got = [s.column("k").to_pylist() for s in slices]
    # 20 rows per slice nominally: the cut at row 20 falls among the 5s, so it moves to
    # their end (33 rows, within two slices' worth).
    assert got == [[1] * 10 + [3] * 3 + [5] * 20, [9] * 10, [None] * 7]
    long_run = pa.table({"k": pa.array([4] * 100, pa.int64()), "pad": pa.array([0] * 100)})
    # One value throughout: cut every 20 rows while the rest of the run outgrows two
    # slices' worth; the last 40 rows stay together.
    assert [s.num_rows for s in key_slices(long_run, "k", 20 * per_row)] == [20, 20, 20, 40]
