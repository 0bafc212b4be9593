"""Embedded mode: client data <-> the engine's Arrow columns, without a gRPC round trip.

Inbound, each schema field becomes one :class:`~sluice.engine.ingest.Column`
built in a single call per field: numpy and Arrow inputs are wrapped without
copying (a C-contiguous float32 ``(n, dim)`` array becomes a
``FixedSizeList`` over the same buffer); lists go through one ``np.asarray``
or ``pa.array`` call.  Only JSON values (the ``$meta`` dynamic field and JSON
fields) are encoded row by row, with orjson, since each row is its own
document.  The checks pymilvus makes on the client before sending (unknown
keys without a dynamic field, a missing non-nullable field, values of the
wrong kind) raise :class:`~sluice.errors.ParameterInvalid` with pymilvus's
wording; everything else is left to the engine, which validates inserts the
way the server does.

Outbound, result tables become dicts in the shape pymilvus builds from a
``QueryResults`` / ``SearchResults`` message: JSON decoded, ``$meta`` keys
merged into the row (without overwriting schema fields).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from sluice.client.convert import INSERT_MISSED_FIELD, INSERT_UNEXPECTED_FIELD, column_length
from sluice.engine import Column, SearchHits
from sluice.errors import ParameterInvalid
from sluice.schema import DYNAMIC_FIELD, CollectionSchema, DataType, FieldSchema
from sluice.types import type_info

Row = dict[str, Any]


def insert_columns(schema: CollectionSchema, data: Any) -> tuple[list[Column], int]:
    """Rows (list of dicts) or columns (dict of arrays) -> engine columns and the row count."""
    if isinstance(data, Mapping):
        return _from_columns(schema, data)
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        return _from_rows(schema, data)
    raise ParameterInvalid.msg(
        f"wrong type of argument 'data', expected a list of dicts or a dict of columns, "
        f"got '{type(data).__name__}'"
    )


def _from_rows(schema: CollectionSchema, rows: Sequence[Any]) -> tuple[list[Column], int]:
    if not rows:
        return [], 0
    for row in rows:
        if not isinstance(row, Mapping):
            raise ParameterInvalid.msg(f"expected Dict, got '{type(row).__name__}'")
    keys: set[str] = set()
    for row in rows:
        keys.update(row)
    known = {f.name for f in schema.user_fields}
    extra = [k for k in keys if k not in known]
    _check_unknown(schema, extra)
    columns = []
    for fld in _input_fields(schema, keys):
        if any(fld.name not in row for row in rows) and not _may_be_missing(fld):
            raise ParameterInvalid.msg(INSERT_MISSED_FIELD.format(fld.name))
        columns.append(_column(fld, [row.get(fld.name) for row in rows]))
    if extra and schema.dynamic_field is not None:
        docs = [{k: v for k, v in row.items() if k not in known} for row in rows]
        columns.append(_dynamic_column(docs))
    return columns, len(rows)


def _from_columns(schema: CollectionSchema, data: Mapping[str, Any]) -> tuple[list[Column], int]:
    if not data:
        return [], 0
    lengths = {name: column_length(name, values) for name, values in data.items()}
    if len(set(lengths.values())) != 1:
        raise ParameterInvalid.msg(f"columns have different lengths: {lengths}")
    num_rows = next(iter(lengths.values()))
    known = {f.name for f in schema.user_fields}
    extra = [k for k in data if k not in known]
    _check_unknown(schema, extra)
    columns = []
    for fld in _input_fields(schema, set(data)):
        columns.append(_column(fld, data[fld.name]))
    if extra and schema.dynamic_field is not None:
        values = {k: _to_list(data[k]) for k in extra}
        docs = [{k: values[k][i] for k in extra} for i in range(num_rows)]
        columns.append(_dynamic_column(docs))
    return columns, num_rows


def _check_unknown(schema: CollectionSchema, extra: list[str]) -> None:
    if extra and schema.dynamic_field is None:
        raise ParameterInvalid.msg(INSERT_UNEXPECTED_FIELD.format(sorted(extra)[0]))


def _input_fields(schema: CollectionSchema, keys: set[str]) -> list[FieldSchema]:
    """Fields the client must (or chose to) send; a sent auto-ID key is the engine's to refuse."""
    out = []
    for fld in schema.user_fields:
        if fld.is_primary and fld.auto_id and fld.name not in keys:
            continue
        if fld.name not in keys:
            if _may_be_missing(fld):
                continue
            raise ParameterInvalid.msg(INSERT_MISSED_FIELD.format(fld.name))
        out.append(fld)
    return out


def _may_be_missing(fld: FieldSchema) -> bool:
    return fld.nullable or fld.default_value is not None


def _to_list(values: Any) -> list[Any]:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return list(values.to_pylist())
    if isinstance(values, np.ndarray):
        return list(values.tolist())
    return list(values)


