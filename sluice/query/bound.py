"""The bound form of a filter: field references resolved, types checked, constants folded.

Binding turns the schema-free :mod:`sluice.query.ast` into two kinds of
nodes.  *Values* produce one value per row (a column, a JSON path, a
constant, arithmetic); *predicates* produce one boolean per row.  The
evaluator only ever sees these nodes, so every question the schema can answer
(is ``age`` a column or a ``$meta`` key? may it be compared with ``"x"``?) is
settled once, before any data is touched.

Null semantics follow Milvus's segcore, which pairs each predicate result
with a validity bitmap: a comparison on a null value is false and *invalid*;
``not`` flips only valid rows (so ``not (a > 1)`` is false where ``a`` is
null); ``and``/``or`` combine values bitwise and a row is valid when either
side is.  ``is null``, ``is not null`` and ``exists`` are always valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from sluice.query.ast import PathStep, Scalar
from sluice.schema import DataType

#: A constant after binding; lists become tuples so nodes stay hashable.
ConstValue: TypeAlias = Scalar | tuple["ConstValue", ...]


@dataclass(frozen=True, slots=True)
class ColumnRef:
    """A scalar (non-JSON) column read as is."""

    name: str
    dtype: DataType
    nullable: bool


@dataclass(frozen=True, slots=True)
class JsonRef:
    """A value inside a JSON column; ``path == ()`` is the whole document."""

    column: str
    path: tuple[PathStep, ...]
    nullable: bool
    #: The dynamic field (``$meta``): never null, absent keys are simply missing.
    is_meta: bool = False


@dataclass(frozen=True, slots=True)
class Const:
    """A constant; ``dtype`` is INT64, DOUBLE, VARCHAR, BOOL or ARRAY (a list)."""

    value: ConstValue
    dtype: DataType


@dataclass(frozen=True, slots=True)
class NumArith:
    """Arithmetic over numeric columns and constants (at least one side a column).

    ``dtype`` is INT64 (both sides integers: C semantics, ``/`` truncates toward
    zero, ``%`` takes the dividend's sign) or DOUBLE.
    """

    op: str
    left: NumValue
    right: NumValue
    dtype: DataType


@dataclass(frozen=True, slots=True)
class Negate:
    """Unary minus on a numeric column expression."""

    operand: NumValue
    dtype: DataType


@dataclass(frozen=True, slots=True)
class JsonArith:
    """``json_path op constant`` (or ``constant + path`` / ``constant * path``).

    JSON integers use integer arithmetic when the constant is an integer,
    other numbers use float64; non-numbers never match, as in Milvus.
    """

    op: str
    ref: JsonRef
    operand: int | float


@dataclass(frozen=True, slots=True)
class ArrayLength:
    """``array_length(json_path)``; rows whose value is not an array are invalid."""

    ref: JsonRef


@dataclass(frozen=True, slots=True)
class ArrayLen:
    """``array_length(array_field)``: elements per row of an ARRAY column."""

    ref: ColumnRef


@dataclass(frozen=True, slots=True)
class ArrayItem:
    """``array_field[i]``: the ``i``-th element, invalid where a row is shorter."""

    ref: ColumnRef
    index: int
    dtype: DataType


@dataclass(frozen=True, slots=True)
class TimeShift:
    """``timestamptz_field ± INTERVAL '...'``: calendar months, then microseconds."""

    ref: ColumnRef
    months: int
    micros: int


NumValue: TypeAlias = (
    ColumnRef | Const | NumArith | Negate | ArrayLength | ArrayLen | ArrayItem | TimeShift
)
Value: TypeAlias = (
    ColumnRef
    | JsonRef
    | Const
    | NumArith
    | Negate
    | JsonArith
    | ArrayLength
    | ArrayLen
    | ArrayItem
    | TimeShift
)


@dataclass(frozen=True, slots=True)
class Cmp:
    """``left op right``; a constant operand, if any, is always ``right``."""

    op: str
    left: Value
    right: Value


@dataclass(frozen=True, slots=True)
class InList:
    """Membership in a list of constants already cast to the operand's type."""

    operand: ColumnRef | JsonRef | ArrayItem
    values: tuple[ConstValue, ...]


@dataclass(frozen=True, slots=True)
class LikeMatch:
    """SQL ``LIKE`` (``%``, ``_``, backslash escapes) on a string column or JSON string."""

    operand: ColumnRef | JsonRef | ArrayItem
    pattern: str


@dataclass(frozen=True, slots=True)
class NullTest:
    """``column is null`` (``is_null``) or ``is not null``: the column's own nulls."""

    operand: ColumnRef | JsonRef
    is_null: bool


@dataclass(frozen=True, slots=True)
class JsonExists:
    """The path resolves to a non-null JSON value (``exists``, ``path is not null``)."""

    ref: JsonRef


@dataclass(frozen=True, slots=True)
class JsonContains:
    """``json_contains`` (``mode == "contains"``, one value), ``_all`` or ``_any``."""

    ref: JsonRef
    mode: str
    values: tuple[ConstValue, ...]


@dataclass(frozen=True, slots=True)
class ArrayContains:
    """``array_contains`` (one value), ``_all`` or ``_any`` on an ARRAY column."""

    ref: ColumnRef
    mode: str
    values: tuple[ConstValue, ...]


@dataclass(frozen=True, slots=True)
class GeoRelation:
    """``ST_<op>(geometry_field, 'WKT')``, or ``ST_DWITHIN`` with ``distance`` in metres."""

    ref: ColumnRef
    op: str
    wkt: str
    distance: float | None = None


@dataclass(frozen=True, slots=True)
class GeoValid:
    """``ST_ISVALID(geometry_field)``."""

    ref: ColumnRef


@dataclass(frozen=True, slots=True)
class TextMatch:
    """``text_match(field, query)`` (``slop is None``) or ``phrase_match(field, query, slop)``.

    Rows are matched on the field's analyzed tokens, which only the index hook
    can answer (this package has no analyzers): see :mod:`sluice.query.index_hook`.
    """

    operand: ColumnRef
    query: str
    slop: int | None = None


@dataclass(frozen=True, slots=True)
class NotPred:
    child: Predicate


@dataclass(frozen=True, slots=True)
class AndPred:
    children: tuple[Predicate, ...]


@dataclass(frozen=True, slots=True)
class OrPred:
    children: tuple[Predicate, ...]


Predicate: TypeAlias = (
    Cmp
    | InList
    | LikeMatch
    | NullTest
    | JsonExists
    | JsonContains
    | ArrayContains
    | GeoRelation
    | GeoValid
    | TextMatch
    | NotPred
    | AndPred
    | OrPred
)


@dataclass(frozen=True, slots=True)
class BoundExpr:
    """A filter ready to evaluate against batches of one collection's schema."""

    root: Predicate
    #: Column names the evaluation reads (``$meta`` for dynamic keys).
    fields: frozenset[str]
    text: str
    #: Fields that ``text_match``/``phrase_match`` read: the evaluation needs a hook for them.
    text_match_fields: frozenset[str] = frozenset()
