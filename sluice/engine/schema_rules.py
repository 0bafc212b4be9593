"""What makes a collection schema acceptable, with Milvus's limits and wording.

Checked at CreateCollection, before anything is written.  The limits are
Milvus's defaults (``proxy.maxFieldNum`` 64, ``proxy.maxShardNum`` 16,
``proxy.maxDimension`` 32768, VARCHAR up to 65535 bytes, at most 10 vector
fields, ARRAY capacity up to 4096).  Messages and codes follow ``internal/proxy/util.go`` and
``task.go`` (see docs/reference/milvus-behaviour.md §1): several of Milvus's
checks are plain errors (code 65535), others carry ``invalid parameter``
(1100) or ``field name invalid`` (1701), and clients match on both.  Field
names also may not be a keyword of the filter language or one of Milvus's
own column names (``RowID``, ``Timestamp``).

A schema names at most one clustering key (``validateClusteringKey``): a
number, a VARCHAR or a FLOAT_VECTOR field, not a struct's sub-field.  Vector
keys are refused, as Milvus's default ``common.enableVectorClusteringKey``
(false) refuses them.
"""

from __future__ import annotations

from dataclasses import replace

from sluice.engine.functions import validate_functions
from sluice.engine.text_fields import validate_text_fields
from sluice.errors import (
    FieldNameInvalid,
    IllegalSchema,
    ParameterInvalid,
    RequestError,
    SluiceError,
    VectorClusteringKeyNotAllowed,
)
from sluice.schema import CollectionSchema, DataType, FieldSchema
from sluice.types import SUPPORTED_TYPES
from sluice.types.arrays import ELEMENT_TYPES, MAX_ARRAY_CAPACITY
from sluice.types.geometry import default_wkb
from sluice.types.structs import SUB_FIELD_TYPES
from sluice.types.temporal import default_micros

MAX_NAME_LENGTH = 255
MAX_FIELDS = 64
MAX_VECTOR_FIELDS = 10
MAX_SHARDS = 16
MIN_DIM = 2
MAX_DIM = 32768
MAX_VARCHAR = 65535

#: Types a clustering key may have (Milvus's ``typeutil.IsClusteringKeyType``).
CLUSTERING_KEY_TYPES = frozenset(
    {
        DataType.INT8,
        DataType.INT16,
        DataType.INT32,
        DataType.INT64,
        DataType.FLOAT,
        DataType.DOUBLE,
        DataType.VARCHAR,
        DataType.FLOAT_VECTOR,
    }
)

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")

#: Words of the filter language that cannot name a field (Milvus's ``common.FieldNameKeywords``).
#: A field named ``in`` or ``true`` could never be referred to in a filter.
FIELD_NAME_KEYWORDS = frozenset(
    {
        "$meta",
        "like",
        "exists",
        "EXISTS",
        "and",
        "or",
        "not",
        "in",
        "json_contains",
        "JSON_CONTAINS",
        "json_contains_all",
        "JSON_CONTAINS_ALL",
        "json_contains_any",
        "JSON_CONTAINS_ANY",
        "array_contains",
        "ARRAY_CONTAINS",
        "array_contains_all",
        "ARRAY_CONTAINS_ALL",
        "array_contains_any",
        "ARRAY_CONTAINS_ANY",
        "array_length",
        "ARRAY_LENGTH",
        "true",
        "True",
        "TRUE",
        "false",
        "False",
        "FALSE",
        "null",
        "Null",
        "NULL",
        "text_match",
        "TEXT_MATCH",
        "phrase_match",
        "PHRASE_MATCH",
        "random_sample",
        "RANDOM_SAMPLE",
    }
)
#: The core operators and ``null`` are reserved in every spelling (Sluice's filter
#: language reads all keywords case-insensitively).
_KEYWORDS_ANY_CASE = frozenset({"like", "and", "or", "not", "in", "null"})
#: Names Milvus keeps for its own columns (``validateReservedFieldNames``).
RESERVED_FIELD_NAMES = frozenset({"RowID", "Timestamp", "__virtual_pk__"})


