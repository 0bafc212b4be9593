"""Binding: resolve names against a schema and type-check, as Milvus's plan parser does.

Name resolution follows ``GetFieldFromNameDefaultJSON``: a schema field wins;
otherwise, with a dynamic field, ``name[...]`` means ``$meta["name"][...]``;
otherwise the field does not exist.  Type rules follow planparserv2: a
VarChar compares only with strings, a number only with numbers, a bool only
with bools; JSON values compare with any scalar; ``like`` needs a string or
JSON operand; arithmetic needs numbers and ``%`` integers; ``**`` folds
constants only.  Deliberate widenings, each a superset of what Milvus
accepts: integer columns compare (and do arithmetic) with float constants
mathematically; arithmetic may combine several numeric columns; ``not`` binds
looser than comparisons; ``not like`` exists.  Messages reuse Milvus's wording
and name the field involved.
"""

from __future__ import annotations

from typing import NoReturn

from sluice.errors import ExpressionError
from sluice.query import ast, binder_text, binder_types
from sluice.query.ast import TOO_DEEP
from sluice.query.bound import (
    AndPred,
    ArrayItem,
    ArrayLen,
    ArrayLength,
    BoundExpr,
    Cmp,
    ColumnRef,
    Const,
    ConstValue,
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
    NumValue,
    OrPred,
    Predicate,
    TimeShift,
    Value,
)
from sluice.query.consts import (
    ARITH_NAMES,
    CastError,
    FoldError,
    cast_member,
    const,
    constants_ordered,
    fold_arith,
    fold_negative,
    is_number,
    type_name,
)
from sluice.schema import DYNAMIC_FIELD, CollectionSchema, DataType

_REVERSED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_CONTAINS = {
    "json_contains": "contains",
    "array_contains": "contains",
    "json_contains_all": "all",
    "array_contains_all": "all",
    "json_contains_any": "any",
    "array_contains_any": "any",
}
_CONTAINS_OP_NAME = {"contains": "Contains", "all": "ContainsAll", "any": "ContainsAny"}
#: Functions that produce values rather than predicates.
_VALUE_FUNCTIONS = frozenset({"array_length", "iso", "interval"})
_NON_VALUE_CALLS = frozenset(_CONTAINS) | binder_types.GEO_FUNCTIONS
_PREDICATE_NODES = (
    ast.Compare,
    ast.Chain,
    ast.In,
    ast.Like,
    ast.IsNull,
    ast.Exists,
    ast.Not,
    ast.And,
    ast.Or,
)


def _value_type(value: Value) -> DataType:
    if isinstance(value, ColumnRef | Const):
        return value.dtype
    if isinstance(value, NumArith | Negate):
        return value.dtype
    if isinstance(value, ArrayLength | ArrayLen):
        return DataType.INT64
    if isinstance(value, ArrayItem):
        return value.dtype
    if isinstance(value, TimeShift):
        return DataType.TIMESTAMPTZ
    return DataType.JSON


def _is_numeric(value: Value) -> bool:
    dtype = _value_type(value)
    return dtype.is_numeric and not isinstance(value, JsonArith)


def _is_integral(value: Value) -> bool:
    return _value_type(value).is_integer and not isinstance(value, JsonArith)


def _is_json(value: Value) -> bool:
    return isinstance(value, JsonRef | JsonArith)


def _label(value: Value) -> str:
    """How a value is named in messages: ``field "age"`` or ``field $meta["k"]``."""
    if isinstance(value, ColumnRef):
        return f'field "{value.name}"'
    if isinstance(value, JsonRef):
        steps = "".join(f'["{s}"]' if isinstance(s, str) else f"[{s}]" for s in value.path)
        return f"field {value.column}{steps}"
    if isinstance(value, JsonArith):
        return _label(value.ref)
    if isinstance(value, NumArith):
        return _label(value.left) if not isinstance(value.left, Const) else _label(value.right)
    if isinstance(value, Negate):
        return _label(value.operand)
    if isinstance(value, ArrayLength | ArrayLen | TimeShift):
        return _label(value.ref)
    if isinstance(value, ArrayItem):
        return f'field "{value.ref.name}"[{value.index}]'
    return "constant"


