"""Scalar index specifications: CreateIndex on a non-vector field, checked as Milvus 2.6 does.

Parsing follows the proxy (``parseIndexParams`` / ``checkTrain`` in
``internal/proxy/task_index.go``) and the checkers in
``internal/util/indexparamcheck``:

1. An unknown type name (HYBRID included: Milvus keeps it internal) is
   ``invalid parameter[expected=valid index][actual=invalid index type: X]``.
2. AUTOINDEX, or no type, resolves by data type (``scalarAutoIndex.params.build``):
   integers and VARCHAR -> HYBRID (BITMAP below 100 distinct values, else
   STL_SORT for integers and INVERTED for strings), BOOL -> BITMAP, FLOAT and
   DOUBLE -> INVERTED, JSON -> INVERTED, GEOMETRY -> RTREE, TIMESTAMPTZ ->
   STL_SORT; an ARRAY by its element type.
3. ``CheckValidDataType`` of the resolved type, then ``CheckTrain``.  The
   proxy wraps every checker error as ``<checker text>: invalid
   parameter[expected=valid index params][actual=invalid index params]``;
   checker errors that are themselves coded keep their own suffix inside
   (``...: invalid parameter: invalid parameter[...]``,
   ``...: missing parameter[missing_param=json_cast_type]: invalid
   parameter[...]``, the latter with the missing-parameter code 1101).

Which types each index accepts (the checkers' rules and words):

=========  ================================================================
INVERTED   BOOL, integers, FLOAT, DOUBLE, VARCHAR, ARRAY, JSON (+cast type)
STL_SORT   integers, FLOAT, DOUBLE, VARCHAR, TIMESTAMPTZ, JSON (+cast)
BITMAP     BOOL, integers, VARCHAR, ARRAY of those, JSON (+cast); not on
           the primary key
TRIE       VARCHAR
NGRAM      VARCHAR, JSON with cast VARCHAR; ``min_gram``/``max_gram`` required
RTREE      GEOMETRY
=========  ================================================================

JSON path indexes take ``json_path`` (default: the whole field) and
``json_cast_type`` (case-insensitive): INVERTED accepts BOOL, DOUBLE,
VARCHAR, ARRAY_BOOL, ARRAY_DOUBLE, ARRAY_VARCHAR and JSON, with the optional
``json_cast_function`` STRING_TO_DOUBLE for DOUBLE; STL_SORT accepts DOUBLE
and VARCHAR, BITMAP BOOL and VARCHAR (these two need ``json_path``).  The
path text is resolved by the caller-supplied ``resolve_json_path`` (the
filter language's identifier parser, which also reports malformed paths).
Other parameters are kept and echoed by DescribeIndex, as Milvus does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from sluice.errors import IndexNotSupported, ParameterInvalid, ParameterMissing
from sluice.index.errors import index_params_error
from sluice.index.scalar.jsoncast import (
    CAST_ARRAY_BOOL,
    CAST_ARRAY_DOUBLE,
    CAST_ARRAY_VARCHAR,
    CAST_BOOL,
    CAST_DOUBLE,
    CAST_JSON,
    CAST_VARCHAR,
    STRING_TO_DOUBLE,
    PathStep,
)
from sluice.index.spec import INDEX_TYPE_KEY, merge_client_params
from sluice.schema import DataType, FieldSchema

INVERTED: Final = "INVERTED"
STL_SORT: Final = "STL_SORT"
BITMAP: Final = "BITMAP"
TRIE: Final = "TRIE"
NGRAM: Final = "NGRAM"
RTREE: Final = "RTREE"
HYBRID: Final = "HYBRID"
AUTOINDEX: Final = "AUTOINDEX"

#: Types a user may name for a scalar field (HYBRID is what AUTOINDEX builds).
SCALAR_INDEX_TYPES: Final = (INVERTED, STL_SORT, BITMAP, TRIE, NGRAM, RTREE, AUTOINDEX)

#: Milvus's vector index types: on a scalar field, "index X only supports vector data type".
VECTOR_INDEX_TYPES: Final = frozenset(
    {
        "FLAT",
        "IVF_FLAT",
        "IVF_SQ8",
        "IVF_PQ",
        "IVF_RABITQ",
        "HNSW",
        "HNSW_SQ",
        "HNSW_PQ",
        "HNSW_PRQ",
        "DISKANN",
        "SCANN",
        "SCANN_DVR",
        "IVF_FLAT_CC",
        "IVF_SQ_CC",
        "GPU_IVF_FLAT",
        "GPU_IVF_PQ",
        "GPU_CAGRA",
        "GPU_BRUTE_FORCE",
        "BIN_FLAT",
        "BIN_IVF_FLAT",
        "MINHASH_LSH",
        "SPARSE_INVERTED_INDEX",
        "SPARSE_WAND",
        "AISAQ",
    }
)

JSON_PATH_KEY: Final = "json_path"
JSON_CAST_TYPE_KEY: Final = "json_cast_type"
JSON_CAST_FUNCTION_KEY: Final = "json_cast_function"
MIN_GRAM_KEY: Final = "min_gram"
MAX_GRAM_KEY: Final = "max_gram"
CARDINALITY_KEY: Final = "bitmap_cardinality_limit"

#: ``scalarAutoIndex.params.bitmapCardinalityLimit`` and its checked maximum.
DEFAULT_CARDINALITY_LIMIT: Final = 100
MAX_CARDINALITY_LIMIT: Final = 1000

_JSON_CASTS: Final[dict[str, tuple[str, ...]]] = {
    INVERTED: (
        CAST_BOOL,
        CAST_DOUBLE,
        CAST_VARCHAR,
        CAST_ARRAY_BOOL,
        CAST_ARRAY_DOUBLE,
        CAST_ARRAY_VARCHAR,
        CAST_JSON,
    ),
    STL_SORT: (CAST_DOUBLE, CAST_VARCHAR),
    BITMAP: (CAST_BOOL, CAST_VARCHAR),
}

_INTEGERS: Final = frozenset({DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64})
_FLOATS: Final = frozenset({DataType.FLOAT, DataType.DOUBLE})
_STRINGS: Final = frozenset({DataType.VARCHAR, DataType.STRING})
_GO_ATOI: Final = re.compile(r"[+-]?[0-9]+")

#: Resolves a ``json_path`` text (``field["a"][0]``) to its steps below the field.
JsonPathResolver = Callable[[str], tuple[PathStep, ...]]


# --- Milvus's error shapes --------------------------------------------------------------


def _checker(text: str) -> ParameterInvalid:
    """A plain checker error (``fmt.Errorf``) wrapped by the proxy."""
    return index_params_error(text)


def _checker_invalid(text: str) -> ParameterInvalid:
    """A ``merr.WrapErrParameterInvalidMsg`` checker error wrapped by the proxy."""
    return index_params_error(f"{text}: {ParameterInvalid.base_message}")


def _checker_missing(text: str, key: str | None = None) -> ParameterMissing:
    """``merr.WrapErrParameterMissing[Msg]`` wrapped by the proxy; keeps code 1101."""
    inner = f"{text}: {ParameterMissing.base_message}" + (f"[missing_param={key}]" if key else "")
    wrapped = ParameterInvalid.expected("valid index params", "invalid index params", inner)
    return ParameterMissing(wrapped.message)


# --- the spec -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScalarIndexSpec:
    """One scalar index definition, validated; :func:`~sluice.index.scalar.build_scalar_index` builds it.

    ``index_type`` is what the user asked for (AUTOINDEX stays AUTOINDEX, as
    DescribeIndex shows it); ``engine_type`` is the structure built.
    ``nested_path`` is the resolved ``json_path`` below the field (``()``:
    the whole document) and is set only for JSON fields.
    """

    index_type: str
    engine_type: str
    field_name: str
    dtype: DataType
    element_type: DataType | None = None
    is_dynamic: bool = False
    json_path: str | None = None
    nested_path: tuple[PathStep, ...] = ()
    json_cast_type: str | None = None
    json_cast_function: str | None = None
    min_gram: int | None = None
    max_gram: int | None = None
    bitmap_cardinality_limit: int = DEFAULT_CARDINALITY_LIMIT
    #: Parameters as sent (string values), echoed by DescribeIndex.
    params: tuple[tuple[str, str], ...] = ()

    @property
    def is_json(self) -> bool:
        return self.dtype == DataType.JSON

    def describe_params(self) -> dict[str, str]:
        """``index_type`` and the parameters the user sent, as DescribeIndex returns them."""
        out = {INDEX_TYPE_KEY: self.index_type}
        out.update(dict(self.params))
        return out

    def same_as(self, other: ScalarIndexSpec) -> bool:
        """Milvus's rule for a repeated CreateIndex: equal definitions succeed."""
        return self == other