def is_field_name_keyword(name: str) -> bool:
    """Milvus's ``IsFieldNameKeyword``."""
    return name in FIELD_NAME_KEYWORDS or name.lower() in _KEYWORDS_ANY_CASE


def validate_field_name(name: str) -> None:
    """``validateFieldName``: code 1701."""
    if not name.strip():
        raise FieldNameInvalid.named(name, "field name should not be empty")
    reason: str | None = None
    if len(name) > MAX_NAME_LENGTH:
        reason = f"The length of a field name must be less than {MAX_NAME_LENGTH} characters."
    elif not (name[0] == "_" or (name[0].isascii() and name[0].isalpha())):
        reason = "The first character of a field name must be an underscore or letter."
    elif not set(name) <= _NAME_CHARS:
        reason = "Field name can only contain numbers, letters, and underscores."
    elif is_field_name_keyword(name):
        reason = f"{name} is keyword in milvus."
    if reason is not None:
        raise FieldNameInvalid.named(name, f"Invalid field name: {name}. {reason}")
    if name in RESERVED_FIELD_NAMES:
        raise FieldNameInvalid.named(
            name,
            f'field name "{name}" is reserved for internal use and cannot be used in user schemas',
        )


def validate_shards(shards_num: int) -> int:
    """Milvus treats 0 or less (unset) as the default of one shard."""
    if shards_num > MAX_SHARDS:
        raise RequestError(f"maximum shards's number should be limited to {MAX_SHARDS}")
    return max(shards_num, 1)


def validate_schema(schema: CollectionSchema, max_fields: int = MAX_FIELDS) -> None:
    """``max_fields`` is Milvus's ``proxy.maxFieldNum`` (``[quota] max_field_num``)."""
    fields = schema.user_fields
    if len(fields) > max_fields:
        raise RequestError(f"maximum field's number should be limited to {max_fields}")
    vectors = [f for f in fields if f.dtype.is_vector]
    if len(vectors) + len(schema.struct_vector_paths) > MAX_VECTOR_FIELDS:
        raise RequestError(
            f"maximum vector field's number should be limited to {MAX_VECTOR_FIELDS}"
        )
    if not vectors:
        raise ParameterInvalid.msg("schema does not contain vector field")
    _validate_primary(fields)
    _validate_auto_id(fields)
    for fld in fields:
        _validate_type(fld)
    validate_clustering_key(schema)
    for fld in fields:
        check_field(fld, schema.name)
    seen: set[str] = set()
    for fld in fields:
        if fld.name in seen:
            raise RequestError(f"duplicated field name {fld.name} found")
        seen.add(fld.name)
    validate_text_fields(schema)
    validate_functions(schema)


def validate_clustering_key(schema: CollectionSchema) -> None:
    """``validateClusteringKey``: field by field in schema order, then struct sub-fields."""
    first: FieldSchema | None = None
    for fld in schema.user_fields:
        if not fld.is_clustering_key:
            continue
        if fld.dtype not in CLUSTERING_KEY_TYPES:
            raise IllegalSchema.wrap(
                f"clustering key field {fld.name} has unsupported data type "
                f"{fld.dtype.milvus_name}",
                collection=schema.name,
            )
        if fld.dtype.is_vector:
            raise VectorClusteringKeyNotAllowed.with_fields(collection=schema.name)
        if first is not None:
            raise IllegalSchema.wrap(
                f"there are more than one clustering key, field name = {first.name}, {fld.name}",
                collection=schema.name,
            )
        first = fld
    for fld in schema.struct_fields:
        for sub in fld.struct_fields:
            if sub.is_clustering_key:
                raise IllegalSchema.wrap(
                    f"clustering key is not supported for struct field, field name = {sub.name}",
                    collection=schema.name,
                )


