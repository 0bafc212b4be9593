"""RTREE: a shapely 2 ``STRtree`` over a GEOMETRY column, for the ``ST_*`` relations.

The tree narrows a relation to the rows whose envelope meets the query
geometry's (for ``ST_DWITHIN``, the envelope grown by the distance); shapely's
vectorised predicate then decides those candidates exactly, with the field's
geometry as the first argument, as Milvus reads ``ST_CONTAINS(field, wkt)``:
the row's geometry contains the constant.  Every relation that can hold only
between geometries that touch or share points is bounded by the envelope
test, so the candidates never miss a match.  ``ST_DWITHIN`` uses shapely's
planar (Cartesian) distance in the geometry's own units.

Geometries arrive as WKB (binary) or WKT (string) cells; null and empty
cells are left out (they satisfy no relation).  The serialised form keeps
the WKB of the indexed rows and rebuilds the tree on load: building an
STRtree costs about a microsecond per geometry.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import shapely
from shapely import STRtree

from sluice.index.scalar.base import ScalarIndex
from sluice.index.scalar.columns import ArrowColumn, combined
from sluice.index.scalar.rows import Int64Array, RowHits

#: Milvus's relation names -> shapely's vectorised predicate (field geometry first).
RELATIONS: Final = {
    "ST_EQUALS": shapely.equals,
    "ST_TOUCHES": shapely.touches,
    "ST_OVERLAPS": shapely.overlaps,
    "ST_CROSSES": shapely.crosses,
    "ST_CONTAINS": shapely.contains,
    "ST_INTERSECTS": shapely.intersects,
    "ST_WITHIN": shapely.within,
}
DWITHIN: Final = "ST_DWITHIN"


def geometries(column: ArrowColumn) -> npt.NDArray[np.object_]:
    """One shapely geometry (or ``None``) per row, from WKB or WKT cells."""
    array = combined(column)
    cells = array.to_numpy(zero_copy_only=False)
    if pa.types.is_binary(array.type) or pa.types.is_large_binary(array.type):
        return np.asarray(shapely.from_wkb(cells), dtype=object)
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return np.asarray(shapely.from_wkt(cells), dtype=object)
    raise TypeError(f"a GEOMETRY column must hold WKB or WKT, got {array.type}")


class RTreeIndex(ScalarIndex):
    """RTREE; see the module docstring."""

    index_type = "RTREE"

    def __init__(self, geoms: npt.NDArray[np.object_], rows: Int64Array, num_rows: int) -> None:
        self.geoms = geoms
        self.rows = rows
        self.num_rows = num_rows
        self.tree = STRtree(geoms)

    @classmethod
    def build(cls, column: ArrowColumn) -> RTreeIndex:
        geoms = geometries(column)
        usable = np.asarray(~shapely.is_missing(geoms), dtype=np.bool_)
        usable[usable] &= ~shapely.is_empty(geoms[usable])
        rows = np.flatnonzero(usable).astype(np.int64)
        return cls(geoms[rows], rows, len(geoms))

    def relation(self, op: str, wkt: str, distance: float | None = None) -> RowHits | None:
        name = op.upper()
        try:
            target = shapely.from_wkt(wkt)
        except shapely.errors.GEOSException:
            return None
        if target is None or shapely.is_empty(target):
            return None
        if name == DWITHIN:
            if distance is None or not np.isfinite(distance) or distance < 0:
                return None
            candidates = self.tree.query(target, predicate="dwithin", distance=distance)
            exact = shapely.dwithin(self.geoms[candidates], target, distance)
        elif name in RELATIONS:
            candidates = self.tree.query(target)
            exact = RELATIONS[name](self.geoms[candidates], target)
        else:
            return None
        picked = np.asarray(candidates, dtype=np.int64)[np.asarray(exact, dtype=np.bool_)]
        return RowHits.of_rows(self.num_rows, self.rows[picked])

    def state(self) -> dict[str, Any]:
        return {
            "num_rows": self.num_rows,
            "rows": self.rows,
            "wkb": [bytes(b) for b in shapely.to_wkb(self.geoms)],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RTreeIndex:
        geoms = np.asarray(shapely.from_wkb(np.asarray(state["wkb"], dtype=object)), dtype=object)
        return cls(geoms, state["rows"], state["num_rows"])

    @property
    def nbytes(self) -> int:
        return int(self.rows.nbytes + sum(len(b) for b in shapely.to_wkb(self.geoms)))
