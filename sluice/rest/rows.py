"""JSON rows <-> ``schema.FieldData``, the conversions Milvus's REST layer makes.

Inbound (insert, upsert): each row object is checked against the collection
schema as Milvus's ``checkAndSetData``/``anyToColumns`` check it (a missing
vector, an auto-generated key that was sent, a key the schema does not know
without a dynamic field...), then every field becomes one ``FieldData`` column
and the rest of the row goes to ``$meta``.  Outbound (query, get, search),
columns become row objects the way ``buildQueryResp`` builds them: INT64
values as numbers (or strings when the client sends
``Accept-Type-Allow-Int64: false``), JSON fields as their text, dynamic keys
merged into the row, nulls as ``null``, search hits with ``id`` and ``distance``.

Both directions work column by column (numpy arrays, list comprehensions),
so a large batch costs one pass per field, not per value and field.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
from pymilvus.grpc_gen import common_pb2, schema_pb2

from sluice.errors import (
    ParameterInvalid,
    RestIncorrectParameterFormat,
    RestInvalidInsertData,
    Unimplemented,
)

DT = schema_pb2.DataType
_INTS = {
    DT.Int8: (-(2**7), 2**7 - 1),
    DT.Int16: (-(2**15), 2**15 - 1),
    DT.Int32: (-(2**31), 2**31 - 1),
}
_VECTORS = {
    DT.FloatVector,
    DT.BinaryVector,
    DT.Float16Vector,
    DT.BFloat16Vector,
    DT.SparseFloatVector,
    DT.Int8Vector,
}
META = "$meta"


def type_name(dtype: int) -> str:
    return str(DT.Name(dtype))


def _invalid(expected: Any, actual: Any, why: str) -> RestInvalidInsertData:
    return RestInvalidInsertData.because(ParameterInvalid.expected(expected, actual, why).message)


def _dim(fld: schema_pb2.FieldSchema) -> int:
    for kv in fld.type_params:
        if kv.key == "dim":
            try:
                return int(kv.value)
            except ValueError:
                return 0
    return 0


# --- inbound ---------------------------------------------------------------------


def columns_from_rows(
    schema: schema_pb2.CollectionSchema, rows: Sequence[Any], *, inserting: bool
) -> list[schema_pb2.FieldData]:
    """``data`` of an insert/upsert as FieldData columns, refused as Milvus refuses it."""
    if not rows:
        raise RestInvalidInsertData.because("missing required parameters")
    for declared in schema.struct_array_fields:
        raise Unimplemented(
            f"{Unimplemented.base_message}: writing the array of structs field {declared.name} "
            "through the RESTful API is not supported by Sluice; insert over gRPC"
        )
    for row in rows:
        if not isinstance(row, dict):
            raise _invalid(
                "JSON", _json_kind(row), "NULL:0, FALSE:1, NUMBER:2, STRING:3, TRUE:4, JSON:5"
            )
    fields = [f for f in schema.fields if not f.is_dynamic]
    known = {f.name for f in fields}
    columns: list[schema_pb2.FieldData] = []
    for index, fld in enumerate(fields):
        if fld.is_function_output:
            if any(fld.name in row for row in rows):
                why = f"not allowed to provide input data for function output field: {fld.name}"
                raise RestInvalidInsertData.because(ParameterInvalid.expected("", why).message)
            continue
        if fld.is_primary_key and fld.autoID and inserting:
            if any(fld.name in row for row in rows):
                raise RestInvalidInsertData.because(
                    ParameterInvalid.msg(
                        f"no need to pass pk field({fld.name}) when autoid==true in insert"
                    ).message
                )
            continue
        columns.append(_column(fld, index, rows))
    if schema.enable_dynamic_field:
        extras = []
        for row in rows:
            if META in row:
                raise RestInvalidInsertData.because(
                    ParameterInvalid.msg(
                        f"use the invalid field name({META}) when enable dynamicField"
                    ).message
                )
            extras.append(
                orjson.dumps({k: v for k, v in row.items() if k not in known and v is not None})
            )
        fd = schema_pb2.FieldData(type=DT.JSON, is_dynamic=True)
        fd.scalars.json_data.data.extend(extras)
        columns.append(fd)
    else:
        for row in rows:
            if any(k not in known for k in row):
                raise RestInvalidInsertData.because(
                    ParameterInvalid.msg(
                        "has pass more field without dynamic schema, please check it"
                    ).message
                )
    return columns


def _json_kind(value: Any) -> int:
    """gjson's type numbers, which Milvus prints when a row is not an object."""
    if value is None:
        return 0
    if value is False:
        return 1
    if value is True:
        return 4
    if isinstance(value, int | float):
        return 2
    if isinstance(value, str):
        return 3
    return 5


