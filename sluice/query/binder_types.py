"""Binding rules for ARRAY, GEOMETRY and TIMESTAMPTZ fields, beside the general binder.

* ARRAY: ``a[i]`` is an element of the array's element type (invalid where a
  row is shorter); ``array_contains``/``_all``/``_any`` test membership;
  ``array_length(a)`` counts elements.
* GEOMETRY: ``ST_EQUALS``, ``ST_TOUCHES``, ``ST_OVERLAPS``, ``ST_CROSSES``,
  ``ST_CONTAINS``, ``ST_INTERSECTS``, ``ST_WITHIN`` take the field and a WKT
  constant (the field's geometry is the first operand, as Milvus reads
  them); ``ST_DWITHIN(field, 'WKT', metres)`` and ``ST_ISVALID(field)``.
* TIMESTAMPTZ: compared with ``ISO '...'`` literals (read as UTC when they
  carry no offset) or integers (microseconds); ``field ± INTERVAL 'P..'``
  shifts by an ISO-8601 duration (years and months as calendar months, the
  rest as microseconds).

Functions here take the :class:`~sluice.query.binder.Binder` so that
errors carry its text and wording.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pyarrow as pa
import shapely

from sluice.errors import ExpressionError, RequestError
from sluice.query import ast
from sluice.query.bound import (
    ArrayContains,
    ArrayItem,
    ArrayLen,
    ColumnRef,
    Const,
    ConstValue,
    GeoRelation,
    GeoValid,
    Predicate,
    TimeShift,
)
from sluice.schema import DataType
from sluice.types.temporal import parse_iso

if TYPE_CHECKING:
    from sluice.query.binder import Binder

GEO_RELATIONS = frozenset(
    {
        "st_equals",
        "st_touches",
        "st_overlaps",
        "st_crosses",
        "st_contains",
        "st_intersects",
        "st_within",
    }
)
GEO_FUNCTIONS = GEO_RELATIONS | {"st_dwithin", "st_isvalid"}
TIME_LITERALS = frozenset({"iso", "interval"})
_DURATION = re.compile(
    r"^P(?:(?P<y>\d+)Y)?(?:(?P<mo>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<mi>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)


# --- arrays ------------------------------------------------------------------------------


def array_item(binder: Binder, ref: ColumnRef, element: DataType | None, path: tuple) -> ArrayItem:
    if len(path) != 1 or not isinstance(path[0], int) or element is None:
        binder.fail("array field can only be accessed with a single integer index, e.g. a[0]")
    return ArrayItem(ref, int(path[0]), element)


def _element_fits(element: DataType, value: ConstValue) -> bool:
    if element == DataType.BOOL:
        return isinstance(value, bool)
    if element == DataType.VARCHAR:
        return isinstance(value, str)
    if element.is_integer:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, int | float) and not isinstance(value, bool)


def array_contains(
    binder: Binder, ref: ColumnRef, element: DataType, mode: str, values: tuple[ConstValue, ...]
) -> ArrayContains:
    for value in values:
        if not _element_fits(element, value):
            binder.fail(
                f'{value!r} is not a {element.milvus_name} element of array field "{ref.name}"'
            )
    return ArrayContains(ref, mode, values)


def array_length(ref: ColumnRef) -> ArrayLen:
    return ArrayLen(ref)


# --- geometry ----------------------------------------------------------------------------


def geometry_call(binder: Binder, node: ast.Call) -> Predicate:
    name = node.name
    if name == "st_isvalid":
        if len(node.args) != 1:
            binder.fail(f"ST_ISVALID takes 1 argument, got {len(node.args)}")
        return GeoValid(_geometry_field(binder, node.args[0], name))
    want = 3 if name == "st_dwithin" else 2
    if len(node.args) != want:
        binder.fail(f"{name.upper()} takes {want} arguments, got {len(node.args)}")
    ref = _geometry_field(binder, node.args[0], name)
    wkt = binder.value(node.args[1])
    if not (isinstance(wkt, Const) and isinstance(wkt.value, str)):
        binder.fail(f"the second argument of {name.upper()} must be a WKT string")
    text = wkt.value
    try:
        shapely.from_wkt(text)
    except shapely.errors.GEOSException as exc:
        binder.fail(f"invalid WKT {text!r}: {exc}")
    if name != "st_dwithin":
        return GeoRelation(ref, name.upper(), text)
    distance = binder.value(node.args[2])
    if not (
        isinstance(distance, Const)
        and isinstance(distance.value, int | float)
        and not isinstance(distance.value, bool)
    ):
        binder.fail("the distance of ST_DWITHIN must be a number")
    if distance.value < 0:
        binder.fail(f"the distance of ST_DWITHIN must not be negative, got {distance.value}")
    return GeoRelation(ref, "ST_DWITHIN", text, float(distance.value))


def _geometry_field(binder: Binder, node: ast.Node, name: str) -> ColumnRef:
    if not isinstance(node, ast.Identifier):
        binder.fail(f"the first argument of {name.upper()} must be a geometry field")
    ref = binder.resolve(node)
    if not isinstance(ref, ColumnRef) or ref.dtype != DataType.GEOMETRY:
        binder.fail(f"{name.upper()} can only be applied on a geometry field, got {node.name}")
    return ref


def unknown_function(name: str) -> RequestError:
    """Milvus's plan builder looks functions up by name and reports a miss as plain error."""
    return RequestError(f"function {name} not found")


