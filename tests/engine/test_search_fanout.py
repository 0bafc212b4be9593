"""A single query spreads only big segments over the cores; small ones stay in its thread."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import sluice.engine.search as search_module
from sluice.config import Settings
from sluice.engine.engine import Engine
from sluice.engine.ingest import Column
from sluice.engine.prepared_search import SearchRequest
from sluice.index import configure_threads
from sluice.schema import CollectionSchema, DataType, FieldSchema

DIM = 8
BIG = search_module.FANOUT_MIN_ROWS


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = Engine(Settings(data_dir=tmp_path / "data"))
    schema = CollectionSchema(
        "c",
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("vec", DataType.FLOAT_VECTOR, dim=DIM),
        ),
    )
    eng.create_collection("default", schema)
    eng.create_index("default", "c", "vec", "", {"index_type": "FLAT", "metric_type": "L2"})
    eng.load("default", "c")
    previous = configure_threads()
    configure_threads(max_threads=2, batch_min_queries=8)
    try:
        yield eng
    finally:
        configure_threads(
            max_threads=previous.max_threads, batch_min_queries=previous.batch_min_queries
        )
        eng.close()


def _insert(engine: Engine, vectors: np.ndarray, first_id: int) -> None:
    n = len(vectors)
    columns = [
        Column("id", DataType.INT64, pa.array(np.arange(first_id, first_id + n))),
        Column(
            "vec",
            DataType.FLOAT_VECTOR,
            pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM),
            dim=DIM,
        ),
    ]
    engine.insert("default", "c", None, columns, n)


def _flush(engine: Engine) -> None:
    done = engine.flush("default", ["c"]).collections["c"]
    assert engine.flush_state("default", "c", done.sealed, done.flush_ts, 60.0)


def _fanned_out_segments(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Search once; the segment counts handed to ``scan_blocks``, and check the hits."""
    handed: list[int] = []
    real = search_module.scan_blocks

    def spy(run, total, min_block):  # type: ignore[no-untyped-def]
        handed.append(total)
        return real(run, total, min_block)

    monkeypatch.setattr(search_module, "scan_blocks", spy)
    query = np.full((1, DIM), 0.5, dtype=np.float32)
    request = SearchRequest(anns_field="vec", limit=5, metric="L2")
    result = engine.search_by_key("default", "c", None, lambda: request, query)
    collection = engine.get("default", "c")
    everything = np.concatenate(
        [v.vector("vec") for v in collection.snapshot(2**63).segments]  # every row, any order
    )
    best = np.sort(((everything - query) ** 2).sum(axis=1))[:5]
    assert np.allclose(np.asarray(result.hits.scores), best, atol=1e-4)
    return handed


def test_a_small_tail_stays_in_the_callers_thread(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(3)
    _insert(engine, rng.random((BIG, DIM), dtype=np.float32), 0)
    _flush(engine)
    _insert(engine, rng.random((50, DIM), dtype=np.float32), BIG)
    # One big segment and a 50-row growing one: nothing is handed to the pool.
    assert _fanned_out_segments(engine, monkeypatch) == []


def test_big_segments_are_spread_and_small_ones_are_not(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(4)
    for first in (0, BIG):
        _insert(engine, rng.random((BIG, DIM), dtype=np.float32), first)
        _flush(engine)
    _insert(engine, rng.random((50, DIM), dtype=np.float32), 2 * BIG)
    # Two big segments share the cores; the growing 50 rows are not among them.
    assert _fanned_out_segments(engine, monkeypatch) == [2]