def _column(
    fld: schema_pb2.FieldSchema, index: int, rows: Sequence[dict[str, Any]]
) -> schema_pb2.FieldData:
    name = fld.name
    fd = schema_pb2.FieldData(type=fld.data_type, field_name=name, field_id=fld.fieldID)
    values = [row.get(name) for row in rows]
    optional = fld.nullable or fld.HasField("default_value")
    if optional:
        valid = [v is not None for v in values]
        if not all(valid):
            fd.valid_data.extend(valid)
        present = [v for v in values if v is not None]
    else:
        if any(v is None for v in values) and fld.data_type not in _VECTORS:
            # Milvus numbers the field here, not the row.
            raise RestInvalidInsertData.because(f"row {index} does not has field {name}")
        present = values
    dtype = fld.data_type
    if dtype in _VECTORS:
        _vectors(fd, fld, present)
    elif dtype == DT.Bool:
        fd.scalars.bool_data.data.extend(_cast(present, bool, dtype))
    elif dtype in _INTS:
        fd.scalars.int_data.data.extend(_cast(present, int, dtype))
    elif dtype == DT.Int64:
        fd.scalars.long_data.data.extend(_cast(present, int, dtype))
    elif dtype == DT.Float:
        fd.scalars.float_data.data.extend(_cast(present, float, dtype))
    elif dtype == DT.Double:
        fd.scalars.double_data.data.extend(_cast(present, float, dtype))
    elif dtype in (DT.VarChar, DT.String):
        fd.scalars.string_data.data.extend(
            [v if isinstance(v, str) else orjson.dumps(v).decode() for v in present]
        )
    elif dtype == DT.JSON:
        fd.scalars.json_data.data.extend(
            [v.encode() if isinstance(v, str) else orjson.dumps(v) for v in present]
        )
    elif dtype == DT.Array:
        for v in present:
            if not isinstance(v, list):
                raise _invalid(
                    f"Array of {type_name(fld.element_type)}",
                    orjson.dumps(v).decode(),
                    f"json: cannot unmarshal {type(v).__name__} into Go value",
                )
            fd.scalars.array_data.data.append(_array_value(fld.element_type, v))
        fd.scalars.array_data.element_type = fld.element_type
    else:
        raise _invalid("", type_name(dtype), f"fieldName: {name}")
    return fd


def _cast(values: list[Any], kind: type, dtype: int) -> list[Any]:
    """Values of a scalar field, checked as Milvus's ``cast`` calls check them."""
    out: list[Any] = []
    for v in values:
        ok = (
            isinstance(v, bool)
            if kind is bool
            else isinstance(v, int) and not isinstance(v, bool)
            if kind is int
            else isinstance(v, int | float) and not isinstance(v, bool)
        )
        if not ok:
            text = v if isinstance(v, str) else orjson.dumps(v).decode()
            raise _invalid(type_name(dtype), text, f'unable to cast "{text}" to {type_name(dtype)}')
        out.append(v)
    if dtype in _INTS:
        low, high = _INTS[dtype]
        for v in out:
            if not low <= v <= high:
                raise _invalid(type_name(dtype), v, f"value {v} out of range [{low}, {high}]")
    return out


def _array_value(element: int, values: list[Any]) -> schema_pb2.ScalarField:
    sf = schema_pb2.ScalarField()
    if element == DT.Bool:
        sf.bool_data.data.extend(values)
    elif element in (DT.Int8, DT.Int16, DT.Int32):
        sf.int_data.data.extend(values)
    elif element == DT.Int64:
        sf.long_data.data.extend(values)
    elif element == DT.Float:
        sf.float_data.data.extend(values)
    elif element == DT.Double:
        sf.double_data.data.extend(values)
    else:
        sf.string_data.data.extend(values)
    return sf


