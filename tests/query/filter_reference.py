"""A random test table and an independent, row-at-a-time reference for filter semantics.

The reference never calls into ``sluice.query``: it reads the table back as
plain Python values and pandas Series and applies Milvus's rules one row at
a time, returning ``(value, valid)`` pairs like segcore's bitmaps.  Tests
compare the vectorised evaluator against it.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

from sluice.schema import (
    CollectionSchema,
    DataType,
    FieldSchema,
    dynamic_meta_field,
    with_field_ids,
)

MISSING = object()
PYOPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
WORDS = ["alice", "bob", "carol", "a%b", "a_b", "", "Ünïcode", "x\\y", "abc", "ab", "Bob"]


def make_schema() -> CollectionSchema:
    fields = with_field_ids(
        [
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("a", DataType.INT8, nullable=True),
            FieldSchema("b", DataType.INT16),
            FieldSchema("c", DataType.INT32),
            FieldSchema("d", DataType.INT64),
            FieldSchema("f", DataType.FLOAT),
            FieldSchema("g", DataType.DOUBLE, nullable=True),
            FieldSchema("s", DataType.VARCHAR, max_length=64),
            FieldSchema("t", DataType.VARCHAR, max_length=64, nullable=True),
            FieldSchema("flag", DataType.BOOL),
            FieldSchema("info", DataType.JSON, nullable=True),
            FieldSchema("vec", DataType.FLOAT_VECTOR, dim=2),
            dynamic_meta_field(),
        ]
    )
    return CollectionSchema("ref", fields, enable_dynamic_field=True)


def _json_scalar(rng: np.random.Generator) -> Any:
    kind = rng.integers(0, 7)
    if kind == 0:
        return int(rng.integers(-5, 6))
    if kind == 1:
        return float(rng.integers(-10, 11)) / 2
    if kind == 2:
        return str(rng.choice(WORDS))
    if kind == 3:
        return bool(rng.integers(0, 2))
    if kind == 4:
        return None
    if kind == 5:
        return [int(x) for x in rng.integers(0, 4, size=rng.integers(0, 4))]
    return MISSING


def _meta_doc(rng: np.random.Generator) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    k = _json_scalar(rng)
    if k is not MISSING:
        doc["k"] = k
    if rng.random() < 0.7:
        tags: list[Any] = [int(x) for x in rng.integers(0, 6, size=rng.integers(0, 5))]
        if rng.random() < 0.3:
            tags.append(str(rng.choice(["red", "blue"])))
        if rng.random() < 0.1:
            tags.append(1.0)
        doc["tags"] = tags
    elif rng.random() < 0.5:
        doc["tags"] = "not-a-list"
    if rng.random() < 0.6:
        doc["name"] = str(rng.choice(WORDS))
    if rng.random() < 0.5:
        doc["n"] = {"x": int(rng.integers(-3, 4))}
    return doc


def make_table(n: int = 400, seed: int = 1234) -> pa.Table:
    """Random rows covering nulls, every width of integer, float32 rounding and JSON types."""
    rng = np.random.default_rng(seed)

    def nulls(p: float) -> np.ndarray:
        return rng.random(n) < p

    a = rng.integers(-128, 128, size=n).astype(np.int8)
    f = (rng.integers(-40, 41, size=n) / 4 + rng.choice([0.0, 0.1], size=n)).astype(np.float32)
    f[rng.choice(n, 2, replace=False)] = np.nan
    g = rng.integers(-200, 201, size=n) / 2
    d = np.where(
        rng.random(n) < 0.5, rng.integers(-20, 21, size=n), rng.integers(-(10**12), 10**12, size=n)
    )
    info: list[bytes | None] = []
    for i in range(n):
        if i % 7 == 3:
            info.append(None)
        else:
            info.append(
                orjson.dumps(
                    {
                        "x": _json_scalar_no_missing(rng),
                        "arr": [int(x) for x in rng.integers(0, 3, 3)],
                    }
                )
            )
    columns = {
        "id": pa.array(np.arange(n, dtype=np.int64) * 3 - 100),
        "a": pa.array(a, mask=nulls(0.15)),
        "b": pa.array(rng.integers(-1000, 1001, size=n).astype(np.int16)),
        "c": pa.array(rng.integers(-(10**6), 10**6, size=n).astype(np.int32)),
        "d": pa.array(d.astype(np.int64)),
        "f": pa.array(f, type=pa.float32()),
        "g": pa.array(g, type=pa.float64(), mask=nulls(0.1)),
        "s": pa.array([str(w) for w in rng.choice(WORDS, size=n)], type=pa.string()),
        "t": pa.array(
            [str(w) for w in rng.choice(WORDS, size=n)], type=pa.string(), mask=nulls(0.2)
        ),
        "flag": pa.array(rng.random(n) < 0.5),
        "info": pa.array(info, type=pa.binary()),
        "vec": pa.array([[0.0, 1.0]] * n, type=pa.list_(pa.float32(), 2)),
        "$meta": pa.array([orjson.dumps(_meta_doc(rng)) for _ in range(n)], type=pa.binary()),
        "$ts": pa.array(np.arange(n, dtype=np.uint64)),
    }
    return pa.table(columns)


def _json_scalar_no_missing(rng: np.random.Generator) -> Any:
    value = _json_scalar(rng)
    return None if value is MISSING else value


# --- reference semantics ---------------------------------------------------------------


Pair = tuple[np.ndarray, np.ndarray]


def c_div(x: int, y: int) -> int:
    q = abs(x) // abs(y)
    return q if (x >= 0) == (y >= 0) else -q


def c_mod(x: int, y: int) -> int:
    return x - y * c_div(x, y)


def like_regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def json_type(value: Any) -> str:
    if value is MISSING:
        return "missing"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def json_get(doc: Any, path: Sequence[str | int]) -> Any:
    value = doc
    for step in path:
        if isinstance(value, dict) and str(step) in value:
            value = value[str(step)]
        elif isinstance(value, list) and isinstance(step, int) and step < len(value):
            value = value[step]
        else:
            return MISSING
    return value


@dataclass
class Reference:
    """Row-at-a-time evaluation of leaf predicates over a table."""

    table: pa.Table

    def __post_init__(self) -> None:
        self.n = self.table.num_rows
        scalars = [name for name in self.table.column_names if name not in ("vec", "info", "$meta")]
        # Object columns keep Python ints exact, NaN distinct from null (None).
        self.frame = pd.DataFrame(
            {name: pd.Series(self.table.column(name).to_pylist(), dtype=object) for name in scalars}
        )
        self.meta = [orjson.loads(raw) for raw in self.table.column("$meta").to_pylist()]
        self.info = [
            None if raw is None else orjson.loads(raw)
            for raw in self.table.column("info").to_pylist()
        ]

    def column(self, name: str) -> list[Any]:
        return list(self.frame[name])

    def _rows(self, values: Sequence[Any], test: Callable[[Any], bool]) -> Pair:
        valid = np.array([v is not None for v in values], dtype=bool)
        value = np.array([v is not None and bool(test(v)) for v in values], dtype=bool)
        return value, valid

    def compare(self, name: str, op: str, literal: Any) -> Pair:
        """``field op literal``; FLOAT columns compare against the literal cast to float32."""
        if name == "f":
            literal = float(np.float32(literal))
        return self._rows(self.column(name), lambda v: PYOPS[op](v, literal))

    def compare_fields(self, left: str, op: str, right: str) -> Pair:
        lv, rv = self.column(left), self.column(right)
        valid = np.array([x is not None and y is not None for x, y in zip(lv, rv, strict=True)])
        value = np.array(
            [ok and bool(PYOPS[op](x, y)) for ok, x, y in zip(valid, lv, rv, strict=True)],
            dtype=bool,
        )
        return value, valid

    def arith(self, name: str, arith_op: str, k: int, op: str, literal: float) -> Pair:
        def apply(v: int) -> int:
            if arith_op == "+":
                return v + k
            if arith_op == "-":
                return v - k
            if arith_op == "*":
                return v * k
            return c_div(v, k) if arith_op == "/" else c_mod(v, k)

        return self._rows(self.column(name), lambda v: PYOPS[op](apply(v), literal))

    def isin(self, name: str, values: Sequence[Any]) -> Pair:
        if name == "f":
            values = [float(np.float32(v)) for v in values]
        return self._rows(self.column(name), lambda v: any(v == x for x in values))

    def like(self, name: str, pattern: str) -> Pair:
        regex = like_regex(pattern)
        return self._rows(self.column(name), lambda v: regex.fullmatch(v) is not None)

    def is_null(self, name: str) -> Pair:
        column = self.column(name)
        value = np.array([v is None for v in column], dtype=bool)
        return value, np.ones(self.n, dtype=bool)

    def _docs(self, column: str) -> list[Any]:
        return self.meta if column == "$meta" else self.info

    def json_compare(self, column: str, path: Sequence[str | int], op: str, literal: Any) -> Pair:
        docs = self._docs(column)
        kind = json_type(literal)
        value, valid = [], []
        for doc in docs:
            valid.append(doc is not None)
            x = json_get(doc, path) if doc is not None else MISSING
            if doc is None:
                value.append(False)
            elif json_type(x) == kind:
                value.append(bool(PYOPS[op](x, literal)))
            else:
                value.append(op == "!=")
        return np.array(value, dtype=bool), np.array(valid, dtype=bool)

    def json_in(self, column: str, path: Sequence[str | int], values: Sequence[Any]) -> Pair:
        docs = self._docs(column)
        value = []
        for doc in docs:
            x = json_get(doc, path) if doc is not None else MISSING
            value.append(any(json_type(x) == json_type(v) and x == v for v in values))
        valid = np.array([doc is not None for doc in docs], dtype=bool)
        return np.array(value, dtype=bool) & valid, valid

    def json_like(self, column: str, path: Sequence[str | int], pattern: str) -> Pair:
        regex = like_regex(pattern)
        docs = self._docs(column)
        value = []
        for doc in docs:
            x = json_get(doc, path) if doc is not None else MISSING
            value.append(isinstance(x, str) and regex.fullmatch(x) is not None)
        valid = np.array([doc is not None for doc in docs], dtype=bool)
        return np.array(value, dtype=bool), valid

    def json_exists(self, column: str, path: Sequence[str | int]) -> Pair:
        docs = self._docs(column)
        value = [
            doc is not None and json_type(json_get(doc, path)) not in ("missing", "null")
            for doc in docs
        ]
        return np.array(value, dtype=bool), np.ones(self.n, dtype=bool)

    def json_contains(
        self, column: str, path: Sequence[str | int], mode: str, targets: Sequence[Any]
    ) -> Pair:
        docs = self._docs(column)
        value = []
        for doc in docs:
            x = json_get(doc, path) if doc is not None else MISSING
            if not isinstance(x, list):
                value.append(False)
                continue
            hits = [any(json_type(e) == json_type(t) and e == t for e in x) for t in targets]
            value.append(any(hits) if mode == "any" else all(hits))
        valid = np.array([doc is not None for doc in docs], dtype=bool)
        return np.array(value, dtype=bool), valid

    def array_length(self, column: str, path: Sequence[str | int], op: str, literal: int) -> Pair:
        docs = self._docs(column)
        lengths = [json_get(doc, path) if doc is not None else MISSING for doc in docs]
        valid = np.array([isinstance(x, list) for x in lengths], dtype=bool)
        value = np.array(
            [isinstance(x, list) and PYOPS[op](len(x), literal) for x in lengths], dtype=bool
        )
        return value, valid


def negate(pair: Pair) -> Pair:
    value, valid = pair
    return ~value & valid, valid


def conjoin(pairs: Sequence[Pair]) -> Pair:
    value, valid = pairs[0]
    for v, ok in pairs[1:]:
        value, valid = value & v, valid | ok
    return value, valid


def disjoin(pairs: Sequence[Pair]) -> Pair:
    value, valid = pairs[0]
    for v, ok in pairs[1:]:
        value, valid = value | v, valid | ok
    return value, valid
