"""``schema.CollectionSchema`` protobuf <-> :class:`sluice.schema.CollectionSchema`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
from pymilvus.grpc_gen import common_pb2, schema_pb2

from sluice.api.convert_functions import function_from_proto, function_to_proto
from sluice.api.field_codecs import ELEMENT_SLOTS
from sluice.errors import ParameterInvalid, RequestError
from sluice.schema import CollectionSchema, DataType, FieldSchema, split_struct_path
from sluice.types.temporal import format_iso


def _int_param(field_name: str, key: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ParameterInvalid.msg(
            f"type param {key} of field {field_name} should be an integer, got {value}"
        ) from None


#: How Milvus names the type of a default value by the slot it arrived in.
_SLOT_TYPE = {
    "bool_data": "DataType_Bool",
    "int_data": "DataType_Int32",
    "long_data": "DataType_Int64",
    "float_data": "DataType_Float",
    "double_data": "DataType_Double",
    "string_data": "DataType_VarChar",
    "bytes_data": "DataType_BinaryVector",
}


def _default_value(f: schema_pb2.FieldSchema, dtype: DataType) -> Any:
    """The field's default value, refused when it arrived in another type's slot (as Milvus)."""
    kind = f.default_value.WhichOneof("data")
    if kind is None:
        return None
    expected = ELEMENT_SLOTS.get(dtype)  # the same slots as array elements
    if expected is not None and kind != expected:
        raise ParameterInvalid.msg(
            f"type ({dtype.milvus_name}) of field ({f.name}) is not equal to the "
            f"type({_SLOT_TYPE.get(kind, kind)}) of default_value"
        )
    return getattr(f.default_value, kind)


def schema_from_proto(raw: bytes, collection_name: str) -> CollectionSchema:
    proto = schema_pb2.CollectionSchema()
    try:
        proto.ParseFromString(raw)
    except Exception:
        raise ParameterInvalid.msg("failed to unmarshal collection schema") from None
    if proto.name and proto.name != collection_name:
        raise RequestError(
            f"collection name [{collection_name}] not matches schema name [{proto.name}]"
        )
    fields = []
    for f in proto.fields:
        if f.is_dynamic:
            raise RequestError("cannot explicitly set a field as a dynamic field")
        fields.append(_field(f, proto.autoID))
    fields.extend(_struct_field(s) for s in proto.struct_array_fields)
    return CollectionSchema(
        name=collection_name,
        fields=tuple(fields),
        description=proto.description,
        enable_dynamic_field=proto.enable_dynamic_field,
        functions=tuple(function_from_proto(f) for f in proto.functions),
    )


def _field(f: schema_pb2.FieldSchema, auto_id: bool) -> FieldSchema:
    try:
        dtype = DataType(f.data_type)
    except ValueError:
        raise RequestError(f"data type {f.data_type} is not valid") from None
    if dtype == DataType.ARRAY_OF_STRUCT:
        raise ParameterInvalid.msg(
            f"field {f.name}: an array of structs is declared in struct_array_fields"
        )
    params = {kv.key: kv.value for kv in f.type_params}
    default = _default_value(f, dtype) if f.HasField("default_value") else None
    return FieldSchema(
        name=f.name,
        dtype=dtype,
        description=f.description,
        is_primary=f.is_primary_key,
        auto_id=f.autoID or (f.is_primary_key and auto_id),
        dim=_optional_int(f.name, params, "dim"),
        max_length=_optional_int(f.name, params, "max_length"),
        nullable=f.nullable,
        default_value=default,
        is_partition_key=f.is_partition_key,
        is_clustering_key=f.is_clustering_key,
        element_type=_element_type(f) if dtype == DataType.ARRAY else None,
        max_capacity=_optional_int(f.name, params, "max_capacity"),
        type_params=params,
    )


def _optional_int(field_name: str, params: dict[str, str], key: str) -> int | None:
    return _int_param(field_name, key, params[key]) if key in params else None


#: How struct sub-fields travel: scalars as ARRAY, vectors as ArrayOfVector, with the
#: declared type as ``element_type``.
_ARRAY_OF_VECTOR = schema_pb2.ArrayOfVector
_SUB_WIRE_TYPES = (int(DataType.ARRAY), _ARRAY_OF_VECTOR)


def _struct_field(s: schema_pb2.StructArrayFieldSchema) -> FieldSchema:
    """A ``StructArrayFieldSchema`` as one ARRAY_OF_STRUCT field holding its sub-fields.

    The capacity is declared on every sub-field (pymilvus copies the struct's
    ``max_capacity`` to each); the first one found is the field's.
    """
    subs = []
    capacity: int | None = None
    for f in s.fields:
        params = {kv.key: kv.value for kv in f.type_params}
        raw_type = f.element_type if f.data_type in _SUB_WIRE_TYPES else f.data_type
        try:
            dtype = DataType(raw_type)
        except ValueError:
            raise RequestError(f"data type {raw_type} is not valid") from None
        sub_capacity = _optional_int(f.name, params, "max_capacity")
        capacity = capacity if capacity is not None else sub_capacity
        own = {k: v for k, v in params.items() if k != "max_capacity"}
        subs.append(
            FieldSchema(
                name=_plain_sub_name(s.name, f.name),
                dtype=dtype,
                description=f.description,
                is_primary=f.is_primary_key,
                auto_id=f.autoID,
                dim=_optional_int(f.name, params, "dim"),
                max_length=_optional_int(f.name, params, "max_length"),
                nullable=f.nullable,
                default_value=_default_value(f, dtype) if f.HasField("default_value") else None,
                is_partition_key=f.is_partition_key,
                is_clustering_key=f.is_clustering_key,
                type_params=own,
            )
        )
    params = {kv.key: kv.value for kv in s.type_params}
    if capacity is None:
        capacity = _optional_int(s.name, params, "max_capacity")
    return FieldSchema(
        name=s.name,
        dtype=DataType.ARRAY_OF_STRUCT,
        description=s.description,
        nullable=s.nullable,
        max_capacity=capacity,
        type_params={k: v for k, v in params.items() if k != "max_capacity"},
        struct_fields=tuple(subs),
    )


def _plain_sub_name(struct: str, name: str) -> str:
    """A sub-field's own name (clients may send it as ``struct[sub]``)."""
    parsed = split_struct_path(name)
    return parsed[1] if parsed is not None and parsed[0] == struct else name


