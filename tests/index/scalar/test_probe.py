"""SegmentIndexes: routing the evaluator's leaves to one segment's indexes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from sluice.index.scalar import SegmentIndexes, build_scalar_index, parse_scalar_index_spec
from sluice.query import IndexLeaf
from sluice.schema import DataType, FieldSchema

GEOMS = pa.array(["POINT (0 0)", "POINT (3 4)", None, "POLYGON ((0 0, 1 0, 1 1, 0 1, 0 0))"])
NUMBERS = pa.array([5, 1, None, 5])
DOCS = pa.array([b'{"a": [1, 2]}', b'{"a": 2}', b'{"a": "x"}', None], type=pa.binary())


def _lookup() -> SegmentIndexes:
    geo = build_scalar_index(
        parse_scalar_index_spec(FieldSchema("g", DataType.GEOMETRY), "RTREE", {}), GEOMS
    )
    num = build_scalar_index(
        parse_scalar_index_spec(FieldSchema("n", DataType.INT64), "INVERTED", {}), NUMBERS
    )
    doc_spec = parse_scalar_index_spec(
        FieldSchema("j", DataType.JSON),
        "INVERTED",
        {"json_cast_type": "ARRAY_DOUBLE", "json_path": "j['a']"},
        resolve_json_path=lambda text: ("a",),
    )
    doc = build_scalar_index(doc_spec, DOCS)
    return SegmentIndexes(4, {("g", ()): geo, ("n", ()): num, ("j", ("a",)): doc})


def _rows(mask: object) -> list[int]:
    assert isinstance(mask, np.ndarray) and mask.dtype == np.bool_ and len(mask) == 4
    return np.flatnonzero(mask).tolist()


def test_routes_each_operator_family() -> None:
    lookup = _lookup()
    assert len(lookup) == 3
    assert _rows(lookup.lookup(IndexLeaf("n", (), "==", (5,)), 4)) == [0, 3]
    assert _rows(lookup.lookup(IndexLeaf("n", (), "!=", (5,)), 4)) == [1]
    assert _rows(lookup.lookup(IndexLeaf("n", (), "range", (1, True, 5, False)), 4)) == [1]
    assert _rows(lookup.lookup(IndexLeaf("n", (), "in", (1, 9)), 4)) == [1]
    assert _rows(lookup.lookup(IndexLeaf("g", (), "ST_INTERSECTS", ("POINT (0.5 0.5)",)), 4)) == [3]
    assert _rows(lookup.lookup(IndexLeaf("g", (), "st_dwithin", ("POINT (0 0)", 5.0)), 4)) == [
        0,
        1,
        3,
    ]
    assert _rows(lookup.lookup(IndexLeaf("j", ("a",), "contains", (2,)), 4)) == [0]
    assert _rows(lookup.lookup(IndexLeaf("j", ("a",), "contains_all", ()), 4)) == [0]


def test_declines_what_it_cannot_answer() -> None:
    lookup = _lookup()
    assert lookup.lookup(IndexLeaf("n", (), "==", (5,)), 3) is None
    assert lookup.lookup(IndexLeaf("other", (), "==", (5,)), 4) is None
    assert lookup.lookup(IndexLeaf("j", ("b",), "contains", (2,)), 4) is None
    assert lookup.lookup(IndexLeaf("j", ("a",), "==", (2,)), 4) is None
    assert lookup.lookup(IndexLeaf("n", (), "like", ("5%",)), 4) is None
    assert lookup.lookup(IndexLeaf("n", (), "unknown", (5,)), 4) is None


def test_json_steps_match_as_text() -> None:
    lookup = _lookup()
    doc_index = {
        ("j", ("a", 0)): build_scalar_index(
            parse_scalar_index_spec(
                FieldSchema("j", DataType.JSON),
                "INVERTED",
                {"json_cast_type": "DOUBLE", "json_path": "j['a'][0]"},
                resolve_json_path=lambda text: ("a", 0),
            ),
            DOCS,
        )
    }
    by_number = SegmentIndexes(4, doc_index)
    assert _rows(by_number.lookup(IndexLeaf("j", ("a", "0"), "==", (1,)), 4)) == [0]
    assert lookup.lookup(IndexLeaf("j", ("a", "0"), "==", (1,)), 4) is None
