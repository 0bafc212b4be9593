"""Prepared searches: planned once per key, re-planned when indexes change, iterators not kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from sluice.config import Settings
from sluice.engine.engine import Engine
from sluice.engine.ingest import Column
from sluice.engine.prepared_search import PLANS_KEPT, SearchRequest
from sluice.schema import CollectionSchema, DataType, FieldSchema

DIM = 4


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
    vectors = np.arange(40, dtype=np.float32).reshape(10, DIM)
    columns = [
        Column("id", DataType.INT64, pa.array(np.arange(10))),
        Column(
            "vec",
            DataType.FLOAT_VECTOR,
            pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM),
            dim=DIM,
        ),
    ]
    eng.insert("default", "c", None, columns, 10)
    eng.create_index("default", "c", "vec", "", {"index_type": "FLAT", "metric_type": "L2"})
    eng.load("default", "c")
    try:
        yield eng
    finally:
        eng.close()


def _search(engine: Engine, key: object, request: SearchRequest) -> list[int]:
    query = np.ones((1, DIM), dtype=np.float32)
    result = engine.search_by_key("default", "c", key, lambda: request, query)
    return [int(k) for k in result.hits.pks]


def test_a_key_is_planned_once(engine: Engine) -> None:
    calls: list[int] = []

    def request() -> SearchRequest:
        calls.append(1)
        return SearchRequest(anns_field="vec", limit=3, metric="L2")

    query = np.zeros((1, DIM), dtype=np.float32)
    for _ in range(3):
        result = engine.search_by_key("default", "c", "k", request, query)
        assert [int(k) for k in result.hits.pks] == [0, 1, 2]
    assert len(calls) == 1
    collection = engine.get("default", "c")
    assert list(collection.search_plans) == ["k"]


def test_an_index_change_plans_again(engine: Engine) -> None:
    request = SearchRequest(anns_field="vec", limit=2, metric=None)
    assert _search(engine, "k", request) == [0, 1]
    collection = engine.get("default", "c")
    first = collection.search_plans["k"]
    engine.release("default", "c")
    engine.drop_index("default", "c", "vec", "")
    engine.create_index("default", "c", "vec", "", {"index_type": "FLAT", "metric_type": "IP"})
    engine.load("default", "c")
    assert _search(engine, "k", request) == [9, 8]  # largest inner product first
    assert collection.search_plans["k"] is not first
    assert collection.search_plans["k"].plan.params.metric_type == "IP"


def test_iterator_pages_are_not_kept(engine: Engine) -> None:
    page = SearchRequest(anns_field="vec", limit=2, metric="L2", iterator=True)
    assert _search(engine, "page", page) == [0, 1]
    assert "page" not in engine.get("default", "c").search_plans


def test_at_most_plans_kept(engine: Engine) -> None:
    request = SearchRequest(anns_field="vec", limit=1, metric="L2")
    for key in range(PLANS_KEPT + 5):
        assert _search(engine, key, request) == [0]
    plans = engine.get("default", "c").search_plans
    assert len(plans) == PLANS_KEPT
    assert 0 not in plans and PLANS_KEPT + 4 in plans
