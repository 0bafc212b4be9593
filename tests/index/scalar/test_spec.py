"""Scalar CreateIndex parameters: what Milvus 2.6 accepts, what it refuses and in which words."""

from __future__ import annotations

import pytest

from sluice.errors import IndexNotSupported, ParameterInvalid, ParameterMissing, SluiceError
from sluice.index.scalar import ScalarIndexSpec, auto_index_type, parse_scalar_index_spec
from sluice.query import ast, parse
from sluice.schema import DataType, FieldSchema

WRAP = ": invalid parameter[expected=valid index params][actual=invalid index params]"
INVALID_MSG = ": invalid parameter" + WRAP


def field(dtype: DataType, element: DataType | None = None, **kw: object) -> FieldSchema:
    return FieldSchema("f", dtype, element_type=element, **kw)  # type: ignore[arg-type]


def resolve(text: str) -> tuple[str | int, ...]:
    root = parse(text).root
    assert isinstance(root, ast.Identifier)
    return root.path


def refused(
    f: FieldSchema, index_type: str, params: dict[str, object] | None = None
) -> SluiceError:
    with pytest.raises(SluiceError) as info:
        parse_scalar_index_spec(f, index_type, params or {}, resolve_json_path=resolve)
    return info.value


ACCEPTED = [
    (DataType.BOOL, None, ["INVERTED", "BITMAP", "AUTOINDEX"]),
    (DataType.INT8, None, ["INVERTED", "STL_SORT", "BITMAP", "AUTOINDEX"]),
    (DataType.INT64, None, ["INVERTED", "STL_SORT", "BITMAP", "AUTOINDEX"]),
    (DataType.FLOAT, None, ["INVERTED", "STL_SORT", "AUTOINDEX"]),
    (DataType.DOUBLE, None, ["INVERTED", "STL_SORT", "AUTOINDEX"]),
    (DataType.VARCHAR, None, ["INVERTED", "STL_SORT", "BITMAP", "TRIE", "AUTOINDEX"]),
    (DataType.TIMESTAMPTZ, None, ["STL_SORT", "AUTOINDEX"]),
    (DataType.GEOMETRY, None, ["RTREE", "AUTOINDEX"]),
    (DataType.ARRAY, DataType.INT32, ["INVERTED", "BITMAP", "AUTOINDEX"]),
    (DataType.ARRAY, DataType.VARCHAR, ["INVERTED", "BITMAP", "AUTOINDEX"]),
    (DataType.ARRAY, DataType.BOOL, ["INVERTED", "BITMAP", "AUTOINDEX"]),
    (DataType.ARRAY, DataType.DOUBLE, ["INVERTED", "AUTOINDEX"]),
]


@pytest.mark.parametrize(("dtype", "element", "types"), ACCEPTED)
def test_accepted_combinations(dtype: DataType, element: DataType | None, types: list[str]) -> None:
    for index_type in types:
        spec = parse_scalar_index_spec(field(dtype, element), index_type.lower(), {})
        assert spec.index_type == index_type
        assert spec.describe_params() == {"index_type": index_type}


@pytest.mark.parametrize(
    ("dtype", "element", "engine"),
    [
        (DataType.BOOL, None, "BITMAP"),
        (DataType.INT16, None, "HYBRID"),
        (DataType.INT64, None, "HYBRID"),
        (DataType.FLOAT, None, "INVERTED"),
        (DataType.DOUBLE, None, "INVERTED"),
        (DataType.VARCHAR, None, "HYBRID"),
        (DataType.JSON, None, "INVERTED"),
        (DataType.GEOMETRY, None, "RTREE"),
        (DataType.TIMESTAMPTZ, None, "STL_SORT"),
        (DataType.ARRAY, DataType.INT64, "HYBRID"),
        (DataType.ARRAY, DataType.FLOAT, "INVERTED"),
        (DataType.ARRAY, DataType.BOOL, "BITMAP"),
    ],
)
def test_autoindex_resolves_per_data_type(
    dtype: DataType, element: DataType | None, engine: str
) -> None:
    assert auto_index_type(field(dtype, element)) == engine
    if dtype != DataType.JSON:
        for requested in ("AUTOINDEX", ""):
            spec = parse_scalar_index_spec(field(dtype, element), requested, {})
            assert (spec.index_type, spec.engine_type) == ("AUTOINDEX", engine)