def check_field(fld: FieldSchema, collection: str) -> None:
    """One field's own rules: its name, type parameters and defaults (``ValidateField``)."""
    _validate_type(fld)
    validate_field_name(fld.name)
    if fld.default_value is not None:
        _validate_default_allowed(fld)
    if fld.dtype.is_vector:
        _validate_dim(fld)
    if fld.dtype == DataType.VARCHAR or (
        fld.dtype == DataType.ARRAY and fld.element_type == DataType.VARCHAR
    ):
        _validate_max_length(fld, collection)
    if fld.dtype == DataType.ARRAY:
        _validate_max_capacity(fld, collection)
    if fld.dtype == DataType.ARRAY_OF_STRUCT:
        _validate_struct(fld, collection)


def _validate_struct(fld: FieldSchema, collection: str) -> None:
    """An array of structs: Milvus 2.6's limits on the field and on each sub-field."""
    if fld.nullable:
        raise ParameterInvalid.msg(f"array of struct field {fld.name} does not support nullable")
    if not fld.struct_fields:
        raise ParameterInvalid.msg(f"struct field {fld.name} should have at least one field")
    _validate_max_capacity(fld, collection)
    seen: set[str] = set()
    for sub in fld.struct_fields:
        validate_field_name(sub.name)
        if sub.name in seen:
            raise RequestError(f"duplicated field name {sub.name} found in struct {fld.name}")
        seen.add(sub.name)
        if sub.dtype not in SUB_FIELD_TYPES:
            raise ParameterInvalid.msg(
                f"field {sub.name} in struct {fld.name}: data type {sub.dtype.milvus_name} is "
                "not supported in a struct"
            )
        if sub.is_primary or sub.is_partition_key or sub.auto_id:
            raise ParameterInvalid.msg(
                f"field {sub.name} in struct {fld.name} cannot be a primary, partition or "
                "auto-ID key"
            )
        if sub.nullable:
            raise ParameterInvalid.msg(
                f"field {sub.name} in struct {fld.name} does not support nullable"
            )
        if sub.default_value is not None:
            raise ParameterInvalid.msg(
                f"field {sub.name} in struct {fld.name} does not support default_value"
            )
        if sub.dtype.is_vector:
            _validate_dim(sub)
        if sub.dtype == DataType.VARCHAR:
            _validate_max_length(sub, collection)


def _validate_default_allowed(fld: FieldSchema) -> None:
    """Milvus's ``checkDefaultValue``: no default on the primary key, vectors, JSON or arrays."""
    if fld.is_primary:
        raise ParameterInvalid.msg("primary field not support default_value")
    if fld.dtype.is_vector or fld.dtype in (DataType.JSON, DataType.ARRAY):
        raise ParameterInvalid.msg(
            f"type not support default_value, type:{fld.dtype.milvus_name}, fieldName:{fld.name}"
        )


def _validate_primary(fields: tuple[FieldSchema, ...]) -> None:
    primaries = [f for f in fields if f.is_primary]
    if not primaries:
        raise RequestError("primary key is not specified")
    if len(primaries) > 1:
        names = ", ".join(f.name for f in primaries)
        raise RequestError(f"there are more than one primary key, field name = {names}")
    pk = primaries[0]
    if pk.dtype not in (DataType.INT64, DataType.VARCHAR):
        raise RequestError("the data type of primary key should be Int64 or VarChar")
    if pk.nullable:
        raise ParameterInvalid.msg("primary field not support null")


def _validate_auto_id(fields: tuple[FieldSchema, ...]) -> None:
    flagged = [f for f in fields if f.auto_id]
    if len(flagged) > 1:
        names = ", ".join(f.name for f in flagged)
        raise RequestError(f"only one field can speficy AutoID with true, field name = {names}")
    if flagged and not flagged[0].is_primary:
        raise RequestError(
            f"only primary field can speficy AutoID with true, field name = {flagged[0].name}"
        )


def _validate_type(fld: FieldSchema) -> None:
    if fld.dtype == DataType.NONE:
        raise RequestError("data type None is not valid")
    if fld.dtype == DataType.STRING:
        raise RequestError("string data type not supported yet, please use VarChar type instead")
    if fld.dtype not in SUPPORTED_TYPES:
        raise ParameterInvalid.msg(
            f"field {fld.name}: data type {fld.dtype.milvus_name} is not supported by Sluice"
        )
    if fld.dtype == DataType.ARRAY:
        _validate_element_type(fld)