class Binder:
    """Binds one parsed expression against one schema."""

    def __init__(self, schema: CollectionSchema, text: str) -> None:
        self.schema = schema
        self.text = text
        dynamic = schema.dynamic_field
        if dynamic is not None:
            self.meta: str | None = dynamic.name
        else:
            self.meta = DYNAMIC_FIELD if schema.enable_dynamic_field else None
        self.fields: set[str] = set()
        self.text_fields: set[str] = set()

    # --- errors ---------------------------------------------------------------

    def fail(self, why: str) -> NoReturn:
        raise ExpressionError.for_expr(self.text, why)

    def snippet(self, node: ast.Node) -> str:
        start, end = node.span
        return self.text[start:end] if end > start else type(node).__name__.lower()

    # --- entry point -------------------------------------------------------------

    def bind(self, root: ast.Node) -> BoundExpr:
        predicate = self.predicate(root, "top")
        return BoundExpr(predicate, frozenset(self.fields), self.text, frozenset(self.text_fields))

    # --- names -------------------------------------------------------------------

    def resolve_value(self, ident: ast.Identifier) -> ColumnRef | JsonRef | ArrayItem:
        """A name as a value: ``array_field[i]`` is one element of the array."""
        ref = self.resolve(ident)
        if isinstance(ref, ColumnRef) and ref.dtype == DataType.ARRAY and ident.path:
            field = self.schema.get(ref.name)
            element = field.element_type if field is not None else None
            return binder_types.array_item(self, ref, element, ident.path)
        return ref

    def resolve(self, ident: ast.Identifier) -> ColumnRef | JsonRef:
        name, path = ident.name, ident.path
        if name == DYNAMIC_FIELD or (self.meta is not None and name == self.meta):
            if self.meta is None:
                self.fail(f"field {name} not exist")
            self.fields.add(self.meta)
            return JsonRef(self.meta, path, nullable=False, is_meta=True)
        field = self.schema.get(name)
        if field is not None:
            self.fields.add(field.name)
            if field.dtype == DataType.JSON:
                return JsonRef(field.name, path, nullable=field.nullable)
            if path and field.dtype != DataType.ARRAY:
                self.fail(f"{type_name(field.dtype)} data type not supported accessed with []")
            return ColumnRef(field.name, field.dtype, field.nullable)
        if self.meta is None:
            self.fail(f"field {name} not exist")
        self.fields.add(self.meta)
        return JsonRef(self.meta, (name, *path), nullable=False, is_meta=True)

    # --- predicates ----------------------------------------------------------------

    def predicate(self, node: ast.Node, context: str) -> Predicate:
        if isinstance(node, ast.Compare):
            return self.compare(node.op, node.left, node.right, node)
        if isinstance(node, ast.Chain):
            return self.chain(node)
        if isinstance(node, ast.In):
            return self.membership(node)
        if isinstance(node, ast.Like):
            return self.like(node)
        if isinstance(node, ast.IsNull):
            return self.null_test(node)
        if isinstance(node, ast.Exists):
            return self.exists(node)
        if isinstance(node, ast.Not):
            return NotPred(self.predicate(node.operand, "not"))
        if isinstance(node, ast.And):
            return AndPred(tuple(self.predicate(o, "and") for o in node.operands))
        if isinstance(node, ast.Or):
            return OrPred(tuple(self.predicate(o, "or") for o in node.operands))
        if isinstance(node, ast.Call) and node.name in _CONTAINS:
            return self.contains(node)
        if isinstance(node, ast.Call) and node.name in binder_text.TEXT_MATCH:
            return binder_text.text_match(self, node)
        if isinstance(node, ast.Call) and node.name in binder_types.GEO_FUNCTIONS:
            return binder_types.geometry_call(self, node)
        if isinstance(node, ast.Call) and node.name not in _VALUE_FUNCTIONS:
            raise binder_types.unknown_function(node.name)
        self.not_boolean(node, context)

    def not_boolean(self, node: ast.Node, context: str) -> NoReturn:
        if context == "and":
            self.fail("'and' can only be used between boolean expressions")
        if context == "or":
            self.fail("'or' can only be used between boolean expressions")
        if context == "not":
            self.fail("not op can only be applied on boolean expression")
        dtype = _value_type(self.value(node))
        self.fail(
            f"predicate is not a boolean expression: {self.text}, data type: {dtype.milvus_name}"
        )

    def compare(self, op: str, left_node: ast.Node, right_node: ast.Node, node: ast.Node) -> Cmp:
        left, right = self.value(left_node), self.value(right_node)
        if isinstance(left, Const) and isinstance(right, Const):
            self.fail(f"comparison between two constants is not a filter: {self.snippet(node)}")
        if isinstance(left, Const):
            left, right, op = right, left, _REVERSED[op]
        self.check_comparable(op, left, right)
        return Cmp(op, left, right)

    def check_comparable(self, op: str, left: Value, right: Value) -> None:
        ltype, rtype = _value_type(left), _value_type(right)
        mismatch = (
            f"comparisons between {type_name(ltype)} and {type_name(rtype)} are not supported"
        )
        if isinstance(left, JsonRef) and not left.path and left.is_meta:
            self.fail(f"{_label(left)} is a whole JSON document; compare one of its keys instead")
        if ltype.is_vector or rtype.is_vector or rtype == DataType.ARRAY:
            self.fail(mismatch)
        if not isinstance(right, Const) and (_is_json(left) or _is_json(right)):
            self.fail("two column comparison with JSON type is not supported")
        if isinstance(left, JsonArith):
            if not (isinstance(right, Const) and is_number(right)):
                self.fail(mismatch)
            return
        if isinstance(left, JsonRef):
            if rtype == DataType.BOOL and op not in ("==", "!="):
                self.fail(f"only == and != can compare JSON values with a bool ({_label(left)})")
            return
        if ltype == DataType.ARRAY or rtype == DataType.ARRAY:
            ok = False
        elif ltype == DataType.TIMESTAMPTZ or rtype == DataType.TIMESTAMPTZ:
            ok = {ltype, rtype} <= {DataType.TIMESTAMPTZ, DataType.INT64}
        elif ltype == DataType.GEOMETRY or rtype == DataType.GEOMETRY:
            ok = False
        elif ltype == DataType.VARCHAR:
            ok = rtype == DataType.VARCHAR
        elif ltype == DataType.BOOL:
            ok = rtype == DataType.BOOL
        else:
            ok = ltype.is_numeric and rtype.is_numeric
        if not ok:
            self.fail(mismatch)

    def chain(self, node: ast.Chain) -> Predicate:
        (op1, op2), (low, mid, high) = node.ops, node.operands
        ascending = op1 in ("<", "<=") and op2 in ("<", "<=")
        descending = op1 in (">", ">=") and op2 in (">", ">=")
        if not (ascending or descending):
            self.fail(
                f"invalid range {self.snippet(node)}: both operators must be < / <= or > / >="
            )
        if not isinstance(mid, ast.Identifier):
            self.fail(
                "range operations are only supported on single fields now,"
                f" got: {self.snippet(mid)}"
            )
        operand = self.resolve(mid)
        bounds = self.value(low), self.value(high)
        if not isinstance(bounds[0], Const):
            self.fail(f"lowerbound cannot be a non-const expression: {self.snippet(low)}")
        if not isinstance(bounds[1], Const):
            self.fail(f"upperbound cannot be a non-const expression: {self.snippet(high)}")
        if isinstance(operand, ColumnRef) and operand.dtype == DataType.BOOL:
            self.fail("invalid range operations on boolean expr")
        if ascending:
            (lower, lower_op), (upper, upper_op) = (bounds[0], op1), (bounds[1], op2)
        else:
            (lower, lower_op), (upper, upper_op) = (bounds[1], op2), (bounds[0], op1)
        inclusive = lower_op.endswith("=") and upper_op.endswith("=")
        if not constants_ordered(lower, upper, inclusive):
            self.fail("invalid range: lowerbound is greater than upperbound")
        above = ">=" if lower_op.endswith("=") else ">"
        below = "<=" if upper_op.endswith("=") else "<"
        for op, bound in ((above, lower), (below, upper)):
            self.check_comparable(op, operand, bound)
        return AndPred((Cmp(above, operand, lower), Cmp(below, operand, upper)))

    def single_field(self, node: ast.Node, what: str) -> ColumnRef | JsonRef | ArrayItem:
        value = self.value(node)
        if isinstance(value, ArrayItem):
            return value
        if isinstance(value, Const):
            self.fail(
                f"'{what}' can only be used on non-const expression, but got: {self.snippet(node)}"
            )
        if not isinstance(value, ColumnRef | JsonRef):
            self.fail(f"'{what}' can only be used on single field, but got: {self.snippet(node)}")
        if isinstance(value, JsonRef) and not value.path and value.is_meta:
            self.fail(
                f"{_label(value)} is a whole JSON document; use one of its keys with '{what}'"
            )
        if isinstance(value, ColumnRef) and value.dtype.is_vector:
            self.fail(f"'{what}' is not supported on vector {_label(value)}")
        return value

    def list_values(self, node: ast.Node, context: str) -> tuple[ConstValue, ...]:
        if not isinstance(node, ast.ListLiteral):
            self.fail(
                f"the right-hand side of '{context}' must be a list, but got: {self.snippet(node)}"
            )
        value = self.value(node)
        assert isinstance(value, Const) and isinstance(value.value, tuple)
        return value.value

    def membership(self, node: ast.In) -> Predicate:
        operand = self.single_field(node.operand, "term")
        dtype = DataType.JSON if isinstance(operand, JsonRef) else operand.dtype
        if dtype in (DataType.ARRAY, DataType.GEOMETRY):
            self.fail(f"'in' is not supported on {type_name(dtype)} {_label(operand)}")
        values: dict[tuple[type, ConstValue], ConstValue] = {}
        for item in self.list_values(node.values, "in"):
            try:
                usable, cast = cast_member(dtype, item)
            except CastError as exc:
                self.fail(f"{exc} ({_label(operand)})")
            if usable:
                # Keyed by type too: True == 1 in Python but not in JSON.
                values.setdefault((type(cast), cast), cast)
        result: Predicate = InList(operand, tuple(values.values()))
        return NotPred(result) if node.negated else result

    def like(self, node: ast.Like) -> Predicate:
        operand = self.value(node.operand)
        if not isinstance(operand, ColumnRef | JsonRef | ArrayItem):
            self.fail("like operation on complicated expr is unsupported")
        if isinstance(operand, ColumnRef | ArrayItem) and operand.dtype != DataType.VARCHAR:
            self.fail(
                f"like operation on non-string or no-json field is unsupported ({_label(operand)})"
            )
        if isinstance(operand, JsonRef) and not operand.path:
            self.fail(f"{_label(operand)} is a whole JSON document; use one of its keys with like")
        pattern = self.value(node.pattern)
        if not (isinstance(pattern, Const) and isinstance(pattern.value, str)):
            self.fail(
                f"the pattern of like must be a string, but got: {self.snippet(node.pattern)}"
            )
        result: Predicate = LikeMatch(operand, pattern.value)
        return NotPred(result) if node.negated else result

    def null_test(self, node: ast.IsNull) -> Predicate:
        if not isinstance(node.operand, ast.Identifier):
            self.fail(
                f"'is null' can only be used on a field, but got: {self.snippet(node.operand)}"
            )
        operand = self.resolve(node.operand)
        if isinstance(operand, JsonRef) and operand.path:
            exists = JsonExists(operand)
            return exists if node.negated else NotPred(exists)
        return NullTest(operand, is_null=not node.negated)

    def exists(self, node: ast.Exists) -> Predicate:
        operand = self.resolve(node.operand)
        if not isinstance(operand, JsonRef):
            got = type_name(operand.dtype)
            self.fail(f"exists operations are only supportted on json field, got:{got}")
        if not operand.path:
            self.fail("exists operations are only supportted on json key")
        return JsonExists(operand)

    def contains(self, node: ast.Call) -> Predicate:
        mode = _CONTAINS[node.name]
        if len(node.args) != 2:
            self.fail(f"{node.name} takes 2 arguments, got {len(node.args)}")
        target = self.value(node.args[0])
        if isinstance(target, ColumnRef) and target.dtype == DataType.ARRAY:
            return self.array_contains(node, mode, target)
        if not isinstance(target, JsonRef):
            what = "contains" if mode == "contains" else f"contains_{mode}"
            self.fail(
                f"{what} operation are only supported on json or array fields now,"
                f" got: {self.snippet(node.args[0])}"
            )
        element = self.value(node.args[1])
        if not isinstance(element, Const):
            self.fail(
                "contains operation are only supported explicitly specified element,"
                f" got: {self.snippet(node.args[1])}"
            )
        if mode == "contains":
            return JsonContains(target, mode, (element.value,))
        if not isinstance(element.value, tuple):
            self.fail(f"{_CONTAINS_OP_NAME[mode]} operation element must be an array")
        return JsonContains(target, mode, element.value)

    def array_contains(self, node: ast.Call, mode: str, target: ColumnRef) -> Predicate:
        field = self.schema.get(target.name)
        assert field is not None and field.element_type is not None
        element = self.value(node.args[1])
        if not isinstance(element, Const):
            self.fail(
                "contains operation are only supported explicitly specified element,"
                f" got: {self.snippet(node.args[1])}"
            )
        if mode == "contains":
            values: tuple[ConstValue, ...] = (element.value,)
        elif not isinstance(element.value, tuple):
            self.fail(f"{_CONTAINS_OP_NAME[mode]} operation element must be an array")
        else:
            values = element.value
        return binder_types.array_contains(self, target, field.element_type, mode, values)

    # --- values --------------------------------------------------------------------

    def value(self, node: ast.Node) -> Value:
        if isinstance(node, ast.Literal):
            return const(node.value)
        if isinstance(node, ast.ListLiteral):
            items: list[ConstValue] = []
            for item in node.items:
                bound = self.value(item)
                if not isinstance(bound, Const):
                    self.fail(
                        f"array element type must be generic value, but got: {self.snippet(item)}"
                    )
                items.append(bound.value)
            return Const(tuple(items), DataType.ARRAY)
        if isinstance(node, ast.Identifier):
            return self.resolve_value(node)
        if isinstance(node, ast.Call) and node.name in binder_types.TIME_LITERALS:
            return binder_types.time_literal(self, node)
        if isinstance(node, ast.Unary):
            return self.unary(node)
        if isinstance(node, ast.Arith):
            return self.arith(node)
        if isinstance(node, ast.Call) and node.name == "array_length":
            return self.array_length(node)
        if isinstance(node, ast.Call) and node.name not in (
            *_NON_VALUE_CALLS,
            *binder_text.TEXT_MATCH,
        ):
            self.fail(f"function {node.name} is not supported")
        if isinstance(node, ast.Template):
            self.fail(
                f"the value of expression template variable name {{{node.name}}} is not found"
            )
        assert isinstance(node, (*_PREDICATE_NODES, ast.Call))
        self.fail(f"{self.snippet(node)} is a boolean expression, not a value")

    def unary(self, node: ast.Unary) -> Value:
        operand = self.value(node.operand)
        if isinstance(operand, Const):
            if node.op == "+" and is_number(operand):
                return operand
            try:
                return fold_negative(operand)
            except FoldError as exc:
                self.fail(str(exc))
        if not _is_numeric(operand):
            self.fail(f"unary {node.op} can only apply on numbers, got {_label(operand)}")
        assert isinstance(operand, ColumnRef | NumArith | Negate | ArrayLength)
        if node.op == "+":
            return operand
        dtype = DataType.INT64 if _is_integral(operand) else DataType.DOUBLE
        return Negate(operand, dtype)

    def arith(self, node: ast.Arith) -> Value:
        if binder_types.is_interval(node.right) or binder_types.is_interval(node.left):
            return self.interval_arith(node)
        left, right = self.value(node.left), self.value(node.right)
        if isinstance(left, Const) and isinstance(right, Const):
            try:
                return fold_arith(node.op, left, right)
            except FoldError as exc:
                self.fail(str(exc))
        if node.op == "**":
            self.fail(f"power can only apply on constants: {self.snippet(node)}")
        name = ARITH_NAMES[node.op]
        if _is_json(left) or _is_json(right):
            return self.json_arith(node, left, right)
        for side, other in ((left, right), (right, left)):
            if not _is_numeric(side):
                self.fail(
                    f"'{name}' cannot perform arithmetic between {type_name(_value_type(side))}"
                    f" field and {type_name(_value_type(other))} ({_label(side)})"
                )
        if node.op == "%" and not (_is_integral(left) and _is_integral(right)):
            self.fail(f"modulo can only apply on integer types ({_label(left)})")
        if node.op in ("/", "%") and isinstance(right, Const) and right.value == 0:
            self.fail("division or modulus by zero")
        integral = _is_integral(left) and _is_integral(right)
        assert not isinstance(left, JsonRef | JsonArith) and not isinstance(
            right, JsonRef | JsonArith
        )
        num_left: NumValue = left
        num_right: NumValue = right
        return NumArith(
            node.op, num_left, num_right, DataType.INT64 if integral else DataType.DOUBLE
        )

    def interval_arith(self, node: ast.Arith) -> Value:
        """``ts ± INTERVAL '...'`` (or ``INTERVAL '...' + ts``)."""
        if binder_types.is_interval(node.right):
            base, interval, op = node.left, node.right, node.op
        elif node.op == "+":
            base, interval, op = node.right, node.left, node.op
        else:
            self.fail("an INTERVAL can only be subtracted from a timestamp, not the reverse")
        ref = self.value(base)
        if not isinstance(ref, ColumnRef):
            self.fail(f"INTERVAL can only shift a TIMESTAMPTZ field, got: {self.snippet(base)}")
        assert isinstance(interval, ast.Call)
        return binder_types.time_shift(self, ref, op, interval)

    def json_arith(self, node: ast.Arith, left: Value, right: Value) -> Value:
        if _is_json(left) and _is_json(right):
            self.fail("not supported to do arithmetic operations between multiple fields")
        ref, other = (left, right) if _is_json(left) else (right, left)
        if isinstance(ref, JsonArith):
            self.fail(f"complicated arithmetic operations are not supported: {self.snippet(node)}")
        assert isinstance(ref, JsonRef)
        if not ref.path:
            self.fail(f"cannot perform arithmetic on {_label(ref)}, a whole JSON document")
        if not isinstance(other, Const):
            self.fail("not supported to do arithmetic operations between multiple fields")
        if not is_number(other):
            self.fail(
                f"'{ARITH_NAMES[node.op]}' cannot perform arithmetic between JSON field"
                f" and {type_name(other.dtype)}"
            )
        if ref is right and node.op not in ("+", "*"):
            self.fail(
                f"'{ARITH_NAMES[node.op]}' with a constant on the left of {_label(ref)}"
                " is not supported"
            )
        if node.op == "%" and other.dtype != DataType.INT64:
            self.fail("modulo can only apply on integer types")
        if node.op in ("/", "%") and other.value == 0:
            self.fail("division or modulus by zero")
        assert isinstance(other.value, int | float) and not isinstance(other.value, bool)
        return JsonArith(node.op, ref, other.value)

    def array_length(self, node: ast.Call) -> Value:
        if len(node.args) != 1 or not isinstance(node.args[0], ast.Identifier):
            self.fail(f"array_length takes one field argument, got: {self.snippet(node)}")
        ref = self.resolve(node.args[0])
        if isinstance(ref, ColumnRef) and ref.dtype == DataType.ARRAY:
            return binder_types.array_length(ref)
        if not isinstance(ref, JsonRef):
            self.fail(
                "array_length operation are only supported on json or array fields now,"
                f" got: {self.snippet(node)}"
            )
        return ArrayLength(ref)


def bind(expr: ast.Expr, schema: CollectionSchema) -> BoundExpr:
    """Type-check ``expr`` against ``schema`` and resolve every field reference.

    Raises :class:`~sluice.errors.ExpressionError` naming the field and types
    involved when the expression does not fit the schema.
    """
    try:
        return Binder(schema, expr.text).bind(expr.root)
    except RecursionError:
        raise ExpressionError.for_expr(expr.text, TOO_DEEP) from None