REFUSED = [
    (DataType.JSON, None, "TRIE", "TRIE are only supported on varchar field" + WRAP),
    (DataType.INT64, None, "TRIE", "TRIE are only supported on varchar field" + WRAP),
    (DataType.ARRAY, DataType.VARCHAR, "TRIE", "TRIE are only supported on varchar field" + WRAP),
    (DataType.GEOMETRY, None, "INVERTED", "INVERTED are not supported on Geometry field" + WRAP),
    (
        DataType.TIMESTAMPTZ,
        None,
        "INVERTED",
        "INVERTED are not supported on Timestamptz field" + WRAP,
    ),
    (
        DataType.BOOL,
        None,
        "STL_SORT",
        "STL_SORT are only supported on numeric, varchar or timestamptz field, got Bool" + WRAP,
    ),
    (
        DataType.ARRAY,
        DataType.INT64,
        "STL_SORT",
        "STL_SORT are only supported on numeric, varchar or timestamptz field, got Array" + WRAP,
    ),
    (
        DataType.FLOAT,
        None,
        "BITMAP",
        "bitmap index are only supported on bool, int, string and array field" + WRAP,
    ),
    (
        DataType.ARRAY,
        DataType.DOUBLE,
        "BITMAP",
        "bitmap index are only supported on bool, int, string for array field" + WRAP,
    ),
    (
        DataType.INT64,
        None,
        "RTREE",
        "RTREE index can only be built on geometry field, got Int64" + WRAP,
    ),
    (
        DataType.INT64,
        None,
        "NGRAM",
        "ngram index can only be created on VARCHAR or JSON field" + INVALID_MSG,
    ),
    (
        DataType.ARRAY,
        DataType.VARCHAR,
        "NGRAM",
        "ngram index can only be created on VARCHAR or JSON field" + INVALID_MSG,
    ),
    (DataType.INT64, None, "HNSW", "index HNSW only supports vector data type" + INVALID_MSG),
    (
        DataType.VARCHAR,
        None,
        "IVF_FLAT",
        "index IVF_FLAT only supports vector data type" + INVALID_MSG,
    ),
]


@pytest.mark.parametrize(("dtype", "element", "index_type", "message"), REFUSED)
def test_refused_data_types(
    dtype: DataType, element: DataType | None, index_type: str, message: str
) -> None:
    err = refused(field(dtype, element), index_type)
    assert isinstance(err, ParameterInvalid)
    assert (err.code, err.message) == (1100, message)


def test_bitmap_on_primary_key_is_refused() -> None:
    err = refused(field(DataType.INT64, is_primary=True), "BITMAP")
    assert err.message == "create bitmap index on primary key not supported" + WRAP


@pytest.mark.parametrize("name", ["12-s", "12 s", "(mn)", "中文", "%$#", "HYBRID", "bogus"])
def test_unknown_index_type(name: str) -> None:
    err = refused(field(DataType.INT64), name)
    assert err.code == 1100
    assert (
        err.message == f"invalid parameter[expected=valid index][actual=invalid index type: {name}]"
    )


def test_scalar_type_on_vector_field_is_not_supported() -> None:
    err = refused(FieldSchema("v", DataType.FLOAT_VECTOR, dim=4), "INVERTED")
    assert isinstance(err, IndexNotSupported)
    assert err.message.startswith("data type 101 can't build with this index INVERTED")


# --- JSON path indexes -------------------------------------------------------------------


def test_json_index_needs_a_cast_type() -> None:
    for params in ({}, {"json_path": "f['a']['b']"}):
        err = refused(field(DataType.JSON), "INVERTED", params)
        assert isinstance(err, ParameterMissing)
        assert err.code == 1101
        assert err.message == (
            "json index must specify cast type: missing parameter"
            "[missing_param=json_cast_type]" + WRAP
        )


