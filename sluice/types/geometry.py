"""The GEOMETRY entry: WKT in, WKB stored, WKT out, all through shapely 2's array functions.

Milvus's proxy parses each WKT value and stores its little-endian WKB (an
empty point as NaN coordinates); results are turned back into WKT.  A value
that does not parse is refused with code 1001 (``IO failed``) naming the
parser's complaint, as Milvus does.  Clients may also send WKB directly.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from sluice.errors import GeometryInvalid
from sluice.schema import DataType, FieldSchema
from sluice.types.info import Context, FilterKind, Storage, TypeInfo


def _cells(values: pa.Array) -> np.ndarray:
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=object)


def geometries(values: pa.Array) -> np.ndarray:
    """Stored WKB cells -> shapely geometries (``None`` at nulls), vectorised."""
    return np.asarray(shapely.from_wkb(_cells(values)), dtype=object)


def wkb_from_wkt(values: pa.Array) -> pa.Array:
    """WKT strings -> WKB, or Milvus's refusal naming the first value that does not parse."""
    try:
        geoms = shapely.from_wkt(_cells(values))
    except shapely.errors.GEOSException as exc:
        raise GeometryInvalid.reason(f"syntax error: {exc}") from None
    return _to_wkb(geoms, values)


def _to_wkb(geoms: np.ndarray, values: pa.Array) -> pa.Array:
    wkb = shapely.to_wkb(geoms, byte_order=1, output_dimension=3, flavor="iso")
    mask = None if values.null_count == 0 else ~np.asarray(values.is_valid(), dtype=np.bool_)
    return pa.array(wkb, type=pa.binary(), mask=mask)


def wkt_from_wkb(values: pa.Array) -> pa.Array:
    """Stored WKB -> WKT text as Milvus shows it (shortest exact decimals, nulls kept)."""
    texts = shapely.to_wkt(geometries(values), rounding_precision=-1, trim=True)
    mask = None if values.null_count == 0 else ~np.asarray(values.is_valid(), dtype=np.bool_)
    return pa.array(texts, type=pa.string(), mask=mask)


def _accepts(arrow_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_null(arrow_type)
        or pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_binary(arrow_type)
        or pa.types.is_large_binary(arrow_type)
    )


def _check(fld: FieldSchema, values: pa.Array, ctx: Context) -> pa.Array:
    if pa.types.is_null(values.type):
        return values.cast(pa.binary())
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        return wkb_from_wkt(values)
    try:
        geoms = shapely.from_wkb(_cells(values))
    except shapely.errors.GEOSException as exc:
        raise GeometryInvalid.reason(f"syntax error: {exc}") from None
    return _to_wkb(geoms, values)


def _present(fld: FieldSchema, values: pa.Array, ctx: Context) -> pa.Array:
    return wkt_from_wkb(values)


def default_wkb(text: str) -> bytes:
    """A GEOMETRY default value (WKT) as stored WKB."""
    stored = wkb_from_wkt(pa.array([text], type=pa.string()))
    return bytes(pc.fill_null(stored, b"")[0].as_py())


GEOMETRY: tuple[TypeInfo, ...] = (
    TypeInfo(
        dtype=DataType.GEOMETRY,
        storage=Storage.ARROW,
        arrow=lambda _fld: pa.binary(),
        accepts=_accepts,
        mismatch=("geometry field '{name}' is illegal, array type mismatch", "need geometry array"),
        check=_check,
        filter=FilterKind.GEOMETRY,
        placeholder="",
        present=_present,
        default=default_wkb,
    ),
)