def parse_scalar_index_spec(
    field: FieldSchema,
    index_type: str,
    params: Mapping[str, Any],
    *,
    resolve_json_path: JsonPathResolver | None = None,
) -> ScalarIndexSpec:
    """Validate a CreateIndex request on the scalar ``field`` and resolve it.

    ``params`` is the request's key/values (flat keys and/or a JSON
    ``params`` object, as for vector indexes).  For a JSON field,
    ``resolve_json_path`` turns ``json_path`` into path steps; it is required
    then, and its own errors (a malformed path) propagate unchanged.
    """
    merged = merge_client_params(params)
    raw_type = (index_type or merged.get(INDEX_TYPE_KEY, "")).strip()
    requested = raw_type.upper() or AUTOINDEX
    if requested not in SCALAR_INDEX_TYPES and requested not in VECTOR_INDEX_TYPES:
        raise ParameterInvalid.expected("valid index", f"invalid index type: {raw_type}")
    if field.dtype.is_vector:
        raise IndexNotSupported.wrap(
            f"data type {int(field.dtype)} can't build with this index {requested}",
            indexType=requested,
        )
    if requested in VECTOR_INDEX_TYPES:
        raise _checker_invalid(f"index {requested} only supports vector data type")
    engine = auto_index_type(field) if requested == AUTOINDEX else requested
    check_data_type(engine, field)
    user_params = tuple(sorted((k, v) for k, v in merged.items() if k != INDEX_TYPE_KEY))
    spec = ScalarIndexSpec(
        index_type=requested,
        engine_type=engine,
        field_name=field.name,
        dtype=field.dtype,
        element_type=field.element_type,
        is_dynamic=field.is_dynamic,
        params=user_params,
    )
    if field.dtype == DataType.JSON:
        spec = _json_params(spec, engine, merged, resolve_json_path)
    if engine == NGRAM:
        spec = _gram_params(spec, merged)
    if engine == HYBRID and CARDINALITY_KEY in merged:
        limit = _go_atoi(merged[CARDINALITY_KEY])
        if limit is None or not 1 <= limit <= MAX_CARDINALITY_LIMIT:
            raise _checker(
                "failed to check bitmap cardinality limit, should be larger than 0 and "
                f"smaller than {MAX_CARDINALITY_LIMIT}"
            )
        spec = replace(spec, bitmap_cardinality_limit=limit)
    return spec


