"""Token indexes per segment: growing chunks reused, sealed indexes persisted and loaded."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from sluice.config import Settings
from sluice.engine.engine import Engine
from sluice.engine.ingest import Column
from sluice.engine.text_match import MAX_CHUNKS, TextMatchIndexes
from sluice.query import IndexLeaf
from sluice.schema import CollectionSchema, DataType, FieldSchema
from sluice.text import TokenIndex, analyzer_for

MATCH = {"enable_analyzer": "true", "enable_match": "true"}
SCHEMA = CollectionSchema(
    "c",
    (
        FieldSchema("id", DataType.INT64, is_primary=True),
        FieldSchema("vec", DataType.FLOAT_VECTOR, dim=2),
        FieldSchema("body", DataType.VARCHAR, max_length=100, type_params=MATCH),
    ),
)
WORDS = ["apple", "pear", "plum", "fig", "lime"]


def _docs(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=3).tolist()) for _ in range(n)]


def test_growing_rows_are_indexed_in_chunks_that_later_reads_reuse() -> None:
    registry = TextMatchIndexes(SCHEMA)
    docs = _docs(400)
    column = pa.chunked_array([pa.array(docs)])
    reference = TokenIndex.build(analyzer_for(None), docs)
    leaf = IndexLeaf("body", (), "text_match", ("plum",))
    for rows in (10, 10, 50, 51, 200, 400):
        lookup = registry.lookup(7, rows, lambda name: column, None)
        mask = lookup.lookup(leaf, rows)
        assert mask is not None
        assert mask.tolist() == reference.text_match(analyzer_for(None), "plum")[:rows].tolist()
    assert len(registry.indexes(7, "body", 400, lambda name: column)) == 5
    for rows in range(401, 401 + MAX_CHUNKS):
        longer = pa.chunked_array([pa.array(docs + ["fig"] * (rows - 400))])
        registry.indexes(7, "body", rows, lambda name, c=longer: c)
    assert len(registry.indexes(7, "body", 400 + MAX_CHUNKS, lambda name: column)) < MAX_CHUNKS


def test_other_leaves_go_to_the_fallback() -> None:
    class Fallback:
        def lookup(self, leaf: IndexLeaf, num_rows: int) -> np.ndarray:
            return np.ones(num_rows, dtype=bool)

    lookup = TextMatchIndexes(SCHEMA).lookup(1, 3, lambda name: pa.array([]), Fallback())
    assert lookup.lookup(IndexLeaf("id", (), "==", (1,)), 3).tolist() == [True] * 3


def _insert(engine: Engine, docs: list[str], start: int) -> None:
    n = len(docs)
    vectors = np.ones((n, 2), dtype=np.float32)
    engine.insert(
        "default",
        "c",
        None,
        [
            Column("id", DataType.INT64, pa.array(np.arange(start, start + n))),
            Column(
                "vec",
                DataType.FLOAT_VECTOR,
                pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), 2),
                dim=2,
            ),
            Column("body", DataType.VARCHAR, pa.array(docs)),
        ],
        n,
    )


def _matching(engine: Engine, expr: str) -> list[int]:
    result = engine.query("default", "c", expr, ["id"])
    return sorted(result.table.column("id").to_pylist())


def test_sealed_indexes_are_persisted_and_loaded_not_rebuilt(tmp_path: Path) -> None:
    docs = _docs(300, seed=3)
    expected = sorted(i for i, d in enumerate(docs) if "fig" in d.split())
    settings = Settings(data_dir=tmp_path / "data")
    engine = Engine(settings)
    try:
        engine.create_collection("default", SCHEMA)
        engine.create_index("default", "c", "vec", "", {"index_type": "FLAT", "metric_type": "L2"})
        engine.load("default", "c")
        _insert(engine, docs, 0)
        engine.flush("default", ["c"])
        collection = engine.get("default", "c")
        deadline = time.monotonic() + 30
        while not any(s.text_index_files for s in collection.segments()):
            assert time.monotonic() < deadline, "the token index was never built"
            time.sleep(0.05)
        assert _matching(engine, "text_match(body, 'fig')") == expected
    finally:
        engine.close()
    engine = Engine(settings)
    try:
        collection = engine.get("default", "c")
        sealed = [s for s in collection.segments() if s.text_index_files]
        assert sealed and all(collection.text_match.has_sealed(s.id, "body") for s in sealed)
        time.sleep(0.2)
        assert engine.index_builder.builds == 0
        assert _matching(engine, "text_match(body, 'fig')") == expected
    finally:
        engine.close()
