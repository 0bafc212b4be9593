"""Evaluating a bound filter over a batch: whole-column NumPy and pyarrow.compute work.

Each predicate yields ``(value, valid)``, two boolean arrays with ``value``
false wherever ``valid`` is, mirroring segcore's result/validity bitmaps (see
:mod:`sluice.query.bound` for the null rules).  Values yield a
:class:`_Num` (NumPy values plus validity), a :class:`_Str` (an Arrow string
column plus validity) or a :class:`~sluice.query.jsonvalues.JsonValues`.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from sluice.errors import ExpressionError
from sluice.query import typed_eval
from sluice.query.ast import TOO_DEEP
from sluice.query.bound import (
    AndPred,
    ArrayContains,
    ArrayItem,
    ArrayLen,
    ArrayLength,
    BoundExpr,
    Cmp,
    ColumnRef,
    Const,
    GeoRelation,
    GeoValid,
    InList,
    JsonArith,
    JsonContains,
    JsonExists,
    JsonRef,
    LikeMatch,
    Negate,
    NotPred,
    NullTest,
    NumArith,
    OrPred,
    Predicate,
    TextMatch,
    TimeShift,
    Value,
)
from sluice.query.columns import ArrowColumn, Batch, Columns, gc_paused
from sluice.query.index_hook import (
    CONTAINS_OPS,
    IN,
    LIKE,
    PHRASE_MATCH,
    RANGE,
    TEXT_MATCH,
    IndexLeaf,
    IndexLookup,
)
from sluice.query.jsonvalues import JsonValues, extract
from sluice.query.numeric import (
    BoolArray,
    compare,
    compare_float32_column,
    compare_int_column,
    float_arith,
    int_arith,
)
from sluice.schema import DataType

_ARROW_OPS = {
    "==": pc.equal,
    "!=": pc.not_equal,
    "<": pc.less,
    "<=": pc.less_equal,
    ">": pc.greater,
    ">=": pc.greater_equal,
}

Result = tuple[BoolArray, BoolArray]


@dataclass(frozen=True, slots=True)
class _Num:
    values: npt.NDArray[Any]
    valid: BoolArray


@dataclass(frozen=True, slots=True)
class _Str:
    values: ArrowColumn
    valid: BoolArray


@dataclass(frozen=True, slots=True)
class _Json:
    values: JsonValues
    valid: BoolArray


def _filled_numpy(array: pa.Array) -> npt.NDArray[Any]:
    """Numbers of an Arrow array with nulls as zero; integers widened to int64."""
    fill = False if pa.types.is_boolean(array.type) else 0
    values = np.asarray(pc.fill_null(array, fill).to_numpy(zero_copy_only=False))
    return values.astype(np.int64, copy=False) if values.dtype.kind in "iu" else values


def _bool_numpy(array: ArrowColumn) -> BoolArray:
    filled = pc.fill_null(array, False)
    return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=np.bool_)


_LOWER_OPS = (">", ">=")
_UPPER_OPS = ("<", "<=")


def _ref_key(ref: ColumnRef | JsonRef) -> tuple[str, tuple[str | int, ...]]:
    if isinstance(ref, JsonRef):
        return ref.column, ref.path
    return ref.name, ()


class _Evaluator:
    def __init__(self, columns: Columns, index: IndexLookup | None = None) -> None:
        self.columns = columns
        self.n = columns.num_rows
        self.index = index

    # --- index hook ------------------------------------------------------------------

    def indexed(self, ref: Value, op: str, operands: tuple[Any, ...]) -> Result | None:
        """The index's answer for ``ref op operands``, with validity applied, or None."""
        if self.index is None or not isinstance(ref, ColumnRef | JsonRef):
            return None
        field, path = _ref_key(ref)
        hits = self.index.lookup(IndexLeaf(field, path, op, operands), self.n)
        if hits is None:
            return None
        if isinstance(ref, JsonRef):
            valid = self.columns.json_valid(ref.column, ref.is_meta)
        else:
            valid = self.columns.valid(ref.name)
        hits = np.asarray(hits, dtype=np.bool_)
        if valid is not self.columns.all_valid():
            hits = hits & valid
        return hits, valid

    def ranges(self, children: tuple[Predicate, ...]) -> tuple[list[Result], list[Predicate]]:
        """Answer ``lower < f and f < upper`` pairs of an ``and`` with one index lookup each."""
        if self.index is None:
            return [], list(children)
        bounds: dict[tuple[str, tuple[str | int, ...]], dict[str, Cmp]] = {}
        for child in children:
            if (
                isinstance(child, Cmp)
                and isinstance(child.right, Const)
                and isinstance(child.left, ColumnRef | JsonRef)
                and child.op in _LOWER_OPS + _UPPER_OPS
            ):
                side = "lower" if child.op in _LOWER_OPS else "upper"
                bounds.setdefault(_ref_key(child.left), {}).setdefault(side, child)
        answered: list[Result] = []
        used: set[int] = set()
        for pair in bounds.values():
            if len(pair) != 2:
                continue
            lower, upper = pair["lower"], pair["upper"]
            assert isinstance(lower.right, Const) and isinstance(upper.right, Const)
            operands = (lower.right.value, lower.op == ">=", upper.right.value, upper.op == "<=")
            result = self.indexed(lower.left, RANGE, operands)
            if result is not None:
                answered.append(result)
                used.update((id(lower), id(upper)))
        return answered, [c for c in children if id(c) not in used]

    # --- values ----------------------------------------------------------------------

    def json(self, ref: JsonRef) -> _Json:
        key = (ref.column, ref.path)
        cached = self.columns.memo(key)
        if cached is None:
            docs = self.columns.docs(ref.column, ref.is_meta)
            with gc_paused():
                cached = JsonValues.of(extract(docs, ref.path))
            self.columns.remember(key, cached)
        assert isinstance(cached, JsonValues)
        return _Json(cached, self.columns.json_valid(ref.column, ref.is_meta))

    def value(self, node: Value) -> _Num | _Str | _Json:
        if isinstance(node, ColumnRef):
            valid = self.columns.valid(node.name)
            if node.dtype == DataType.VARCHAR:
                return _Str(self.columns.arrow(node.name), valid)
            return _Num(self.columns.numeric(node.name), valid)
        if isinstance(node, JsonRef):
            return self.json(node)
        if isinstance(node, NumArith):
            return self.arith(node)
        if isinstance(node, Negate):
            operand = self.num(node.operand)
            with np.errstate(over="ignore"):
                return _Num(np.negative(operand.values), operand.valid)
        if isinstance(node, ArrayLength):
            values = self.json(node.ref)
            return _Num(values.values.array_lengths(), values.valid & values.values.is_array)
        if isinstance(node, ArrayLen):
            valid = self.columns.valid(node.ref.name)
            return _Num(typed_eval.array_lengths(self.columns, node.ref), valid)
        if isinstance(node, ArrayItem):
            items, present = typed_eval.array_item(self.columns, node)
            if typed_eval.element_kind(node.dtype) == "string":
                return _Str(items, present)
            return _Num(_filled_numpy(items), present)
        if isinstance(node, TimeShift):
            base = self.columns.numeric(node.ref.name)
            return _Num(typed_eval.shifted(base, node), self.columns.valid(node.ref.name))
        if isinstance(node, JsonArith):
            return self.json_arith(node)
        raise AssertionError(f"constant {node} has no per-row value")

    def num(self, node: Value) -> _Num:
        if isinstance(node, Const):
            return _Num(np.asarray(node.value), self.columns.all_valid())
        result = self.value(node)
        assert isinstance(result, _Num)
        return result

    def arith(self, node: NumArith) -> _Num:
        left, right = self.num(node.left), self.num(node.right)
        valid = left.valid & right.valid
        if node.dtype == DataType.INT64:
            a = left.values.astype(np.int64, copy=False)
            b = right.values.astype(np.int64, copy=False)
            values, zero = int_arith(node.op, np.broadcast_to(a, (self.n,)), b)
            if zero is not None:
                valid = valid & ~zero
            return _Num(values, valid)
        return _Num(float_arith(node.op, left.values, right.values), valid)

    def json_arith(self, node: JsonArith) -> _Json:
        source = self.json(node.ref)
        values, operand, op = source.values, node.operand, node.op
        floats = float_arith(op, values.floats, operand)
        if isinstance(operand, int):
            # JSON integers stay integers (C division), so both views must agree.
            ints, _zero = int_arith(op, values.ints, operand)
            is_int = values.is_int
            floats = np.where(is_int, ints.astype(np.float64), floats)
        else:
            ints, is_int = values.ints, np.zeros(self.n, dtype=np.bool_)
        is_number = values.is_number if op != "%" else is_int
        return _Json(JsonValues.numbers(ints, floats, is_int, is_number), source.valid)

    # --- predicates ------------------------------------------------------------------

    def predicate(self, node: Predicate) -> Result:
        if isinstance(node, Cmp):
            return self.compare(node)
        if isinstance(node, AndPred):
            results, rest = self.ranges(node.children)
            results.extend(self.predicate(child) for child in rest)
            value, valid = results[0]
            for child_value, child_valid in results[1:]:
                value, valid = value & child_value, valid | child_valid
            return value, valid
        if isinstance(node, OrPred):
            value, valid = self.predicate(node.children[0])
            for child in node.children[1:]:
                child_value, child_valid = self.predicate(child)
                value, valid = value | child_value, valid | child_valid
            return value, valid
        if isinstance(node, NotPred):
            value, valid = self.predicate(node.child)
            return ~value & valid, valid
        if isinstance(node, InList):
            return self.membership(node)
        if isinstance(node, LikeMatch):
            return self.like(node)
        if isinstance(node, NullTest):
            return self.null_test(node)
        if isinstance(node, JsonExists):
            source = self.json(node.ref)
            return source.values.present & source.valid, self.columns.all_valid()
        if isinstance(node, ArrayContains):
            answer = self.indexed(node.ref, CONTAINS_OPS[node.mode], node.values)
            if answer is not None:
                return answer
            valid = self.columns.valid(node.ref.name)
            return typed_eval.array_contains(self.columns, node) & valid, valid
        if isinstance(node, GeoRelation):
            # ST_DWITHIN measures metres on the sphere, which the index's planar test does not.
            if node.op != "ST_DWITHIN":
                answer = self.indexed(node.ref, node.op, (node.wkt,))
                if answer is not None:
                    return answer
            valid = self.columns.valid(node.ref.name)
            return typed_eval.geo_relation(self.columns, node) & valid, valid
        if isinstance(node, GeoValid):
            valid = self.columns.valid(node.ref.name)
            return typed_eval.geo_valid(self.columns, node.ref) & valid, valid
        if isinstance(node, TextMatch):
            return self.text_match(node)
        return self.contains(node)

    def text_match(self, node: TextMatch) -> Result:
        if node.slop is None:
            answer = self.indexed(node.operand, TEXT_MATCH, (node.query,))
        else:
            answer = self.indexed(node.operand, PHRASE_MATCH, (node.query, node.slop))
        if answer is None:
            raise ExpressionError.for_expr(
                self.columns.text, f"no token index answers the match on {node.operand.name}"
            )
        return answer

    def compare(self, node: Cmp) -> Result:
        if isinstance(node.right, Const):
            answer = self.indexed(node.left, node.op, (node.right.value,))
            if answer is not None:
                return answer
        left = self.value(node.left)
        if isinstance(node.right, Const):
            return self.compare_const(node, left, node.right.value)
        right = self.value(node.right)
        valid = left.valid & right.valid
        if isinstance(left, _Str) and isinstance(right, _Str):
            hits = _bool_numpy(_ARROW_OPS[node.op](left.values, right.values))
        else:
            assert isinstance(left, _Num) and isinstance(right, _Num)
            a, b = left.values, right.values
            if {a.dtype.kind, b.dtype.kind} == {"i", "f"}:
                a, b = a.astype(np.float64), b.astype(np.float64)
            hits = compare(node.op, a, b)
        return hits & valid, valid

    def compare_const(self, node: Cmp, left: _Num | _Str | _Json, const: Any) -> Result:
        if isinstance(left, _Json):
            return left.values.compare(node.op, const) & left.valid, left.valid
        if isinstance(left, _Str):
            return _bool_numpy(_ARROW_OPS[node.op](left.values, const)) & left.valid, left.valid
        values = left.values
        if values.dtype.kind == "i":
            hits = compare_int_column(values, node.op, const)
        elif values.dtype == np.float32:
            hits = compare_float32_column(values, node.op, float(const))
        else:
            hits = compare(node.op, values, const)
        return hits & left.valid, left.valid

    def membership(self, node: InList) -> Result:
        operand = node.operand
        if isinstance(operand, ArrayItem):
            return self.item_membership(operand, node.values)
        answer = self.indexed(operand, IN, node.values)
        if answer is not None:
            return answer
        if isinstance(operand, JsonRef):
            source = self.json(operand)
            return source.values.isin(node.values) & source.valid, source.valid
        valid = self.columns.valid(operand.name)
        if not node.values:
            return np.zeros(self.n, dtype=np.bool_), valid
        if operand.dtype == DataType.VARCHAR:
            value_set = pa.array(list(node.values), type=pa.string())
            hits = _bool_numpy(pc.is_in(self.columns.arrow(operand.name), value_set=value_set))
            return hits & valid, valid
        values = self.columns.numeric(operand.name)
        if values.dtype.kind == "i":
            members = np.array(node.values, dtype=np.int64)
        elif values.dtype == np.float32:
            members = np.array(node.values, dtype=np.float64).astype(np.float32)
        else:
            members = np.array(node.values, dtype=values.dtype)
        return np.isin(values, members) & valid, valid

    def item_membership(self, operand: ArrayItem, members: tuple[Any, ...]) -> Result:
        items, present = typed_eval.array_item(self.columns, operand)
        if not members:
            return np.zeros(self.n, dtype=np.bool_), present
        if typed_eval.element_kind(operand.dtype) == "string":
            value_set = pa.array(list(members), type=pa.string())
        else:
            value_set = pa.array(list(members)).cast(items.type, safe=False)
        return _bool_numpy(pc.is_in(items, value_set=value_set)) & present, present

    def like(self, node: LikeMatch) -> Result:
        operand = node.operand
        if isinstance(operand, ArrayItem):
            items, present = typed_eval.array_item(self.columns, operand)
            return _bool_numpy(pc.match_like(items, node.pattern)) & present, present
        answer = self.indexed(operand, LIKE, (node.pattern,))
        if answer is not None:
            return answer
        if isinstance(operand, JsonRef):
            source = self.json(operand)
            return source.values.like(node.pattern) & source.valid, source.valid
        valid = self.columns.valid(operand.name)
        hits = _bool_numpy(pc.match_like(self.columns.arrow(operand.name), node.pattern))
        return hits & valid, valid

    def null_test(self, node: NullTest) -> Result:
        operand = node.operand
        if isinstance(operand, JsonRef):
            valid = self.columns.json_valid(operand.column, operand.is_meta)
        else:
            valid = self.columns.valid(operand.name)
        return (~valid if node.is_null else valid.copy()), self.columns.all_valid()

    def contains(self, node: JsonContains) -> Result:
        answer = self.indexed(node.ref, CONTAINS_OPS[node.mode], node.values)
        if answer is not None:
            return answer
        source = self.json(node.ref)
        hits = source.values.contains(node.mode, node.values)
        return hits & source.valid, source.valid


def evaluate(
    bound: BoundExpr,
    batch: Batch,
    json_cache: MutableMapping[tuple[str, tuple[str | int, ...]], Any] | None = None,
    index: IndexLookup | None = None,
) -> BoolArray:
    """The rows of ``batch`` that satisfy ``bound``, as a boolean mask of ``num_rows``.

    The batch may hold extra columns; it must hold every column in
    ``bound.fields`` (a missing ``$meta`` reads as rows without dynamic keys).
    ``json_cache`` may be shared by calls over the same, unchanging rows: JSON
    paths extracted once are then reused.  ``index``, when given, is offered
    each indexable leaf first (see :mod:`sluice.query.index_hook`); its
    answers must equal the scan's, so the result is the same either way.
    """
    columns = Columns(batch, bound.text, json_cache)
    try:
        value, _valid = _Evaluator(columns, index).predicate(bound.root)
    except RecursionError:
        raise ExpressionError.for_expr(bound.text, TOO_DEEP) from None
    return np.ascontiguousarray(value, dtype=np.bool_)