def _validate_element_type(fld: FieldSchema) -> None:
    """``validateElementType``."""
    element = fld.element_type
    if element is None or element == DataType.NONE:
        raise RequestError("element data type None is not valid")
    if element == DataType.STRING:
        raise RequestError("string data type not supported yet, please use VarChar type instead")
    if element not in ELEMENT_TYPES:
        raise RequestError(f"element type {element.milvus_name} is not supported")


def _validate_max_capacity(fld: FieldSchema, collection: str) -> None:
    if fld.max_capacity is None:
        raise RequestError(
            f"type param(max_capacity) should be specified for array field {fld.name} of "
            f"collection {collection}"
        )
    if not 0 < fld.max_capacity <= MAX_ARRAY_CAPACITY:
        raise RequestError(
            f"the maximum capacity specified for a Array should be in (0, {MAX_ARRAY_CAPACITY}]"
        )


def _validate_dim(fld: FieldSchema) -> None:
    """``validateDimension``: sparse vectors have none, binary ones count bits."""
    if fld.dtype == DataType.SPARSE_FLOAT_VECTOR:
        if fld.dim is not None:
            raise RequestError(
                f"dim should not be specified for sparse vector field {fld.name}({fld.field_id})"
            )
        return
    if fld.dim is None:
        raise RequestError(
            f"dimension is not defined in field type params of field {fld.name}, check type "
            "param `dim` for vector field"
        )
    if fld.dim < MIN_DIM:
        raise RequestError(
            f"invalid dimension: {fld.dim}. should be in range {MIN_DIM} ~ {MAX_DIM}"
        )
    if fld.dtype == DataType.BINARY_VECTOR:
        if fld.dim % 8:
            raise RequestError(
                f"invalid dimension: {fld.dim} of field {fld.name}. binary vector dimension "
                "should be multiple of 8. "
            )
        if fld.dim > MAX_DIM * 8:
            raise RequestError(
                f"invalid dimension: {fld.dim} of field {fld.name}. binary vector dimension "
                f"should be in range {MIN_DIM} ~ {MAX_DIM * 8}"
            )
        return
    if fld.dim > MAX_DIM:
        raise RequestError(
            f"invalid dimension: {fld.dim} of field {fld.name}. float vector dimension should be "
            f"in range {MIN_DIM} ~ {MAX_DIM}"
        )


def _validate_max_length(fld: FieldSchema, collection: str) -> None:
    if fld.max_length is None:
        raise RequestError(
            f"type param(max_length) should be specified for varChar field({fld.name}) of "
            f"collection {collection}"
        )
    if not 0 < fld.max_length <= MAX_VARCHAR:
        raise ParameterInvalid.msg(
            f"the maximum length specified for the field({fld.name}) should be in "
            f"(0, {MAX_VARCHAR}], but got {fld.max_length} instead"
        )


def stored_defaults(schema: CollectionSchema, timezone: str) -> CollectionSchema:
    """Defaults in the form the schema keeps them, checked as Milvus checks them at creation.

    A TIMESTAMPTZ default arrives as ISO text and is kept as UTC microseconds
    (read in the collection's zone when it has no offset), as Milvus rewrites
    it; a GEOMETRY default must be valid WKT.
    """
    fields = []
    for fld in schema.fields:
        value = fld.default_value
        if value is not None and fld.dtype == DataType.TIMESTAMPTZ and isinstance(value, str):
            fld = replace(fld, default_value=default_micros(fld, value, timezone))
        elif value is not None and fld.dtype == DataType.GEOMETRY:
            try:
                default_wkb(str(value))
            except SluiceError:
                raise ParameterInvalid.msg("invalid default value for geometry field") from None
        fields.append(fld)
    return replace(schema, fields=tuple(fields))
