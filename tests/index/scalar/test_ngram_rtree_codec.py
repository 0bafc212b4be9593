"""NGRAM against Arrow's LIKE, RTREE against shapely over every row, and the byte format."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import shapely

from sluice.index.scalar import (
    CorruptIndex,
    build_scalar_index,
    from_bytes,
    parse_scalar_index_spec,
    to_bytes,
)
from sluice.index.scalar.base import parse_like
from sluice.schema import DataType, FieldSchema


def _rows(hits: object) -> set[int]:
    assert hits is not None
    return set(np.flatnonzero(hits.to_mask()).tolist())  # type: ignore[attr-defined]


def _like_truth(column: pa.Array, pattern: str) -> set[int]:
    matched = pc.fill_null(pc.match_like(column, pattern), False)
    return set(np.flatnonzero(matched.to_numpy(zero_copy_only=False)).tolist())


def _ngram(column: pa.Array, low: int, high: int) -> object:
    spec = parse_scalar_index_spec(
        FieldSchema("t", DataType.VARCHAR), "NGRAM", {"min_gram": low, "max_gram": high}
    )
    return from_bytes(to_bytes(build_scalar_index(spec, column)))


@pytest.mark.parametrize(("low", "high"), [(1, 1), (2, 3), (3, 3)])
def test_ngram_like_matches_arrow(low: int, high: int) -> None:
    rng = np.random.default_rng(low * 10 + high)
    alphabet = [*"abcé%_", "\U0001f600"]
    texts = ["".join(rng.choice(alphabet, rng.integers(0, 9))) for _ in range(500)]
    column = pa.array([None if i % 17 == 0 else t for i, t in enumerate(texts)], type=pa.string())
    index = _ngram(column, low, high)
    patterns = ["%abc%", "%ab%", "a%", "%ca", "%a_c%", "%é\U0001f600%", "abc", "%\\%%", "%b%c%"]
    escape = str.maketrans({"%": "\\%", "_": "\\_"})
    patterns += ["%" + t[1:4].translate(escape) + "%" for t in texts[:20] if len(t) > 4]
    answered = 0
    for pattern in patterns:
        hits = index.like(pattern, column)  # type: ignore[attr-defined]
        if hits is None:
            assert all(len(lit) < low for lit in parse_like(pattern).literals)  # type: ignore[union-attr]
            continue
        answered += 1
        assert _rows(hits) == _like_truth(column, pattern), pattern
    assert answered >= len(patterns) // 2


def test_ngram_without_the_column_answers_only_exact_gram_patterns() -> None:
    column = pa.array(["abcd", "xabcx", "ab", None])
    index = _ngram(column, 2, 3)
    assert _rows(index.like("%abc%")) == {0, 1}  # type: ignore[attr-defined]
    assert index.like("%abcd%") is None  # type: ignore[attr-defined]
    assert index.compare("==", "ab") is None  # type: ignore[attr-defined]


GEOMS = [
    "POINT (1 1)",
    "POINT (5 5)",
    "LINESTRING (0 0, 10 10)",
    "LINESTRING (0 10, 10 0)",
    "POLYGON ((0 0, 4 0, 4 4, 0 4, 0 0))",
    "POLYGON ((4 0, 8 0, 8 4, 4 4, 4 0))",
    "POLYGON ((2 2, 6 2, 6 6, 2 6, 2 2))",
    "POLYGON ((0 0, 4 0, 4 4, 0 4, 0 0))",
    "MULTIPOINT ((20 20), (1 1))",
    "POINT EMPTY",
]
QUERIES = [
    "POLYGON ((0 0, 4 0, 4 4, 0 4, 0 0))",
    "POINT (1 1)",
    "LINESTRING (0 5, 10 5)",
    "POLYGON ((-1 -1, 30 -1, 30 30, -1 30, -1 -1))",
]
RELATIONS = {
    "ST_EQUALS": shapely.equals,
    "ST_TOUCHES": shapely.touches,
    "ST_OVERLAPS": shapely.overlaps,
    "ST_CROSSES": shapely.crosses,
    "ST_CONTAINS": shapely.contains,
    "ST_INTERSECTS": shapely.intersects,
    "ST_WITHIN": shapely.within,
}


@pytest.mark.parametrize("encoding", ["wkt", "wkb"])
def test_rtree_relations_match_shapely(encoding: str) -> None:
    rng = np.random.default_rng(3)
    wkts = GEOMS + [f"POINT ({x:.1f} {y:.1f})" for x, y in rng.uniform(-2, 12, (200, 2))]
    cells: list[object] = [None if i % 23 == 5 else w for i, w in enumerate(wkts)]
    if encoding == "wkb":
        column = pa.array(
            [None if c is None else shapely.to_wkb(shapely.from_wkt(c)) for c in cells], pa.binary()
        )
    else:
        column = pa.array(cells, type=pa.string())
    spec = parse_scalar_index_spec(FieldSchema("g", DataType.GEOMETRY), "RTREE", {})
    index = from_bytes(to_bytes(build_scalar_index(spec, column)))
    geoms = np.array([None if c is None else shapely.from_wkt(c) for c in cells], dtype=object)
    valid = np.array([g is not None for g in geoms])
    for query in QUERIES:
        target = shapely.from_wkt(query)
        for name, predicate in RELATIONS.items():
            truth = np.zeros(len(geoms), dtype=bool)
            truth[valid] = predicate(geoms[valid], target)
            assert _rows(index.relation(name, query)) == set(np.flatnonzero(truth).tolist()), (
                name,
                query,
            )
            assert _rows(index.relation(name.lower(), query)) == set(np.flatnonzero(truth).tolist())
        for distance in (0.0, 0.5, 3.0):
            truth = np.zeros(len(geoms), dtype=bool)
            truth[valid] = shapely.dwithin(geoms[valid], target, distance)
            hits = index.relation("ST_DWITHIN", query, distance)
            assert _rows(hits) == set(np.flatnonzero(truth).tolist())
    assert index.relation("ST_DWITHIN", QUERIES[0], None) is None
    assert index.relation("ST_DISJOINT", QUERIES[0]) is None
    assert index.relation("ST_EQUALS", "not wkt") is None
    assert index.compare("==", 1) is None


def test_codec_round_trips_every_structure() -> None:
    column = pa.array(["b", "a", None, "b", "é"])
    for index_type, params in (
        ("INVERTED", {}),
        ("STL_SORT", {}),
        ("BITMAP", {}),
        ("TRIE", {}),
        ("NGRAM", {"min_gram": 1, "max_gram": 2}),
    ):
        spec = parse_scalar_index_spec(FieldSchema("s", DataType.VARCHAR), index_type, params)
        index = build_scalar_index(spec, column)
        blob = to_bytes(index)
        again = from_bytes(blob)
        assert type(again) is type(index)
        assert to_bytes(again) == blob
        assert again.like("b") is not None or index_type == "NGRAM"


def test_empty_column_round_trips() -> None:
    for dtype, column in (
        (DataType.INT64, pa.array([], pa.int64())),
        (DataType.VARCHAR, pa.array([None], pa.string())),
    ):
        for index_type in ("INVERTED", "STL_SORT", "BITMAP"):
            spec = parse_scalar_index_spec(FieldSchema("x", dtype), index_type, {})
            index = from_bytes(to_bytes(build_scalar_index(spec, column)))
            hits = index.isin([1] if dtype == DataType.INT64 else ["a"])
            assert hits is not None and hits.count() == 0


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[:5],
        lambda b: b"XXXXXXXX" + b[8:],
        lambda b: b[:-3],
        lambda b: b[:12] + b"[" + b[13:],
        lambda b: b[:8] + b"\xff\xff\x00\x00" + b[12:],
        lambda b: b[:12] + b"\xff\xff\x00\x00" + b[16:],
        # One flipped bit deep in a data buffer: only the checksum can tell.
        lambda b: b[:-9] + bytes([b[-9] ^ 0x10]) + b[-8:],
    ],
)
def test_corrupt_bytes_are_refused(damage: object) -> None:
    spec = parse_scalar_index_spec(FieldSchema("x", DataType.INT64), "INVERTED", {})
    blob = to_bytes(build_scalar_index(spec, pa.array(range(100))))
    with pytest.raises(CorruptIndex):
        from_bytes(damage(blob))  # type: ignore[operator]


@pytest.mark.parametrize("index_type", ["INVERTED", "STL_SORT"])
def test_loaded_arrays_are_aligned_wherever_the_file_puts_them(index_type: str) -> None:
    """A buffer at an odd offset is copied once at load: numpy would copy it per lookup."""
    spec = parse_scalar_index_spec(FieldSchema("n", DataType.INT64), index_type, {})
    column = pa.array(np.random.default_rng(5).permutation(5000).astype(np.int64))
    data = to_bytes(build_scalar_index(spec, column))
    shifted = memoryview(b"\0" + data)[1:]  # the same bytes, one byte off alignment
    loaded = from_bytes(shifted)
    postings = loaded.postings  # type: ignore[attr-defined]
    for array in (postings.keys, postings.rows):
        assert array.flags.aligned
    assert _rows(loaded.range(100, True, 200, False)) == set(
        np.flatnonzero((column.to_numpy() >= 100) & (column.to_numpy() < 200)).tolist()
    )
