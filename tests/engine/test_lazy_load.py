"""Segments of a released collection stay on disk until LoadCollection reads them.

A store wrapper counts the binlogs read, so "not read at start-up" is
observed, not inferred; every answer after a load is compared with the
answer before the release (or with a model of the rows).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sluice.client.embedded import EmbeddedClient
from sluice.config import CompactionSettings, SegmentSettings, Settings
from sluice.engine.collection import Collection
from sluice.engine.residency import evict_segment
from sluice.engine.segment import SegmentLevel, SegmentState
from sluice.engine.stores import Stores
from sluice.schema import CollectionSchema, DataType, FieldSchema

NAME = "lazy"
DIM = 8
BATCH = 400
BATCHES = 3


class CountingFiles:
    """Segment files that count the binlogs read (``insert_log`` tables)."""

    def __init__(self, inner: Any, counts: Counter[str]) -> None:
        self._inner = inner
        self._counts = counts

    def read_table(self, rel: str, *args: Any, **kwargs: Any) -> Any:
        self._counts[rel.split("/", 1)[0]] += 1
        return self._inner.read_table(rel, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every engine opened in the test reads its segment files through :class:`CountingFiles`."""
    found: Counter[str] = Counter()
    import sluice.engine.engine as engine_module

    opened = engine_module.open_stores

    def counting(settings: Settings) -> Stores:
        stores = opened(settings)
        stores.files = CountingFiles(stores.files, found)  # type: ignore[assignment]
        return stores

    monkeypatch.setattr(engine_module, "open_stores", counting)
    return found


def settings(path: Path) -> Settings:
    # No background merges: the tests decide when segments change.
    return Settings(
        data_dir=path,
        tick_seconds=0.05,
        compaction=CompactionSettings(auto=False),
        segments=SegmentSettings(max_bytes=4 << 20),
    )


def open_client(path: Path) -> EmbeddedClient:
    return EmbeddedClient(path, settings=settings(path))


def rows(ids: np.ndarray) -> list[dict[str, Any]]:
    rng = np.random.default_rng(int(ids[0]))
    vectors = rng.random((len(ids), DIM), dtype=np.float32)
    return [
        {"id": int(i), "vector": v.tolist(), "tag": f"t{int(i) % 7}"}
        for i, v in zip(ids, vectors, strict=True)
    ]


def schema() -> CollectionSchema:
    return CollectionSchema(
        NAME,
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("vector", DataType.FLOAT_VECTOR, dim=DIM),
            FieldSchema("tag", DataType.VARCHAR, max_length=16),
        ),
    )


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def indexed(client: EmbeddedClient) -> bool:
    info = client.describe_index(NAME, "vector")
    return info is not None and info["state"] == "Finished"


def fill(client: EmbeddedClient, model: dict[int, dict[str, Any]], *, index: bool = True) -> None:
    """Three flushed segments of ``BATCH`` rows, indexed (FLAT: exact answers) when ``index``."""
    client.create_collection(NAME, schema=schema())
    if index:
        client.create_index(NAME, "vector", "FLAT", "L2")
    for b in range(BATCHES):
        batch = rows(np.arange(b * BATCH, (b + 1) * BATCH, dtype=np.int64))
        client.insert(NAME, batch)
        model.update((r["id"], r) for r in batch)
        client.flush(NAME).wait(timeout=30)
    if index:
        wait_for(lambda: indexed(client), "the index")


def collection(client: EmbeddedClient) -> Collection:
    return client.engine.get("default", NAME)


def data_segments(client: EmbeddedClient) -> list[Any]:
    return [
        s
        for s in collection(client).segments()
        if s.level != SegmentLevel.L0 and s.state == SegmentState.FLUSHED
    ]


def everything(client: EmbeddedClient) -> list[dict[str, Any]]:
    found = client.query(NAME, "id >= 0", output_fields=["id", "vector", "tag"])
    return sorted(found, key=lambda r: r["id"])


