"""Values at a JSON path, split by ``json_cast_type`` into index keys.

A JSON path index covers the value at ``nested_path`` in every row's
document, cast to one type: ``BOOL`` (JSON booleans), ``DOUBLE`` (JSON
numbers, as float64), ``VARCHAR`` (JSON strings), ``ARRAY_BOOL`` /
``ARRAY_DOUBLE`` / ``ARRAY_VARCHAR`` (the elements of that type inside JSON
arrays, a row matching when any element does) or ``JSON`` (booleans, numbers
and strings together).  A value of another type is *not cast*, so it is not
in the index; the lookup contract (:mod:`~sluice.index.scalar.json_index`)
answers only predicates that such a value could never satisfy.

Paths are resolved like the filter evaluator resolves ``field["a"][0]``: a
string step names an object key, an integer step (or a string of digits)
indexes an array.  Documents are decoded once with orjson; a null or
undecodable cell holds no value (the dynamic field reads a null cell as an
empty object, which holds none either).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import orjson
import pyarrow as pa

from sluice.index.scalar.columns import ArrowColumn, KeyColumn, combined, valid_mask
from sluice.index.scalar.domain import BOOL, EXACT_FLOAT_INT, FLOAT64, STR
from sluice.index.scalar.rows import BoolArray

PathStep = str | int

CAST_BOOL: Final = "BOOL"
CAST_DOUBLE: Final = "DOUBLE"
CAST_VARCHAR: Final = "VARCHAR"
CAST_ARRAY_BOOL: Final = "ARRAY_BOOL"
CAST_ARRAY_DOUBLE: Final = "ARRAY_DOUBLE"
CAST_ARRAY_VARCHAR: Final = "ARRAY_VARCHAR"
CAST_JSON: Final = "JSON"
#: ``json_cast_function``: a JSON string holding a number is indexed as that number.
STRING_TO_DOUBLE: Final = "STRING_TO_DOUBLE"

#: Cast type -> the key domains it indexes, and whether they are array elements.
CAST_DOMAINS: Final[dict[str, tuple[tuple[str, ...], bool]]] = {
    CAST_BOOL: ((BOOL,), False),
    CAST_DOUBLE: ((FLOAT64,), False),
    CAST_VARCHAR: ((STR,), False),
    CAST_ARRAY_BOOL: ((BOOL,), True),
    CAST_ARRAY_DOUBLE: ((FLOAT64,), True),
    CAST_ARRAY_VARCHAR: ((STR,), True),
    CAST_JSON: ((BOOL, FLOAT64, STR), False),
}


class _Absent:
    __slots__ = ()


ABSENT: Final = _Absent()


def _step(value: Any, step: PathStep) -> Any:
    if type(value) is dict:
        return value.get(step if isinstance(step, str) else str(step), ABSENT)
    if type(value) is list:
        if isinstance(step, int):
            index = step
        elif step.isdigit():
            index = int(step)
        else:
            return ABSENT
        return value[index] if 0 <= index < len(value) else ABSENT
    return ABSENT


def _decode(raw: bytes | None) -> Any:
    if raw is None:
        return ABSENT
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return ABSENT


def values_at(column: ArrowColumn, path: tuple[PathStep, ...]) -> list[Any]:
    """The value at ``path`` in each row's document (:data:`ABSENT` where there is none)."""
    values = [_decode(raw) for raw in combined(column).to_pylist()]
    for step in path:
        values = [_step(value, step) for value in values]
    return values


def _kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int | float):
        return FLOAT64
    if isinstance(value, str):
        return STR
    return None


@dataclass(frozen=True)
class JsonKeys:
    """Keys of one JSON path per domain, plus what the lookups need to stay exact."""

    by_domain: dict[str, KeyColumn]
    num_rows: int
    #: Rows with a document (every row of the dynamic field, whose null reads as ``{}``).
    present: BoolArray
    #: Rows whose value is a JSON array (``contains_all([])`` holds for them).
    array_rows: BoolArray
    #: Some indexed integer is too large for float64 to hold exactly.
    has_inexact_ints: bool


def _as_key_column(
    domain: str, keys: list[Any], rows: list[int], num_rows: int, present: BoolArray, is_array: bool
) -> KeyColumn:
    if domain == FLOAT64:
        key_array = np.asarray(keys, dtype=np.float64)
    elif domain == BOOL:
        key_array = np.asarray(keys, dtype=np.uint8)
    else:
        key_array = np.asarray(keys, dtype=object)
    row_array = np.asarray(rows, dtype=np.int64)
    nan = np.empty(0, dtype=np.int64)
    return KeyColumn(domain, key_array, row_array, num_rows, present, nan, is_array)


def _string_to_double(value: Any) -> Any:
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return ABSENT
        return number if number == number else ABSENT
    return value


def json_keys(
    column: ArrowColumn,
    path: tuple[PathStep, ...],
    cast_type: str,
    dynamic: bool = False,
    cast_function: str | None = None,
) -> JsonKeys:
    """Extract and cast the values at ``path``; ``dynamic`` marks the ``$meta`` field."""
    domains, element_level = CAST_DOMAINS[cast_type]
    array = combined(column)
    values = values_at(array, path)
    if cast_function == STRING_TO_DOUBLE:
        values = [_string_to_double(v) for v in values]
    num_rows = len(values)
    # A null cell of the dynamic field reads as an empty object: valid, holding nothing.
    present = np.ones(num_rows, dtype=np.bool_) if dynamic else valid_mask(array)
    keys: dict[str, list[Any]] = {d: [] for d in domains}
    rows: dict[str, list[int]] = {d: [] for d in domains}
    array_rows = np.zeros(num_rows, dtype=np.bool_)
    inexact = False
    for row, value in enumerate(values):
        if element_level:
            if type(value) is not list:
                continue
            array_rows[row] = True
            items: list[Any] = value
        else:
            items = [value]
        for item in items:
            kind = _kind(item)
            if kind not in keys:
                continue
            if kind == FLOAT64 and isinstance(item, int):
                if abs(item) > EXACT_FLOAT_INT:
                    inexact = True
                    if abs(item) >= 2**1023:
                        continue
                item = float(item)
            keys[kind].append(item)
            rows[kind].append(row)
    by_domain = {
        d: _as_key_column(d, keys[d], rows[d], num_rows, present, element_level) for d in domains
    }
    return JsonKeys(by_domain, num_rows, present, array_rows, inexact)


def strings_at(column: ArrowColumn, path: tuple[PathStep, ...], rows: Any) -> pa.Array:
    """The string value at ``path`` for the given rows (null where it is not a string)."""
    picked = combined(column).take(pa.array(np.asarray(rows, dtype=np.int64)))
    values = values_at(picked, path)
    return pa.array([v if isinstance(v, str) else None for v in values], type=pa.string())