# --- one field ---------------------------------------------------------------------------


def _column(fld: FieldSchema, values: Any) -> Column:
    return _ENCODERS.get(fld.dtype, _scalar_column)(fld, values)


def _scalar_column(fld: FieldSchema, values: Any) -> Column:
    if isinstance(values, pa.ChunkedArray):
        array = values.combine_chunks()
    elif isinstance(values, pa.Array):
        array = values
    else:
        try:
            array = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
            raise _kind_mismatch(fld) from None
    if not type_info(fld.dtype).accepts(array.type):
        raise _kind_mismatch(fld)
    return Column(fld.name, fld.dtype, array)


def _json_column(fld: FieldSchema, values: Any) -> Column:
    docs = _to_list(values)
    return Column(fld.name, fld.dtype, pa.array([_json_field(v) for v in docs], pa.binary()))


def _float_vector_column(fld: FieldSchema, values: Any) -> Column:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.FixedSizeListArray):
        return Column(fld.name, fld.dtype, values, dim=values.type.list_size)
    try:
        matrix = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError):
        raise ParameterInvalid.msg(
            f"the float vector field {fld.name} needs vectors of one dimension"
        ) from None
    if matrix.ndim != 2 or matrix.shape[1] == 0:
        raise ParameterInvalid.msg(
            f"the float vector field {fld.name} needs vectors of one dimension"
        )
    dim = int(matrix.shape[1])
    flat = np.ascontiguousarray(matrix).reshape(-1)
    return Column(
        fld.name, fld.dtype, pa.FixedSizeListArray.from_arrays(pa.array(flat), dim), dim=dim
    )


#: Python values -> an engine column, by field type (others: :func:`_scalar_column`).
_ENCODERS: dict[DataType, Callable[[FieldSchema, Any], Column]] = {
    DataType.JSON: _json_column,
    DataType.FLOAT_VECTOR: _float_vector_column,
}


def _kind_mismatch(fld: FieldSchema) -> ParameterInvalid:
    return ParameterInvalid.msg(
        f"The Input data type is inconsistent with defined schema, {{{fld.name}}} field should "
        f"be a {fld.dtype.milvus_name}"
    )


def _json_default(value: Any) -> Any:
    """numpy values in JSON, as pymilvus converts them (``float(np.float32(0.1))``, not 0.1)."""
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, default=_json_default)
    except (TypeError, orjson.JSONEncodeError) as err:
        raise ParameterInvalid.msg(f"invalid JSON value: {err}") from None


def _json_field(value: Any) -> bytes | None:
    """A JSON field's value; a ``str`` is taken as JSON text, as pymilvus does."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            orjson.loads(value)
        except orjson.JSONDecodeError as err:
            raise ParameterInvalid.msg(f"Invalid JSON string: {err}") from None
        return value.encode()
    return _dumps(value)


def _dynamic_column(docs: list[dict[str, Any]]) -> Column:
    encoded = [_dumps(doc) for doc in docs]
    return Column(DYNAMIC_FIELD, DataType.JSON, pa.array(encoded, pa.binary()), is_dynamic=True)


# --- results -----------------------------------------------------------------------------


def table_rows(schema: CollectionSchema, table: pa.Table) -> list[Row]:
    """Result rows as pymilvus builds them: JSON decoded, ``$meta`` keys merged in."""
    if table.num_columns == 0:
        return [{} for _ in range(table.num_rows)]
    json_fields = [
        name
        for name in table.column_names
        if (fld := schema.get(name)) is not None
        and fld.dtype == DataType.JSON
        and not fld.is_dynamic
    ]
    has_meta = DYNAMIC_FIELD in table.column_names
    rows: list[Row] = table.to_pylist()
    if not json_fields and not has_meta:
        return rows
    for row in rows:
        for name in json_fields:
            raw = row[name]
            row[name] = None if raw is None else orjson.loads(raw)
        if has_meta:
            raw = row.pop(DYNAMIC_FIELD)
            if raw is None:
                row[DYNAMIC_FIELD] = None
                continue
            for key, value in orjson.loads(raw).items():
                row.setdefault(key, value)
    return rows


def search_rows(schema: CollectionSchema, hits: SearchHits) -> list[list[Row]]:
    """Per query, hits as ``{"id", "distance", "entity"}``."""
    pks = hits.pks.tolist()
    scores = hits.scores.tolist()
    entities = table_rows(schema, hits.fields) if hits.fields.num_columns else []
    if len(entities) != len(pks):
        entities = [{} for _ in pks]
    out: list[list[Row]] = []
    start = 0
    for count in hits.topks:
        stop = start + count
        out.append(
            [
                {"id": pks[i], "distance": scores[i], "entity": entities[i]}
                for i in range(start, stop)
            ]
        )
        start = stop
    return out