def answers(client: EmbeddedClient, queries: np.ndarray) -> list[list[tuple[int, float]]]:
    hits = client.search(NAME, queries.tolist(), limit=10, output_fields=["tag"])
    return [[(h["id"], round(h["distance"], 4)) for h in per_query] for per_query in hits]


def as_model(found: list[dict[str, Any]]) -> dict[int, tuple[list[float], str]]:
    return {r["id"]: ([round(x, 5) for x in r["vector"]], r["tag"]) for r in found}


def expected(model: dict[int, dict[str, Any]]) -> dict[int, tuple[list[float], str]]:
    return {k: ([round(x, 5) for x in r["vector"]], r["tag"]) for k, r in model.items()}


QUERIES = np.random.default_rng(7).random((5, DIM), dtype=np.float32)


@pytest.fixture
def path(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"


def test_a_released_collection_is_not_read_at_start_up_and_loads_as_before(
    path: Path, counts: Counter[str]
) -> None:
    model: dict[int, dict[str, Any]] = {}
    client = open_client(path)
    fill(client, model)
    client.load_collection(NAME)
    before_rows, before_hits = everything(client), answers(client, QUERIES)
    client.release_collection(NAME)
    client.close()

    counts.clear()
    client = open_client(path)
    try:
        assert counts["insert_log"] == 0, "a released collection's binlogs were read at start-up"
        segments = data_segments(client)
        assert len(segments) == BATCHES
        assert not any(s.resident for s in segments)
        # Truthful metadata without the rows: counts, sizes, indexes persisted.
        assert client.get_collection_stats(NAME)["row_count"] == BATCH * BATCHES
        assert all(s.num_rows == BATCH and s.nbytes >= BATCH * DIM * 4 for s in segments)
        info = client.describe_index(NAME, "vector")
        assert info is not None
        assert info["indexed_rows"] == BATCH * BATCHES and info["pending_index_rows"] == 0
        time.sleep(0.3)  # the builder had its chance: nothing to rebuild, nothing read
        assert client.engine.index_builder.builds == 0
        assert counts["insert_log"] == 0

        client.load_collection(NAME)
        assert counts["insert_log"] == BATCHES
        assert all(s.resident for s in data_segments(client))
        assert everything(client) == before_rows
        assert answers(client, QUERIES) == before_hits
        assert as_model(before_rows) == expected(model)
    finally:
        client.close()


def test_release_then_load_answers_the_same(path: Path, counts: Counter[str]) -> None:
    model: dict[int, dict[str, Any]] = {}
    client = open_client(path)
    try:
        fill(client, model)
        client.load_collection(NAME)
        client.delete(NAME, filter="id in [1, 2, 3, 500]")
        before_rows, before_hits = everything(client), answers(client, QUERIES)
        client.release_collection(NAME)
        assert not any(s.resident for s in data_segments(client))
        assert client.get_collection_stats(NAME)["row_count"] == BATCH * BATCHES
        counts.clear()
        client.load_collection(NAME)
        assert counts["insert_log"] == BATCHES
        assert everything(client) == before_rows
        assert answers(client, QUERIES) == before_hits
        for key in (1, 2, 3, 500):
            del model[key]
        assert as_model(before_rows) == expected(model)
    finally:
        client.close()


def test_partitions_load_and_release_their_own_segments(path: Path) -> None:
    client = open_client(path)
    try:
        client.create_collection(NAME, schema=schema())
        client.create_index(NAME, "vector", "FLAT", "L2")
        client.create_partition(NAME, "p1")
        client.insert(NAME, rows(np.arange(0, 300, dtype=np.int64)))
        client.insert(NAME, rows(np.arange(300, 500, dtype=np.int64)), partition_name="p1")
        client.flush(NAME).wait(timeout=30)
        wait_for(lambda: indexed(client), "the index")
        pid = collection(client).meta.partitions["p1"].id

        def resident() -> dict[bool, set[bool]]:
            out: dict[bool, set[bool]] = {}
            for s in data_segments(client):
                out.setdefault(s.partition_id == pid, set()).add(s.resident)
            return out

        client.load_partitions(NAME, ["p1"])
        assert resident() == {True: {True}, False: {False}}
        found = client.query(NAME, "id >= 0", output_fields=["id"])
        assert sorted(r["id"] for r in found) == list(range(300, 500))
        client.load_collection(NAME)
        assert resident() == {True: {True}, False: {True}}
        client.release_partitions(NAME, ["p1"])
        assert resident() == {True: {False}, False: {True}}
        found = client.query(NAME, "id >= 0", output_fields=["id"])
        assert sorted(r["id"] for r in found) == list(range(300))
    finally:
        client.close()


def test_compaction_of_a_released_collection_keeps_the_rows(path: Path) -> None:
    model: dict[int, dict[str, Any]] = {}
    client = open_client(path)
    fill(client, model)
    client.load_collection(NAME)
    deleted = list(range(0, BATCH * BATCHES, 9))
    client.delete(NAME, ids=deleted)
    for key in deleted:
        del model[key]
    client.flush(NAME).wait(timeout=30)
    client.release_collection(NAME)
    client.close()

    client = open_client(path)
    try:
        engine = client.engine
        job = engine.manual_compaction("default", NAME)
        wait_for(lambda: not engine.compaction_state(job).executing, "the compaction")
        state = engine.compaction_state(job)
        assert state.completed_plans >= 1 and state.failed_plans == 0
        segments = data_segments(client)
        assert len(segments) < BATCHES
        # The merge read the released segments; the merged ones are released again.
        wait_for(lambda: not any(s.resident for s in data_segments(client)), "eviction")
        assert client.get_collection_stats(NAME)["row_count"] == len(model)
        client.load_collection(NAME)
        assert as_model(everything(client)) == expected(model)
        wanted = np.array([r["vector"] for r in model.values()], dtype=np.float32)
        keys = np.array(list(model))
        for query, hits in zip(QUERIES, answers(client, QUERIES), strict=True):
            distances = ((wanted - query) ** 2).sum(axis=1)
            assert [h[0] for h in hits] == keys[np.argsort(distances, kind="stable")[:10]].tolist()
    finally:
        client.close()


def test_an_index_built_on_a_released_collection_is_right(path: Path) -> None:
    model: dict[int, dict[str, Any]] = {}
    client = open_client(path)
    fill(client, model, index=False)
    client.close()

    client = open_client(path)
    try:
        assert not any(s.resident for s in data_segments(client))
        client.create_index(NAME, "vector", "FLAT", "L2")
        wait_for(lambda: indexed(client), "the index")
        info = client.describe_index(NAME, "vector")
        assert info is not None and info["indexed_rows"] == BATCH * BATCHES
        # Read for the build, released again once built.
        wait_for(lambda: not any(s.resident for s in data_segments(client)), "eviction")
        assert all(s.index_files for s in data_segments(client))
        client.load_collection(NAME)
        assert all(s.indexes for s in data_segments(client))
        wanted = np.array([r["vector"] for r in model.values()], dtype=np.float32)
        keys = np.array(list(model))
        for query, hits in zip(QUERIES, answers(client, QUERIES), strict=True):
            distances = ((wanted - query) ** 2).sum(axis=1)
            assert [h[0] for h in hits] == keys[np.argsort(distances, kind="stable")[:10]].tolist()
        client.release_collection(NAME)
    finally:
        client.close()
    builds_after_restart(path)


def builds_after_restart(path: Path) -> None:
    """The index files written on the released collection are used, not rebuilt, after a restart."""
    client = open_client(path)
    try:
        time.sleep(0.3)
        assert client.engine.index_builder.builds == 0
        assert not any(s.resident for s in data_segments(client))
    finally:
        client.close()


def test_concurrent_readers_load_a_segment_once(path: Path, counts: Counter[str]) -> None:
    model: dict[int, dict[str, Any]] = {}
    client = open_client(path)
    fill(client, model)
    client.release_collection(NAME)
    client.close()

    client = open_client(path)
    try:
        counts.clear()
        segments = data_segments(client)
        views: list[int] = []
        errors: list[BaseException] = []

        def read() -> None:
            try:
                views.extend(s.view().num_rows for s in segments)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=read) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert views == [BATCH] * (6 * BATCHES)
        assert counts["insert_log"] == BATCHES
    finally:
        client.close()