# --- timestamps --------------------------------------------------------------------------


def time_literal(binder: Binder, node: ast.Call) -> Const:
    """``ISO '...'`` as microseconds (an ``INTERVAL`` is only valid beside a timestamp)."""
    if node.name == "interval":
        binder.fail("INTERVAL can only be added to or subtracted from a TIMESTAMPTZ field")
    arg = node.args[0] if len(node.args) == 1 else None
    if not (isinstance(arg, ast.Literal) and isinstance(arg.value, str)):
        binder.fail("ISO must be followed by a timestamp string")
    try:
        micros = parse_iso(pa.array([arg.value], type=pa.string()))[0].as_py()
    except (ExpressionError, ValueError) as exc:
        binder.fail(str(exc))
    except Exception as exc:  # the type's own refusal, reworded as a parse error
        binder.fail(str(getattr(exc, "message", exc)))
    return Const(int(micros), DataType.TIMESTAMPTZ)


def is_interval(node: ast.Node) -> bool:
    return isinstance(node, ast.Call) and node.name == "interval"


def time_shift(binder: Binder, ref: ColumnRef, op: str, interval: ast.Call) -> TimeShift:
    if ref.dtype != DataType.TIMESTAMPTZ:
        binder.fail(f"INTERVAL can only shift a TIMESTAMPTZ field, not {ref.dtype.milvus_name}")
    if op not in ("+", "-"):
        binder.fail(f"only + and - apply to INTERVAL, got {op}")
    arg = interval.args[0] if len(interval.args) == 1 else None
    if not (isinstance(arg, ast.Literal) and isinstance(arg.value, str)):
        binder.fail("INTERVAL must be followed by an ISO-8601 duration string")
    match = _DURATION.match(arg.value)
    if match is None or arg.value.upper() in ("P", "PT"):
        binder.fail(f"invalid ISO-8601 duration: {arg.value}")
    parts = {k: (v or "0") for k, v in match.groupdict().items()}
    months = int(parts["y"]) * 12 + int(parts["mo"])
    days = int(parts["w"]) * 7 + int(parts["d"])
    seconds = days * 86400 + int(parts["h"]) * 3600 + int(parts["mi"]) * 60
    micros = seconds * 1_000_000 + round(float(parts["s"]) * 1_000_000)
    sign = -1 if op == "-" else 1
    return TimeShift(ref, sign * months, sign * micros)