def test_json_index_without_path_covers_the_whole_field() -> None:
    spec = parse_scalar_index_spec(field(DataType.JSON), "INVERTED", {"json_cast_type": "varchar"})
    assert (spec.json_path, spec.nested_path, spec.json_cast_type) == ("f", (), "VARCHAR")


@pytest.mark.parametrize(
    ("index_type", "cast"),
    [
        ("INVERTED", "BOOL"),
        ("INVERTED", "double"),
        ("INVERTED", "Double"),
        ("INVERTED", "VARCHAR"),
        ("INVERTED", "ARRAY_BOOL"),
        ("INVERTED", "array_double"),
        ("INVERTED", "ARRAY_VARCHAR"),
        ("INVERTED", "JSON"),
        ("AUTOINDEX", "double"),
        ("STL_SORT", "DOUBLE"),
        ("STL_SORT", "varchar"),
        ("BITMAP", "BOOL"),
        ("BITMAP", "VARCHAR"),
    ],
)
def test_json_path_index_accepted(index_type: str, cast: str) -> None:
    params = {"json_cast_type": cast, "json_path": "f['a'][0]", "mmap.enable": "true"}
    spec = parse_scalar_index_spec(
        field(DataType.JSON), index_type, params, resolve_json_path=resolve
    )
    assert spec.nested_path == ("a", 0)
    assert spec.json_cast_type == cast.upper()
    described = spec.describe_params()
    assert described["json_cast_type"] == cast and described["mmap.enable"] == "true"


@pytest.mark.parametrize(
    ("index_type", "cast", "message"),
    [
        ("INVERTED", "12-s", "json_cast_type 12-S is not supported" + INVALID_MSG),
        ("INVERTED", 1, "json_cast_type 1 is not supported" + INVALID_MSG),
        ("INVERTED", "INT64", "json_cast_type INT64 is not supported" + INVALID_MSG),
        ("INVERTED", "ARRAY_INT64", "json_cast_type ARRAY_INT64 is not supported" + INVALID_MSG),
        (
            "STL_SORT",
            "BOOL",
            "json_cast_type BOOL is not supported for STL_SORT index" + INVALID_MSG,
        ),
        (
            "BITMAP",
            "DOUBLE",
            "json_cast_type DOUBLE is not supported for BITMAP index" + INVALID_MSG,
        ),
    ],
)
def test_json_cast_type_refused(index_type: str, cast: object, message: str) -> None:
    err = refused(field(DataType.JSON), index_type, {"json_cast_type": cast, "json_path": "f['a']"})
    assert (err.code, err.message) == (1100, message)


def test_json_sorted_and_bitmap_need_a_path() -> None:
    for index_type, cast in (("STL_SORT", "DOUBLE"), ("BITMAP", "BOOL")):
        err = refused(field(DataType.JSON), index_type, {"json_cast_type": cast})
        assert err.code == 1101
        assert err.message.startswith(
            "json index must specify json path: missing parameter[missing_param=json_path]"
        )


def test_json_cast_function() -> None:
    good = {"json_cast_type": "double", "json_cast_function": "STRING_TO_DOUBLE"}
    spec = parse_scalar_index_spec(field(DataType.JSON), "INVERTED", good)
    assert spec.json_cast_function == "STRING_TO_DOUBLE"
    err = refused(field(DataType.JSON), "INVERTED", {**good, "json_cast_type": "varchar"})
    assert err.message == (
        "json_cast_function STRING_TO_DOUBLE is not supported for json_cast_type VARCHAR"
        + INVALID_MSG
    )
    err = refused(field(DataType.JSON), "INVERTED", {**good, "json_cast_function": "TO_INT"})
    assert err.message == "json_cast_function TO_INT is not supported" + INVALID_MSG