def test_an_index_file_found_damaged_by_the_load_is_built_again(path: Path) -> None:
    model: dict[int, dict[str, Any]] = {}
    client = open_client(path)
    fill(client, model)
    client.release_collection(NAME)
    damaged = next(iter(data_segments(client)[0].index_files.values()))
    client.close()
    (path / "segments" / damaged).write_bytes(b"not an index")

    client = open_client(path)
    try:
        time.sleep(0.3)  # released: the file is not read, so not found damaged yet
        assert client.engine.index_builder.builds == 0
        client.load_collection(NAME)
        wait_for(lambda: client.engine.index_builder.builds == 1, "the rebuild")
        wait_for(lambda: indexed(client), "the index")
        assert all(s.indexes for s in data_segments(client))
        wanted = np.array([r["vector"] for r in model.values()], dtype=np.float32)
        keys = np.array(list(model))
        for query, hits in zip(QUERIES, answers(client, QUERIES), strict=True):
            distances = ((wanted - query) ** 2).sum(axis=1)
            assert [h[0] for h in hits] == keys[np.argsort(distances, kind="stable")[:10]].tolist()
    finally:
        client.close()


def test_views_stay_whole_while_segments_are_evicted_and_read_again(path: Path) -> None:
    model: dict[int, dict[str, Any]] = {}
    client = open_client(path)
    try:
        fill(client, model)
        client.release_collection(NAME)
        owner = collection(client)
        segments = data_segments(client)
        expected_keys = {s.id: sorted(np.asarray(s.view().pk).tolist()) for s in segments}
        stop = threading.Event()
        errors: list[BaseException] = []

        def churn() -> None:
            try:
                while not stop.is_set():
                    for s in segments:
                        evict_segment(client.engine.ctx, owner, s)
                        s.make_resident()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        def read() -> None:
            try:
                for _ in range(60):
                    for s in segments:
                        view = s.view()
                        assert view.num_rows == BATCH
                        assert sorted(np.asarray(view.pk).tolist()) == expected_keys[s.id]
                        assert len(view.vectors["vector"]) == BATCH
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        churner = threading.Thread(target=churn)
        readers = [threading.Thread(target=read) for _ in range(3)]
        churner.start()
        for t in readers:
            t.start()
        for t in readers:
            t.join()
        stop.set()
        churner.join()
        assert not errors, errors[0]
    finally:
        client.close()