def auto_index_type(field: FieldSchema) -> str:
    """What scalar AUTOINDEX builds for ``field`` (Milvus's ``scalarAutoIndex.params.build``)."""
    dtype = field.dtype
    if dtype == DataType.JSON:
        return INVERTED
    if dtype == DataType.GEOMETRY:
        return RTREE
    if dtype == DataType.TIMESTAMPTZ:
        return STL_SORT
    if dtype == DataType.ARRAY and field.element_type is not None:
        dtype = field.element_type
    if dtype == DataType.BOOL:
        return BITMAP
    if dtype in _INTEGERS or dtype in _STRINGS:
        return HYBRID
    if dtype in _FLOATS:
        return INVERTED
    raise ParameterInvalid.expected(
        "supported field", f"create auto index on type:{field.dtype.milvus_name} is not supported"
    )


def check_data_type(engine: str, field: FieldSchema) -> None:
    """``CheckValidDataType`` of Milvus's checker for ``engine``."""
    dtype, name = field.dtype, field.dtype.milvus_name
    element = field.element_type
    scalar = dtype in _INTEGERS or dtype in _FLOATS or dtype in _STRINGS or dtype == DataType.BOOL
    if engine == INVERTED:
        if not (scalar or dtype in (DataType.ARRAY, DataType.JSON)):
            raise _checker(f"INVERTED are not supported on {name} field")
    elif engine == STL_SORT:
        sortable = dtype in _INTEGERS or dtype in _FLOATS or dtype in _STRINGS
        if not (sortable or dtype in (DataType.TIMESTAMPTZ, DataType.JSON)):
            raise _checker(
                f"STL_SORT are only supported on numeric, varchar or timestamptz field, got {name}"
            )
    elif engine in (BITMAP, HYBRID):
        what = "bitmap" if engine == BITMAP else "hybrid"
        # Only BITMAP's checker refuses the primary key; HYBRID (scalar AUTOINDEX) takes it.
        if field.is_primary and engine == BITMAP:
            raise _checker(f"create {what} index on primary key not supported")
        if engine == BITMAP and dtype == DataType.JSON:
            return
        kinds = _INTEGERS | _STRINGS | {DataType.BOOL}
        if dtype not in kinds and dtype != DataType.ARRAY:
            raise _checker(f"{what} index are only supported on bool, int, string and array field")
        if dtype == DataType.ARRAY and element not in kinds:
            raise _checker(f"{what} index are only supported on bool, int, string for array field")
    elif engine == TRIE and dtype not in _STRINGS:
        raise _checker("TRIE are only supported on varchar field")
    elif engine == NGRAM and dtype not in _STRINGS and dtype != DataType.JSON:
        raise _checker_invalid("ngram index can only be created on VARCHAR or JSON field")
    elif engine == RTREE and dtype != DataType.GEOMETRY:
        raise _checker(f"RTREE index can only be built on geometry field, got {name}")