def test_json_path_errors_come_from_the_resolver() -> None:
    with pytest.raises(SluiceError, match="syntax error"):
        parse_scalar_index_spec(
            field(DataType.JSON),
            "INVERTED",
            {"json_cast_type": "double", "json_path": "/"},
            resolve_json_path=resolve,
        )


# --- NGRAM ---------------------------------------------------------------------------------


def test_ngram_parameters() -> None:
    spec = parse_scalar_index_spec(
        field(DataType.VARCHAR), "NGRAM", {"min_gram": 2, "max_gram": "3"}
    )
    assert (spec.min_gram, spec.max_gram) == (2, 3)
    json_spec = parse_scalar_index_spec(
        field(DataType.JSON),
        "NGRAM",
        {"min_gram": 1, "max_gram": 4, "json_path": "f['body']", "json_cast_type": "varchar"},
        resolve_json_path=resolve,
    )
    assert (json_spec.nested_path, json_spec.json_cast_type) == (("body",), "VARCHAR")


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        ({}, 1101, "Ngram index must specify both min_gram and max_gram: missing parameter" + WRAP),
        (
            {"min_gram": 2},
            1101,
            "Ngram index must specify both min_gram and max_gram: missing parameter" + WRAP,
        ),
        (
            {"min_gram": "2.5", "max_gram": 3},
            1100,
            "min_gram for Ngram index must be an integer, got: 2.5" + INVALID_MSG,
        ),
        (
            {"min_gram": 2, "max_gram": "x"},
            1100,
            "max_gram for Ngram index must be an integer, got: x" + INVALID_MSG,
        ),
        (
            {"min_gram": 4, "max_gram": 2},
            1100,
            "invalid min_gram or max_gram value for Ngram index, min_gram: 4, max_gram: 2"
            + INVALID_MSG,
        ),
        (
            {"min_gram": 0, "max_gram": 2},
            1100,
            "invalid min_gram or max_gram value for Ngram index, min_gram: 0, max_gram: 2"
            + INVALID_MSG,
        ),
    ],
)
def test_ngram_refused(params: dict[str, object], code: int, message: str) -> None:
    err = refused(field(DataType.VARCHAR), "NGRAM", params)
    assert (err.code, err.message) == (code, message)


def test_ngram_on_json_needs_varchar_cast() -> None:
    err = refused(field(DataType.JSON), "NGRAM", {"min_gram": 2, "max_gram": 3})
    assert err.code == 1101
    assert err.message == (
        "JSON field with ngram index must specify json_cast_type: missing parameter" + WRAP
    )
    err = refused(
        field(DataType.JSON), "NGRAM", {"min_gram": 2, "max_gram": 3, "json_cast_type": "double"}
    )
    assert err.message == (
        "JSON field with ngram index only supports VARCHAR cast type, got: DOUBLE" + INVALID_MSG
    )


def test_cardinality_limit_is_checked_for_autoindex() -> None:
    for bad in ("0", "1001", "ten"):
        err = refused(field(DataType.INT64), "AUTOINDEX", {"bitmap_cardinality_limit": bad})
        assert err.message == (
            "failed to check bitmap cardinality limit, should be larger than 0 and smaller"
            " than 1000" + WRAP
        )
    spec = parse_scalar_index_spec(
        field(DataType.INT64), "AUTOINDEX", {"bitmap_cardinality_limit": 7}
    )
    assert spec.bitmap_cardinality_limit == 7


def test_params_object_form_and_equality() -> None:
    flat = parse_scalar_index_spec(field(DataType.VARCHAR), "NGRAM", {"min_gram": 2, "max_gram": 3})
    nested = parse_scalar_index_spec(
        field(DataType.VARCHAR),
        "",
        {"index_type": "NGRAM", "params": '{"min_gram": 2, "max_gram": 3}'},
    )
    assert isinstance(nested, ScalarIndexSpec)
    assert flat.same_as(nested)
    other = parse_scalar_index_spec(
        field(DataType.VARCHAR), "NGRAM", {"min_gram": 2, "max_gram": 4}
    )
    assert not flat.same_as(other)