def _vectors(fd: schema_pb2.FieldData, fld: schema_pb2.FieldSchema, values: list[Any]) -> None:
    dtype = fld.data_type
    for v in values:
        if v is None:
            raise _invalid(type_name(dtype), "", f"missing vector field: {fld.name}")
    dim = _dim(fld)
    if dtype == DT.SparseFloatVector:
        contents = [_sparse_row(v, dtype) for v in values]
        fd.vectors.sparse_float_vector.contents.extend(contents)
        fd.vectors.sparse_float_vector.dim = max((_sparse_dim(c) for c in contents), default=0)
        fd.vectors.dim = fd.vectors.sparse_float_vector.dim
        return
    fd.vectors.dim = dim
    if dtype == DT.FloatVector:
        fd.vectors.float_vector.data.extend(_float_matrix(values, dim, dtype).ravel().tolist())
    elif dtype == DT.BinaryVector:
        fd.vectors.binary_vector = b"".join(_byte_rows(values, dim // 8, dim, dtype))
    elif dtype in (DT.Float16Vector, DT.BFloat16Vector):
        raw = b"".join(_half_rows(values, dim, dtype))
        if dtype == DT.Float16Vector:
            fd.vectors.float16_vector = raw
        else:
            fd.vectors.bfloat16_vector = raw
    elif dtype == DT.Int8Vector:
        matrix = np.asarray(values, dtype=np.int8)
        fd.vectors.int8_vector = matrix.tobytes()


def _float_matrix(values: list[Any], dim: int, dtype: int) -> np.ndarray:
    for v in values:
        if not isinstance(v, list) or not all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in v
        ):
            text = orjson.dumps(v).decode()
            raise _invalid(
                type_name(dtype), text, "json: cannot unmarshal into Go value of type float32"
            )
        if len(v) != dim:
            raise RestInvalidInsertData.because(
                f"[]float32 size {len(v)} doesn't equal to vector dimension {dim} of {type_name(dtype)}"
            )
    return np.asarray(values, dtype=np.float32).reshape(len(values), dim)


def _byte_rows(values: list[Any], size: int, dim: int, dtype: int) -> list[bytes]:
    rows = []
    for v in values:
        raw = base64.b64decode(v) if isinstance(v, str) else bytes(v)
        if len(raw) != size:
            raise RestInvalidInsertData.because(
                f"[]byte size {len(raw)} doesn't equal to vector dimension {dim} of {type_name(dtype)}"
            )
        rows.append(raw)
    return rows


def _half_rows(values: list[Any], dim: int, dtype: int) -> list[bytes]:
    if values and isinstance(values[0], list):
        matrix = _float_matrix(values, dim, dtype)
        if dtype == DT.Float16Vector:
            return [r.tobytes() for r in matrix.astype(np.float16)]
        bits = matrix.view(np.uint32) >> 16
        return [r.tobytes() for r in bits.astype(np.uint16)]
    return _byte_rows(values, dim * 2, dim, dtype)


def _sparse_row(value: Any, dtype: int) -> bytes:
    """A sparse vector (``{"index": value}`` or ``{"indices": [...], "values": [...]}``) as Milvus bytes."""
    if isinstance(value, dict) and set(value) == {"indices", "values"}:
        pairs = list(zip(value["indices"], value["values"], strict=False))
    elif isinstance(value, dict):
        try:
            pairs = [(int(k), v) for k, v in value.items()]
        except ValueError:
            raise _invalid(
                type_name(dtype), orjson.dumps(value).decode(), "invalid sparse index"
            ) from None
    else:
        raise _invalid(type_name(dtype), orjson.dumps(value).decode(), "invalid JSON input")
    pairs.sort()
    return b"".join(struct.pack("<If", int(i), float(v)) for i, v in pairs)


def _sparse_dim(content: bytes) -> int:
    if not content:
        return 0
    (last,) = struct.unpack_from("<I", content, len(content) - 8)
    return int(last) + 1


# --- search vectors ----------------------------------------------------------------


def placeholder_group(schema: schema_pb2.CollectionSchema, anns_field: str, data: Any) -> bytes:
    """The search request's ``data`` as the placeholder group Milvus's REST handler builds."""
    target = None
    if not anns_field:
        for fld in schema.fields:
            if fld.data_type in _VECTORS:
                if target is not None:
                    raise RestIncorrectParameterFormat.because(
                        "search without annsField, but already found multiple vector fields: "
                        f"[{target.name}, {fld.name},,,]"
                    )
                target = fld
    else:
        target = next(
            (f for f in schema.fields if f.name == anns_field and f.data_type in _VECTORS), None
        )
        if target is None and any(
            anns_field.startswith(f"{s.name}[") for s in schema.struct_array_fields
        ):
            raise Unimplemented(
                f"{Unimplemented.base_message}: searching the struct vector field {anns_field} "
                "through the RESTful API is not supported by Sluice; search over gRPC"
            )
    if target is None:
        raise RestIncorrectParameterFormat.because(
            f"cannot find a vector field named: {anns_field}"
        )
    dim = _dim(target)
    dtype = target.data_type
    is_text = target.is_function_output and any(
        f.type == schema_pb2.FunctionType.BM25 and f.output_field_names[:1] == [target.name]
        for f in schema.functions
    )
    holder = common_pb2.PlaceholderValue(tag="$0")
    rows = data if isinstance(data, list) else []
    raw = orjson.dumps(data).decode()
    try:
        if is_text:
            holder.type = common_pb2.PlaceholderType.VarChar
            holder.values.extend(str(v).encode() for v in rows)
        elif dtype == DT.FloatVector:
            holder.type = common_pb2.PlaceholderType.FloatVector
            holder.values.extend(_query_floats(rows, dim, dtype, raw))
        elif dtype == DT.BinaryVector:
            holder.type = common_pb2.PlaceholderType.BinaryVector
            holder.values.extend(_byte_rows(rows, dim // 8, dim, dtype))
        elif dtype in (DT.Float16Vector, DT.BFloat16Vector):
            holder.type = (
                common_pb2.PlaceholderType.Float16Vector
                if dtype == DT.Float16Vector
                else common_pb2.PlaceholderType.BFloat16Vector
            )
            holder.values.extend(_half_rows(rows, dim, dtype))
        elif dtype == DT.SparseFloatVector:
            holder.type = common_pb2.PlaceholderType.SparseFloatVector
            holder.values.extend(_sparse_row(v, dtype) for v in rows)
        else:
            holder.type = common_pb2.PlaceholderType.Int8Vector
            holder.values.extend(np.asarray(v, dtype=np.int8).tobytes() for v in rows)
    except RestInvalidInsertData as err:
        reason = err.message.split(", error: ", 1)[-1]
        raise RestIncorrectParameterFormat.because(reason) from None
    return common_pb2.PlaceholderGroup(placeholders=[holder]).SerializeToString()


def _query_floats(rows: list[Any], dim: int, dtype: int, raw: str) -> list[bytes]:
    out = []
    for v in rows:
        if not isinstance(v, list) or not all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in v
        ):
            raise RestIncorrectParameterFormat.because(
                ParameterInvalid.expected(
                    type_name(dtype), raw, "json: cannot unmarshal into Go value of type []float32"
                ).message
            )
        if len(v) != dim:
            raise RestIncorrectParameterFormat.because(
                ParameterInvalid.expected(
                    type_name(dtype), raw, f"dimension: {dim}, but length of []float: {len(v)}"
                ).message
            )
        out.append(np.asarray(v, dtype="<f4").tobytes())
    return out


# --- outbound ------------------------------------------------------------------------


def rows_from_columns(
    fields_data: Sequence[schema_pb2.FieldData],
    output_fields: Sequence[str],
    *,
    ids: schema_pb2.IDs | None = None,
    scores: Sequence[float] | None = None,
    int64_as_number: bool = True,
) -> list[dict[str, Any]]:
    """Result columns as row objects, as ``buildQueryResp`` builds them."""
    count = _row_count(fields_data, ids)
    if count == 0:
        return []
    rows: list[dict[str, Any]] = [{} for _ in range(count)]
    static = {fd.field_name for fd in fields_data if not fd.is_dynamic}
    dynamic_wanted = [name for name in output_fields if name not in static]
    for fd in fields_data:
        name = fd.field_name
        values = _column_values(fd, count, int64_as_number)
        if fd.is_dynamic:
            everything = name in dynamic_wanted
            for row, doc in zip(rows, values, strict=True):
                if not isinstance(doc, dict):
                    continue
                if everything:
                    row.update(doc)
                else:
                    for key in dynamic_wanted:
                        if key in doc:
                            row[key] = doc[key]
            continue
        for row, value in zip(rows, values, strict=True):
            row[name] = value
    if ids is not None:
        kind = ids.WhichOneof("id_field")
        if kind == "int_id":
            pks: list[Any] = list(ids.int_id.data)
            if not int64_as_number:
                pks = [str(v) for v in pks]
        else:
            pks = list(ids.str_id.data)
        for row, pk in zip(rows, pks, strict=False):
            row["id"] = pk
    if scores is not None:
        for row, score in zip(rows, np.asarray(scores, dtype=np.float32), strict=False):
            row["distance"] = score
    return rows


def _row_count(fields_data: Sequence[schema_pb2.FieldData], ids: schema_pb2.IDs | None) -> int:
    if ids is not None:
        kind = ids.WhichOneof("id_field")
        if kind == "int_id":
            return len(ids.int_id.data)
        if kind == "str_id":
            return len(ids.str_id.data)
    if not fields_data:
        return 0
    fd = fields_data[0]
    if fd.HasField("vectors"):
        v = fd.vectors
        kind = v.WhichOneof("data")
        if kind == "float_vector":
            return len(v.float_vector.data) // max(v.dim, 1)
        if kind == "sparse_float_vector":
            return len(v.sparse_float_vector.contents)
        if kind == "binary_vector":
            return len(v.binary_vector) * 8 // max(v.dim, 1)
        return len(getattr(v, kind or "float16_vector")) // (2 * max(v.dim, 1))
    kind = fd.scalars.WhichOneof("data")
    return len(getattr(fd.scalars, kind).data) if kind else 0


def _column_values(fd: schema_pb2.FieldData, count: int, int64_as_number: bool) -> list[Any]:
    if fd.HasField("struct_arrays"):
        return _struct_values(fd.struct_arrays, count)
    if fd.HasField("vectors"):
        return _vector_values(fd.vectors, count)
    kind = fd.scalars.WhichOneof("data")
    if kind is None:
        return [None] * count
    payload = getattr(fd.scalars, kind).data
    if kind == "float_data":
        values: list[Any] = list(np.asarray(payload, dtype=np.float32))
    elif kind == "long_data":
        values = list(payload) if int64_as_number else [str(v) for v in payload]
    elif kind == "json_data":
        if fd.is_dynamic:
            values = [orjson.loads(v) if v else {} for v in payload]
        else:
            values = [bytes(v).decode() for v in payload]
    elif kind == "array_data":
        values = [_array_list(sf) for sf in payload]
    else:
        values = list(payload)
    if fd.valid_data:
        valid = list(fd.valid_data)
        if len(values) == count:
            values = [v if ok else None for v, ok in zip(values, valid, strict=True)]
        else:
            present = iter(values)
            values = [next(present) if ok else None for ok in valid]
    return values


def _struct_values(struct: schema_pb2.StructArrayField, count: int) -> list[Any]:
    """An array of structs in Milvus's column form as one list of objects per row."""
    rows: list[list[dict[str, Any]]] = [[] for _ in range(count)]
    for sub in struct.fields:
        if sub.HasField("vectors"):
            array = sub.vectors.vector_array
            dim = max(int(array.dim), 1)
            cells: list[list[Any]] = [
                np.asarray(row.float_vector.data, dtype=np.float32).reshape(-1, dim).tolist()
                for row in array.data
            ]
        else:
            cells = [_array_list(cell) for cell in sub.scalars.array_data.data]
        for structs, values in zip(rows, cells, strict=False):
            while len(structs) < len(values):
                structs.append({})
            for element, value in zip(structs, values, strict=False):
                element[sub.field_name] = value
    return rows


def _array_list(sf: schema_pb2.ScalarField) -> list[Any]:
    kind = sf.WhichOneof("data")
    return list(getattr(sf, kind).data) if kind else []


def _vector_values(v: schema_pb2.VectorField, count: int) -> list[Any]:
    kind = v.WhichOneof("data")
    dim = max(int(v.dim), 1)
    if kind == "float_vector":
        return list(np.asarray(v.float_vector.data, dtype=np.float32).reshape(count, dim))
    if kind == "sparse_float_vector":
        out = []
        for content in v.sparse_float_vector.contents:
            pairs = np.frombuffer(content, dtype=[("i", "<u4"), ("v", "<f4")])
            out.append(
                {str(int(i)): float(val) for i, val in zip(pairs["i"], pairs["v"], strict=True)}
            )
        return out
    raw = bytes(getattr(v, kind)) if kind else b""
    size = len(raw) // count if count else 0
    # Go's JSON encoder writes []byte as base64 text.
    return [base64.b64encode(raw[i * size : (i + 1) * size]).decode() for i in range(count)]
