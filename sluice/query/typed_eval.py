"""Whole-column evaluation for ARRAY, GEOMETRY and TIMESTAMPTZ predicates and values.

ARRAY columns are Arrow lists: every operation works on the flattened
elements plus the list offsets (an element's row is ``list_parent_indices``),
so ``array_contains`` is one ``is_in`` over all elements and a scatter back to
rows, never a loop over rows.  GEOMETRY columns hold WKB, decoded once per
evaluation into a shapely array, and each ``ST_*`` relation is one vectorised
shapely call.  ``ST_DWITHIN`` measures great-circle (haversine) metres on
longitude/latitude coordinates, as Milvus does, between the query geometry
and the nearest point of each row's geometry.  TIMESTAMPTZ values are int64
UTC microseconds; an INTERVAL shifts whole calendar months with numpy's
``datetime64[M]`` (overflowing days roll over, as Go's ``AddDate`` does) and
then adds the fixed part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from sluice.query.bound import ArrayContains, ArrayItem, ColumnRef, GeoRelation, TimeShift
from sluice.query.columns import Columns
from sluice.query.numeric import BoolArray
from sluice.schema import DataType

EARTH_RADIUS_M = 6371000.0

_RELATIONS = {
    "ST_EQUALS": shapely.equals,
    "ST_TOUCHES": shapely.touches,
    "ST_OVERLAPS": shapely.overlaps,
    "ST_CROSSES": shapely.crosses,
    "ST_CONTAINS": shapely.contains,
    "ST_INTERSECTS": shapely.intersects,
    "ST_WITHIN": shapely.within,
}


@dataclass(frozen=True)
class ListParts:
    """An ARRAY column split into what vectorised work needs."""

    elements: pa.Array
    owners: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int64]
    starts: npt.NDArray[np.int64]


def list_parts(columns: Columns, name: str) -> ListParts:
    key = (name, ("\x00list",))
    cached = columns.memo(key)
    if cached is None:
        column = columns.arrow(name)
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        lengths = pc.fill_null(pc.list_value_length(column), 0).to_numpy(zero_copy_only=False)
        lengths = np.asarray(lengths, dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        cached = ListParts(
            elements=column.flatten(),
            owners=np.repeat(np.arange(len(column), dtype=np.int64), lengths),
            lengths=lengths,
            starts=starts,
        )
        columns.remember(key, cached)
    assert isinstance(cached, ListParts)
    return cached


def array_lengths(columns: Columns, ref: ColumnRef) -> npt.NDArray[np.int64]:
    return list_parts(columns, ref.name).lengths


def array_item(columns: Columns, node: ArrayItem) -> tuple[pa.Array, BoolArray]:
    """The ``index``-th element of each row (null where the row is shorter) and its validity."""
    parts = list_parts(columns, node.ref.name)
    present = (parts.lengths > node.index) & columns.valid(node.ref.name)
    positions = np.where(present, parts.starts + node.index, 0)
    if len(parts.elements) == 0:
        values = pa.nulls(len(present), type=parts.elements.type)
    else:
        values = parts.elements.take(pa.array(positions))
    return values, present


def array_contains(columns: Columns, node: ArrayContains) -> BoolArray:
    """Rows whose array holds the value (``contains``), all of them, or any of them."""
    parts = list_parts(columns, node.ref.name)
    n = columns.num_rows
    per_value = []
    for value in node.values:
        hits = _element_equal(parts.elements, value)
        row_hit = np.zeros(n, dtype=np.bool_)
        row_hit[parts.owners[hits]] = True
        per_value.append(row_hit)
    if node.mode == "any":
        return np.logical_or.reduce(per_value) if per_value else np.zeros(n, np.bool_)
    result = np.ones(n, dtype=np.bool_)
    for row_hit in per_value:
        result &= row_hit
    return result


def _element_equal(elements: pa.Array, value: Any) -> npt.NDArray[np.bool_]:
    if len(elements) == 0:
        return np.zeros(0, dtype=np.bool_)
    if pa.types.is_integer(elements.type) and isinstance(value, float):
        if not value.is_integer():
            return np.zeros(len(elements), dtype=np.bool_)
        value = int(value)
    if pa.types.is_floating(elements.type):
        target: Any = float(value)
        if pa.types.is_float32(elements.type):
            target = np.float32(target)
        hits = np.asarray(elements.to_numpy(zero_copy_only=False)) == target
        return np.asarray(hits, dtype=np.bool_)
    try:
        scalar = pa.scalar(value, type=elements.type)
    except (pa.ArrowInvalid, OverflowError):
        return np.zeros(len(elements), dtype=np.bool_)
    result = pc.fill_null(pc.equal(elements, scalar), False)
    return np.asarray(result.to_numpy(zero_copy_only=False), dtype=np.bool_)


# --- geometry ---------------------------------------------------------------------------------


def geometries(columns: Columns, name: str) -> npt.NDArray[np.object_]:
    key = (name, ("\x00geometry",))
    cached = columns.memo(key)
    if cached is None:
        column = columns.arrow(name)
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        cells = np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)
        cached = np.asarray(shapely.from_wkb(cells), dtype=object)
        columns.remember(key, cached)
    return np.asarray(cached, dtype=object)


def geo_relation(columns: Columns, node: GeoRelation) -> BoolArray:
    geoms = geometries(columns, node.ref.name)
    target = shapely.from_wkt(node.wkt)
    present = ~np.asarray(shapely.is_missing(geoms), dtype=np.bool_)
    result = np.zeros(len(geoms), dtype=np.bool_)
    if not present.any():
        return result
    chosen = geoms[present]
    if node.op == "ST_DWITHIN":
        assert node.distance is not None
        result[present] = _within_metres(chosen, target, node.distance)
        return result
    result[present] = np.asarray(_RELATIONS[node.op](chosen, target), dtype=np.bool_)
    return result


def geo_valid(columns: Columns, ref: ColumnRef) -> BoolArray:
    geoms = geometries(columns, ref.name)
    present = ~np.asarray(shapely.is_missing(geoms), dtype=np.bool_)
    valid = np.zeros(len(geoms), dtype=np.bool_)
    if present.any():
        valid[present] = np.asarray(shapely.is_valid(geoms[present]), dtype=np.bool_)
    return valid


def _within_metres(geoms: npt.NDArray[np.object_], target: Any, metres: float) -> BoolArray:
    """Haversine distance between the target and the nearest point of each geometry."""
    usable = ~np.asarray(shapely.is_empty(geoms), dtype=np.bool_)
    full = np.full(len(geoms), np.inf)
    if shapely.is_empty(target) or not usable.any():
        return np.zeros(len(geoms), dtype=np.bool_)
    nearest = shapely.shortest_line(geoms[usable], target)
    coords = shapely.get_coordinates(nearest).reshape(-1, 2, 2)
    lon1, lat1 = coords[:, 0, 0], coords[:, 0, 1]
    lon2, lat2 = coords[:, 1, 0], coords[:, 1, 1]
    full[usable] = _haversine(lat1, lon1, lat2, lon2)
    return np.asarray(full <= metres, dtype=np.bool_)


def _haversine(
    lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray
) -> np.ndarray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


# --- timestamps -------------------------------------------------------------------------------


def shifted(values: npt.NDArray[np.int64], node: TimeShift) -> npt.NDArray[np.int64]:
    """Microsecond timestamps shifted by whole months, then by a fixed span."""
    out = values.astype(np.int64, copy=True)
    if node.months:
        stamps = out.astype("datetime64[us]")
        months = stamps.astype("datetime64[M]")
        within = stamps - months.astype("datetime64[us]")
        moved = (months + np.timedelta64(node.months, "M")).astype("datetime64[us]") + within
        out = moved.astype(np.int64)
    return out + np.int64(node.micros)


def element_kind(dtype: DataType) -> str:
    """How an ARRAY element type evaluates: as text or as a number."""
    return "string" if dtype in (DataType.VARCHAR, DataType.STRING) else "number"