def test_an_embedding_list_index_never_pulls_a_released_segment_in(
    path: Path, counts: Counter[str]
) -> None:
    """Struct vector indexes are searched exactly (nothing to build): not a missing index."""
    struct = FieldSchema(
        "chunks",
        DataType.ARRAY_OF_STRUCT,
        max_capacity=4,
        struct_fields=(FieldSchema("vec", DataType.FLOAT_VECTOR, dim=2),),
    )
    client = open_client(path)
    client.create_collection(NAME, schema=replace(schema(), fields=(*schema().fields, struct)))
    client.create_index(NAME, "vector", "FLAT", "L2")
    client.create_index(NAME, "chunks[vec]", "HNSW", "MAX_SIM_IP")
    batch = rows(np.arange(BATCH, dtype=np.int64))
    for r in batch:
        r["chunks"] = [{"vec": [float(r["id"]), 1.0]}]
    client.insert(NAME, batch)
    client.flush(NAME).wait(timeout=30)
    wait_for(lambda: indexed(client), "the index")
    client.close()

    counts.clear()
    client = open_client(path)
    try:
        time.sleep(0.5)  # the builder had its chance
        assert counts["insert_log"] == 0, "a released segment was read for an index"
        assert not any(s.resident for s in data_segments(client))
        client.load_collection(NAME)
        got = client.query(NAME, "id == 5", output_fields=["chunks"])
        assert got[0]["chunks"] == [{"vec": [5.0, 1.0]}]
    finally:
        client.close()