def _json_params(
    spec: ScalarIndexSpec,
    engine: str,
    merged: Mapping[str, str],
    resolve: JsonPathResolver | None,
) -> ScalarIndexSpec:
    raw_cast = merged.get(JSON_CAST_TYPE_KEY)
    if engine == NGRAM:
        if raw_cast is None:
            raise _checker_missing("JSON field with ngram index must specify json_cast_type")
        cast = raw_cast.strip().upper()
        if cast != CAST_VARCHAR:
            raise _checker_invalid(
                f"JSON field with ngram index only supports VARCHAR cast type, got: {cast}"
            )
    else:
        if raw_cast is None:
            raise _checker_missing("json index must specify cast type", JSON_CAST_TYPE_KEY)
        cast = raw_cast.strip().upper()
        if cast not in _JSON_CASTS[engine]:
            where = "" if engine == INVERTED else f" for {engine} index"
            raise _checker_invalid(f"json_cast_type {cast} is not supported{where}")
    function = merged.get(JSON_CAST_FUNCTION_KEY)
    if function is not None:
        function = function.strip().upper()
        if function != STRING_TO_DOUBLE or engine != INVERTED:
            raise _checker_invalid(f"json_cast_function {function} is not supported")
        if cast != CAST_DOUBLE:
            raise _checker_invalid(
                f"json_cast_function {function} is not supported for json_cast_type {cast}"
            )
    path_text = merged.get(JSON_PATH_KEY)
    if path_text is None and engine in (STL_SORT, BITMAP):
        raise _checker_missing("json index must specify json path", JSON_PATH_KEY)
    if path_text is None:
        path_text = spec.field_name
        nested: tuple[PathStep, ...] = ()
    else:
        if resolve is None:
            raise ValueError("resolve_json_path is required to index a JSON path")
        nested = tuple(resolve(path_text))
    return replace(
        spec,
        json_path=path_text,
        nested_path=nested,
        json_cast_type=cast,
        json_cast_function=function,
    )


def _go_atoi(text: str) -> int | None:
    """Go's ``strconv.Atoi``: an optional sign and decimal digits, nothing else."""
    if not _GO_ATOI.fullmatch(text):
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


def _gram_params(spec: ScalarIndexSpec, merged: Mapping[str, str]) -> ScalarIndexSpec:
    if MIN_GRAM_KEY not in merged or MAX_GRAM_KEY not in merged:
        raise _checker_missing("Ngram index must specify both min_gram and max_gram")
    low = _go_atoi(merged[MIN_GRAM_KEY])
    if low is None:
        raise _checker_invalid(
            f"min_gram for Ngram index must be an integer, got: {merged[MIN_GRAM_KEY]}"
        )
    high = _go_atoi(merged[MAX_GRAM_KEY])
    if high is None:
        raise _checker_invalid(
            f"max_gram for Ngram index must be an integer, got: {merged[MAX_GRAM_KEY]}"
        )
    if low <= 0 or high <= 0 or low > high:
        raise _checker_invalid(
            f"invalid min_gram or max_gram value for Ngram index, min_gram: {low}, max_gram: {high}"
        )
    return replace(spec, min_gram=low, max_gram=high)
