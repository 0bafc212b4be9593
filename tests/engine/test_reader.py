"""The read path over real segments: index hooks, row lookups, the view cache, taking rows."""

from __future__ import annotations

import numpy as np
import orjson
import pyarrow as pa
import pytest

from sluice.engine.collection import Snapshot
from sluice.engine.columns import SegmentView
from sluice.engine.deletes import DeleteLog
from sluice.engine.reader import CompiledFilter, matching_rows, take_rows, visible_rows
from sluice.engine.scalar_indexes import build_scalar, index_target, parse_scalar
from sluice.engine.segment import Segment, SegmentState
from sluice.query import compile_filter
from sluice.schema import TS_COLUMN, CollectionSchema, DataType, FieldSchema

SCHEMA = CollectionSchema(
    "c",
    (
        FieldSchema("id", DataType.INT64, field_id=100, is_primary=True),
        FieldSchema("v", DataType.FLOAT_VECTOR, field_id=101, dim=2),
        FieldSchema("x", DataType.INT64, field_id=102, nullable=True),
        FieldSchema("j", DataType.JSON, field_id=103),
    ),
)
N = 500


def _rows(start: int, stop: int) -> pa.Table:
    ids = np.arange(start, stop)
    x = [None if i % 7 == 0 else int(i % 50) for i in ids]
    docs = [orjson.dumps({"a": int(i % 9), "s": f"w{i % 4}"}) for i in ids]
    flat = pa.array(np.zeros(2 * len(ids), dtype=np.float32))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "v": pa.FixedSizeListArray.from_arrays(flat, 2),
            "x": pa.array(x, pa.int64()),
            "j": pa.array(docs, pa.binary()),
        }
    )


def _segment(batches: int = 5) -> Segment:
    segment = Segment(1, collection_id=1, partition_id=1, channel="c", schema=SCHEMA)
    step = N // batches
    for start in range(0, N, step):
        segment.append(_rows(start, start + step), timestamp=10 + start, offset=start, end=start)
    segment.state = SegmentState.FLUSHED
    return segment


def _index(segment: Segment, field: str, params: dict[str, str]) -> None:
    spec = parse_scalar(SCHEMA, index_target(SCHEMA, field), params)
    column = segment.view().table([spec.field_name]).column(spec.field_name)
    segment.indexes = {**segment.indexes, len(segment.indexes) + 1: build_scalar(spec, column)}


def _snapshot(view: SegmentView, read_ts: int = 10**9) -> Snapshot:
    return Snapshot(read_ts, (view,), DeleteLog(np.int64).snapshot(read_ts))


def _filter(text: str) -> CompiledFilter:
    bound = compile_filter(text, SCHEMA)
    assert bound is not None
    return CompiledFilter(bound=bound)


FILTERS = [
    "x == 3",
    "x != 3",
    "x > 40 and x <= 45",
    "x in [1, 2, 49]",
    "x >= 10",
    "not (x < 10)",
    "x == 3 or x == 4",
    'j["a"] == 4',
    'j["a"] > 6',
    'j["s"] == "w2"',
    'j["a"] in [1, 8]',
]


@pytest.mark.parametrize("text", FILTERS)
def test_indexed_answers_equal_scans(text: str) -> None:
    plain = _segment()
    indexed = _segment()
    _index(indexed, "x", {"index_type": "STL_SORT"})
    _index(
        indexed, "j", {"index_type": "INVERTED", "json_path": 'j["a"]', "json_cast_type": "double"}
    )
    _index(
        indexed, "j", {"index_type": "INVERTED", "json_path": 'j["s"]', "json_cast_type": "varchar"}
    )
    flt = _filter(text)
    a, b = plain.view(), indexed.view()
    assert np.array_equal(matching_rows(a, _snapshot(a), flt), matching_rows(b, _snapshot(b), flt))
    assert np.array_equal(flt.mask(a), flt.mask(b))


def test_the_index_is_what_answers() -> None:
    """An index built over other values changes the answer: proof that it is consulted."""
    segment = _segment()
    spec = parse_scalar(SCHEMA, index_target(SCHEMA, "x"), {"index_type": "INVERTED"})
    wrong = pa.array([49] * N, pa.int64())  # every row "holds" 49
    segment.indexes = {1: build_scalar(spec, wrong)}
    view = segment.view()
    rows = matching_rows(view, _snapshot(view), _filter("x == 49"))
    assert len(rows) == N - N // 7 - 1  # every valid row (nulls stay excluded by validity)
    # Inside a larger filter (the mask path) the leaf is still offered to the index...
    combined = matching_rows(view, _snapshot(view), _filter("x == 49 or id < 0"))
    assert np.array_equal(combined, rows)
    # ...while what no index answers (arithmetic) reads the column itself.
    assert len(matching_rows(view, _snapshot(view), _filter("x + 0 == 49"))) < 20


def test_visibility_applies_to_looked_up_rows() -> None:
    segment = _segment()
    _index(segment, "x", {"index_type": "STL_SORT"})
    view = segment.view()
    flt = _filter("x == 3")
    everything = matching_rows(view, _snapshot(view), flt)
    early = matching_rows(view, _snapshot(view, read_ts=10 + 200), flt)
    assert len(early) and set(early) < set(everything)
    assert all(view.ts[early] <= 210)
    deletes = DeleteLog(np.int64)
    deletes.add(view.pk[everything[:2]], 10**6)
    snap = Snapshot(10**9, (view,), deletes.snapshot(10**9))
    assert np.array_equal(matching_rows(view, snap, flt), everything[2:])
    assert np.array_equal(visible_rows(view, snap, everything), everything[2:])


def test_key_filters_look_rows_up() -> None:
    segment = _segment()
    view = segment.view()
    flt = CompiledFilter(keys=np.array([3, 499, 1000]))
    assert matching_rows(view, _snapshot(view), flt).tolist() == [3, 499]
    assert np.flatnonzero(flt.mask(view)).tolist() == [3, 499]


def test_view_cache_is_shared_with_newer_indexes_but_lookup_is_not() -> None:
    segment = _segment()
    view = segment.view()
    flt = CompiledFilter(bound=compile_filter("x == 5", SCHEMA), cache_key="x == 5")
    mask = flt.mask(view)
    assert view.cache.filter_masks["x == 5"] is mask
    assert view.scalar_lookup() is None
    _index(segment, "x", {"index_type": "INVERTED"})
    newer = segment.view()
    assert newer is not view and newer.cache is view.cache
    assert newer.scalar_lookup() is not None and view.scalar_lookup() is None


def test_masks_per_view_are_bounded() -> None:
    view = _segment().view()
    for i in range(40):
        CompiledFilter(bound=compile_filter(f"x == {i}", SCHEMA), cache_key=str(i)).mask(view)
    assert 0 < len(view.cache.filter_masks) <= 16
    assert "39" in view.cache.filter_masks


@pytest.mark.parametrize("count", [0, 1, 3, 16, 17, 200])
def test_take_rows_equals_take(count: int) -> None:
    view = _segment(batches=10).view()
    table = view.table(["id", "x", "j", TS_COLUMN])
    rows = np.random.default_rng(count).choice(N, size=count, replace=False)
    assert take_rows(table, rows).equals(table.take(pa.array(rows)))