def _element_type(f: schema_pb2.FieldSchema) -> DataType:
    try:
        return DataType(f.element_type)
    except ValueError:
        raise RequestError(f"element type {f.element_type} is not supported") from None


#: ``ValueField`` oneof holding a default value of each type, and the Python conversion.
_DEFAULT_SLOTS: dict[DataType, tuple[str, Callable[[Any], Any]]] = {
    DataType.BOOL: ("bool_data", bool),
    DataType.INT8: ("int_data", int),
    DataType.INT16: ("int_data", int),
    DataType.INT32: ("int_data", int),
    DataType.INT64: ("long_data", int),
    DataType.FLOAT: ("float_data", float),
    DataType.DOUBLE: ("double_data", float),
    DataType.VARCHAR: ("string_data", str),
}


def field_from_proto(field: schema_pb2.FieldSchema) -> FieldSchema:
    """One field (AddCollectionField, AlterCollectionSchema), read like a schema's fields."""
    wrapper = schema_pb2.CollectionSchema(fields=[field])
    return schema_from_proto(wrapper.SerializeToString(), "").fields[0]


def _value_field(dtype: DataType, value: Any, timezone: str) -> schema_pb2.ValueField:
    out = schema_pb2.ValueField()
    if dtype == DataType.TIMESTAMPTZ and isinstance(value, int):
        # Kept as UTC microseconds; shown as text in the collection's zone, as Milvus does.
        out.string_data = str(format_iso(pa.array([value], pa.int64()), timezone)[0].as_py())
        return out
    if dtype == DataType.GEOMETRY:
        out.string_data = str(value)
        return out
    slot = _DEFAULT_SLOTS.get(dtype)
    if slot is not None:
        setattr(out, slot[0], slot[1](value))
    return out


def schema_to_proto(schema: CollectionSchema, timezone: str = "UTC") -> schema_pb2.CollectionSchema:
    """The schema DescribeCollection shows: like Milvus's proxy, without ``$meta``."""
    proto = schema_pb2.CollectionSchema(
        name=schema.name,
        description=schema.description,
        autoID=schema.auto_id,
        enable_dynamic_field=schema.enable_dynamic_field,
    )
    computed = {n for fn in schema.functions for n in fn.output_field_names}
    for f in schema.user_fields:
        if f.dtype == DataType.ARRAY_OF_STRUCT:
            proto.struct_array_fields.append(_struct_to_proto(f))
            continue
        field = proto.fields.add(
            fieldID=f.field_id,
            name=f.name,
            is_primary_key=f.is_primary,
            description=f.description,
            data_type=int(f.dtype),
            autoID=f.auto_id,
            is_dynamic=f.is_dynamic,
            is_partition_key=f.is_partition_key,
            is_clustering_key=f.is_clustering_key,
            nullable=f.nullable,
            is_function_output=f.name in computed,
        )
        _add_type_params(field, f)
        if f.default_value is not None:
            field.default_value.CopyFrom(_value_field(f.dtype, f.default_value, timezone))
        if f.element_type is not None:
            field.element_type = int(f.element_type)
    ids = {f.name: f.field_id for f in schema.fields}
    proto.functions.extend(function_to_proto(fn, ids) for fn in schema.functions)
    return proto


def _struct_to_proto(f: FieldSchema) -> schema_pb2.StructArrayFieldSchema:
    """An array-of-structs field as DescribeCollection shows it (sub-fields by their own name)."""
    out = schema_pb2.StructArrayFieldSchema(
        fieldID=f.field_id, name=f.name, description=f.description, nullable=f.nullable
    )
    for key, value in f.type_params.items():
        out.type_params.append(common_pb2.KeyValuePair(key=key, value=value))
    for sub in f.struct_fields:
        vector = sub.dtype.is_vector
        field = out.fields.add(
            fieldID=sub.field_id,
            name=sub.name,
            description=sub.description,
            data_type=_ARRAY_OF_VECTOR if vector else int(DataType.ARRAY),
            element_type=int(sub.dtype),
        )
        _add_type_params(field, sub, f.max_capacity)
    return out


def _add_type_params(
    field: schema_pb2.FieldSchema, f: FieldSchema, max_capacity: int | None = None
) -> None:
    """The field's type parameters as sent, with ``dim``/``max_length`` (and a struct's capacity)."""
    params = dict(f.type_params)
    if f.dim is not None:
        params["dim"] = str(f.dim)
    if f.max_length is not None:
        params["max_length"] = str(f.max_length)
    if max_capacity is not None:
        params["max_capacity"] = str(max_capacity)
    for key, value in params.items():
        field.type_params.append(common_pb2.KeyValuePair(key=key, value=value))
