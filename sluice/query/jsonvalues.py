"""Typed, columnar views of JSON values, so JSON predicates run vectorised.

A :class:`JsonValues` holds one value per row (the value at some path, or one
element of a flattened array) as a kind code plus parallel NumPy/Arrow arrays
per JSON type.  Building it walks the decoded documents once per path (a
per-row Python step, like decoding); every comparison afterwards is a whole-
array operation.

Semantics follow segcore's JSON expressions: a value matches only a constant
of its own JSON type (numbers with numbers, strings with strings, bools with
bools); integers compare exactly with integer constants and as float64
otherwise; ``!=`` is the negation of ``==``, so it is *true* for a missing key
or a value of another type; ``exists`` means the key is present with a
non-null value.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from sluice.query.bound import ConstValue
from sluice.query.literals import INT64_MAX, INT64_MIN
from sluice.query.numeric import BoolArray, Int64Array, compare, compare_int_column

MISSING, NULL, BOOL, INT, FLOAT, STRING, ARRAY, OBJECT = range(8)


class _Missing:
    __slots__ = ()


_ABSENT = _Missing()
_KIND_OF_TYPE = {
    _Missing: MISSING,
    type(None): NULL,
    bool: BOOL,
    int: INT,
    float: FLOAT,
    str: STRING,
    list: ARRAY,
    dict: OBJECT,
}

_ARROW_OPS = {
    "==": pc.equal,
    "!=": pc.not_equal,
    "<": pc.less,
    "<=": pc.less_equal,
    ">": pc.greater,
    ">=": pc.greater_equal,
}


def _step(value: Any, step: str | int) -> Any:
    """One JSON-pointer step: ``"0"`` and ``0`` both index arrays and name keys."""
    if type(value) is dict:
        return value.get(step if isinstance(step, str) else str(step), _ABSENT)
    if type(value) is list:
        if isinstance(step, int):
            index = step
        elif step.isdigit():
            index = int(step)
        else:
            return _ABSENT
        return value[index] if index < len(value) else _ABSENT
    return _ABSENT


def extract(docs: Sequence[Any], path: tuple[str | int, ...]) -> list[Any]:
    """The value at ``path`` in each document (a sentinel where it is absent)."""
    if not path:
        return [_ABSENT if doc is None else doc for doc in docs]
    first = path[0]
    if isinstance(first, str) and len(path) == 1:
        return [doc.get(first, _ABSENT) if type(doc) is dict else _ABSENT for doc in docs]
    values = list(docs)
    for step in path:
        values = [_step(value, step) for value in values]
    return values


class JsonValues:
    """One JSON value per row, split by type into vectorisable arrays."""

    def __init__(
        self,
        objects: npt.NDArray[np.object_],
        kind: npt.NDArray[np.int8],
        ints: Int64Array,
        floats: npt.NDArray[np.float64],
    ) -> None:
        self.size = len(kind)
        self.objects = objects
        self.kind = kind
        self.is_int: BoolArray = kind == INT
        self.is_number: BoolArray = self.is_int | (kind == FLOAT)
        self.ints = ints
        self.floats = floats
        self._strings: pa.Array | None = None

    @classmethod
    def of(cls, values: Sequence[Any]) -> JsonValues:
        """Classify decoded JSON values (one Python pass), then split numbers out."""
        n = len(values)
        objects = np.fromiter(values, dtype=object, count=n)
        kind = np.fromiter((_KIND_OF_TYPE.get(type(v), OBJECT) for v in values), np.int8, n)
        is_int, is_number = kind == INT, (kind == INT) | (kind == FLOAT)
        ints = np.zeros(n, dtype=np.int64)
        floats = np.full(n, np.nan)
        if is_number.any():
            floats[is_number] = objects[is_number].astype(np.float64)
            try:
                ints[is_int] = objects[is_int].astype(np.int64)
            except OverflowError:
                # Integers past int64 (orjson keeps them exact) compare as floats.
                rows = np.flatnonzero(is_int)
                big = np.fromiter(
                    (not INT64_MIN <= v <= INT64_MAX for v in objects[rows]), np.bool_, len(rows)
                )
                kind[rows[big]] = FLOAT
                ints[rows[~big]] = objects[rows[~big]].astype(np.int64)
        return cls(objects, kind, ints, floats)

    @classmethod
    def numbers(
        cls,
        ints: Int64Array,
        floats: npt.NDArray[np.float64],
        is_int: BoolArray,
        is_number: BoolArray,
    ) -> JsonValues:
        """Numbers only (the result of JSON arithmetic); other rows are missing."""
        kind = np.where(is_int, INT, np.where(is_number, FLOAT, MISSING)).astype(np.int8)
        return cls(np.empty(len(kind), dtype=object), kind, ints, floats)

    @property
    def is_float(self) -> BoolArray:
        return self.is_number & ~self.is_int

    @property
    def is_string(self) -> BoolArray:
        return self.kind == STRING

    @property
    def is_bool(self) -> BoolArray:
        return self.kind == BOOL

    @property
    def is_array(self) -> BoolArray:
        return self.kind == ARRAY

    @property
    def present(self) -> BoolArray:
        return self.kind > NULL

    def strings(self) -> pa.Array:
        """The string values as an Arrow array, null where the value is not a string."""
        if self._strings is None:
            masked = self.objects.copy()
            masked[~self.is_string] = None
            self._strings = pa.array(masked, type=pa.string(), from_pandas=True)
        return self._strings

    def bools(self) -> BoolArray:
        return np.asarray(np.where(self.is_bool, self.objects, False), dtype=np.bool_)

    # --- predicates ------------------------------------------------------------------

    def equal_mask(self, value: ConstValue) -> BoolArray:
        """Rows equal to ``value`` under JSON typing (1 == 1.0, true != 1)."""
        if isinstance(value, bool):
            return self.is_bool & (self.bools() == value)
        if isinstance(value, int | float):
            return self._numeric_compare("==", value)
        if isinstance(value, str):
            return self._string_compare("==", value)
        return self._nested_equal(value)

    def _numeric_compare(self, op: str, value: int | float) -> BoolArray:
        if isinstance(value, int):
            exact = self.is_int & compare_int_column(self.ints, op, value)
            return exact | (self.is_float & compare(op, self.floats, float(value)))
        return self.is_number & compare(op, self.floats, value)

    def _string_compare(self, op: str, value: str) -> BoolArray:
        if not self.is_string.any():
            return np.zeros(self.size, dtype=np.bool_)
        result = _ARROW_OPS[op](self.strings(), value)
        return np.asarray(
            pc.fill_null(result, False).to_numpy(zero_copy_only=False), dtype=np.bool_
        )

    def _nested_equal(self, value: tuple[ConstValue, ...]) -> BoolArray:
        rows = np.flatnonzero(self.is_array)
        target = _canonical(value)
        hits = np.fromiter(
            (_canonical(self.objects[i]) == target for i in rows), np.bool_, len(rows)
        )
        result = np.zeros(self.size, dtype=np.bool_)
        result[rows[hits]] = True
        return result

    def compare(self, op: str, value: ConstValue) -> BoolArray:
        """``value_at_path op constant``; ``!=`` holds for absent or differently typed values."""
        if op == "!=":
            return ~self.equal_mask(value)
        if op == "==":
            return self.equal_mask(value)
        if isinstance(value, bool | tuple):
            return np.zeros(self.size, dtype=np.bool_)
        if isinstance(value, str):
            return self._string_compare(op, value)
        return self._numeric_compare(op, value)

    def isin(self, values: Sequence[ConstValue]) -> BoolArray:
        """Membership in a list of scalars, grouped by JSON type for vectorised tests."""
        result = np.zeros(self.size, dtype=np.bool_)
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        strings = [v for v in values if isinstance(v, str)]
        bools = [v for v in values if isinstance(v, bool)]
        if numbers and self.is_number.any():
            ints = [int(v) for v in numbers if isinstance(v, int) or float(v).is_integer()]
            ints = [v for v in ints if INT64_MIN <= v <= INT64_MAX]
            result |= self.is_int & np.isin(self.ints, np.array(ints, dtype=np.int64))
            floats = np.array([float(v) for v in numbers], dtype=np.float64)
            result |= self.is_float & np.isin(self.floats, floats)
        if strings and self.is_string.any():
            hit = pc.is_in(self.strings(), value_set=pa.array(strings, type=pa.string()))
            result |= np.asarray(
                pc.fill_null(hit, False).to_numpy(zero_copy_only=False), dtype=np.bool_
            )
        for flag in set(bools):
            result |= self.is_bool & (self.bools() == flag)
        return result

    def like(self, pattern: str) -> BoolArray:
        if not self.is_string.any():
            return np.zeros(self.size, dtype=np.bool_)
        hit = pc.match_like(self.strings(), pattern)
        return np.asarray(pc.fill_null(hit, False).to_numpy(zero_copy_only=False), dtype=np.bool_)

    def array_lengths(self) -> Int64Array:
        lengths = np.zeros(self.size, dtype=np.int64)
        rows = np.flatnonzero(self.is_array)
        lengths[rows] = np.fromiter((len(self.objects[i]) for i in rows), np.int64, len(rows))
        return lengths

    def contains(self, mode: str, targets: Sequence[ConstValue]) -> BoolArray:
        """``json_contains`` / ``_all`` / ``_any`` over the array values (others never match)."""
        rows = np.flatnonzero(self.is_array)
        arrays = self.objects[rows]
        lengths = np.fromiter((len(a) for a in arrays), np.int64, len(arrays))
        elements = JsonValues.of(list(itertools.chain.from_iterable(arrays)))
        owner = np.repeat(rows, lengths)
        per_target = []
        for target in targets:
            hit = np.zeros(self.size, dtype=np.bool_)
            hit[owner[elements.equal_mask(target)]] = True
            per_target.append(hit)
        if mode == "any":
            return np.logical_or.reduce(per_target) if per_target else np.zeros(self.size, np.bool_)
        result = self.is_array.copy()
        for hit in per_target:
            result &= hit
        return result


def _canonical(value: Any) -> Any:
    """A hashable form in which JSON-equal values are equal (true is not 1)."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", float(value))
    if isinstance(value, list | tuple):
        return ("a", tuple(_canonical(v) for v in value))
    if isinstance(value, dict):
        return ("o", tuple(sorted((k, _canonical(v)) for k, v in value.items())))
    return ("s", value) if isinstance(value, str) else ("z", None)
