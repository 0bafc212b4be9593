"""CreateIndex parameters: parsing, defaults, Milvus's errors, DescribeIndex and duplicates."""

from __future__ import annotations

import json

import pytest

from sluice.errors import IndexNotSupported, ParameterInvalid
from sluice.index import (
    AUTOINDEX,
    FlatParams,
    HnswParams,
    IvfFlatParams,
    IvfPqParams,
    IvfSq8Params,
    ParamRejected,
    parse_index_spec,
)
from sluice.schema import DataType, FieldSchema

from .support import vector_field

FIELD = vector_field(128)
WRAP = (
    ": invalid parameter: invalid parameter"
    "[expected=valid index params][actual=invalid index params]"
)


def parse(index_type: str, metric: str = "L2", **params: object) -> object:
    return parse_index_spec(FIELD, index_type, metric, params)


def test_flat_client_params_are_strings() -> None:
    # MilvusClient flattens params and str()s every value.
    spec = parse_index_spec(
        FIELD,
        "",
        "",
        {"index_type": "HNSW", "metric_type": "ip", "M": "16", "efConstruction": "200"},
    )
    assert spec.index_type == "HNSW"
    assert spec.metric_type == "IP"
    assert spec.build == HnswParams(M=16, ef_construction=200)


def test_orm_params_json_object_is_merged() -> None:
    # Collection.create_index sends index_type, metric_type and params as JSON text.
    sent = {"index_type": "IVF_PQ", "metric_type": "COSINE", "params": '{"nlist": 64, "m": 16}'}
    spec = parse_index_spec(FIELD, "", "", sent)
    assert spec.build == IvfPqParams(nlist=64, m=16, nbits=8)
    assert spec.metric_type == "COSINE"


def test_json_numbers_print_like_go() -> None:
    # Milvus turns JSON values into strings with %v: 16.0 prints as 16 and parses.
    spec = parse_index_spec(FIELD, "HNSW", "L2", {"params": {"M": 16.0}})
    assert spec.build == HnswParams(M=16, ef_construction=360)


def test_explicit_arguments_win_over_keys() -> None:
    spec = parse_index_spec(FIELD, "FLAT", "IP", {"index_type": "HNSW", "metric_type": "L2"})
    assert (spec.index_type, spec.metric_type) == ("FLAT", "IP")


@pytest.mark.parametrize(
    ("index_type", "expected"),
    [
        ("FLAT", FlatParams()),
        ("HNSW", HnswParams(M=30, ef_construction=360)),
        ("IVF_FLAT", IvfFlatParams(nlist=128)),
        ("ivf_sq8", IvfSq8Params(nlist=128)),
    ],
)
def test_knowhere_defaults(index_type: str, expected: object) -> None:
    assert parse(index_type).build == expected  # type: ignore[attr-defined]


def test_empty_type_and_metric_mean_autoindex_cosine() -> None:
    spec = parse_index_spec(FIELD, "", "", {})
    assert spec.index_type == AUTOINDEX
    assert spec.engine_type == "HNSW"
    assert spec.metric_type == "COSINE"
    assert spec.build == HnswParams(M=18, ef_construction=240)


def test_autoindex_accepts_only_a_metric() -> None:
    spec = parse_index_spec(FIELD, "AUTOINDEX", "L2", {"index_type": "AUTOINDEX"})
    assert spec.metric_type == "L2"
    with pytest.raises(ParamRejected) as err:
        parse_index_spec(FIELD, "AUTOINDEX", "L2", {"M": "16"})
    assert err.value.code == 65535
    assert err.value.message == "only metric type can be passed when use AutoIndex"


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"M": "3000"}, "Out of range in json: param 'M' (3000) should be in range [2, 2048]"),
        ({"M": "1"}, "Out of range in json: param 'M' (1) should be in range [2, 2048]"),
        (
            {"efConstruction": "0"},
            "Out of range in json: param 'efConstruction' (0) should be in range [1, 2147483647]",
        ),
        ({"M": "16.0"}, "wrong data type in json, key: 'M', value: '16.0'"),
        ({"M": "abc"}, "invalid integer value, key: 'M', value: 'abc'"),
        ({"M": "True"}, "invalid integer value, key: 'M', value: 'True'"),
        ({"M": "99999999999"}, "integer value out of range, key: 'M', value: '99999999999'"),
    ],
)
def test_hnsw_param_errors(params: dict[str, str], text: str) -> None:
    with pytest.raises(ParameterInvalid) as err:
        parse_index_spec(FIELD, "HNSW", "L2", params)
    assert err.value.code == 1100
    assert err.value.message == text + WRAP


def test_hnsw_bounds_are_inclusive() -> None:
    assert parse("HNSW", M="2", efConstruction="1").build == HnswParams(M=2, ef_construction=1)
    assert parse("HNSW", M=" 2048").build == HnswParams(M=2048, ef_construction=360)


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"nlist": "0"}, "Out of range in json: param 'nlist' (0) should be in range [1, 65536]"),
        (
            {"nlist": "65537"},
            "Out of range in json: param 'nlist' (65537) should be in range [1, 65536]",
        ),
    ],
)
def test_ivf_param_errors(params: dict[str, str], text: str) -> None:
    with pytest.raises(ParameterInvalid) as err:
        parse_index_spec(FIELD, "IVF_FLAT", "L2", params)
    assert err.value.message == text + WRAP


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"nlist": "8"}, "param 'm' not exist in json"),
        (
            {"m": "3"},
            "The dimension of a vector (dim) should be a multiple of the number of "
            "subquantizers (m). Dimension: 128, m: 3",
        ),
        (
            {"m": "8", "nbits": "25"},
            "Out of range in json: param 'nbits' (25) should be in range [1, 24]",
        ),
        (
            {"m": "8", "nbits": "0"},
            "Out of range in json: param 'nbits' (0) should be in range [1, 24]",
        ),
    ],
)
def test_ivf_pq_param_errors(params: dict[str, str], text: str) -> None:
    with pytest.raises(ParameterInvalid) as err:
        parse_index_spec(FIELD, "IVF_PQ", "L2", params)
    assert err.value.message == text + WRAP


def test_ivf_pq_nbits_above_faiss_practical_limit() -> None:
    with pytest.raises(ParameterInvalid) as err:
        parse_index_spec(FIELD, "IVF_PQ", "L2", {"m": "8", "nbits": "17"})
    assert err.value.code == 1100
    assert "param 'nbits' (17) is above 16" in err.value.message
    assert parse("IVF_PQ", m="8", nbits="16").build == IvfPqParams(nlist=128, m=8, nbits=16)


def test_unknown_index_type_is_invalid_parameter() -> None:
    with pytest.raises(ParameterInvalid) as err:
        parse("FOO_INDEX")
    assert err.value.code == 1100
    assert err.value.message == (
        "invalid parameter[expected=valid index][actual=invalid index type: FOO_INDEX]"
    )


@pytest.mark.parametrize("index_type", ["IVF_FLAT_CC", "IVF_SQ_CC", "AISAQ", "SCANN_DVR"])
def test_milvus_types_sluice_does_not_build(index_type: str) -> None:
    with pytest.raises(IndexNotSupported) as err:
        parse(index_type)
    assert err.value.code == 701
    assert err.value.message.endswith(f"index type not supported[indexType={index_type}]")


@pytest.mark.parametrize(
    "index_type", ["GPU_CAGRA", "GPU_IVF_FLAT", "GPU_IVF_PQ", "GPU_BRUTE_FORCE"]
)
def test_gpu_types_are_unknown_as_on_a_cpu_milvus(index_type: str) -> None:
    with pytest.raises(ParameterInvalid) as err:
        parse(index_type)
    assert err.value.code == 1100
    assert err.value.message == (
        f"invalid parameter[expected=valid index][actual=invalid index type: {index_type}]"
    )


@pytest.mark.parametrize("index_type", ["BIN_FLAT", "SPARSE_INVERTED_INDEX", "INVERTED"])
def test_index_types_for_other_data_types(index_type: str) -> None:
    with pytest.raises(ParameterInvalid) as err:
        parse(index_type)
    assert err.value.code == 1100
    assert err.value.message == (
        f"data type FloatVector can't build with this index {index_type}: invalid parameter"
        "[expected=valid index params][actual=invalid index params]"
    )


def test_unknown_metric() -> None:
    with pytest.raises(ParameterInvalid) as err:
        parse("HNSW", "HAMMING")
    assert err.value.code == 1100
    assert err.value.message == (
        "float vector index does not support metric type: HAMMING: invalid parameter"
        "[expected=valid index params][actual=invalid index params]"
    )


def test_dimension_mismatch_and_scalar_field() -> None:
    with pytest.raises(ParameterInvalid, match="dimension mismatch, dimension in schema: 128"):
        parse("FLAT", dim="64")
    scalar = FieldSchema("age", DataType.INT64, field_id=102)
    with pytest.raises(ParameterInvalid, match="index HNSW only supports vector data type"):
        parse_index_spec(scalar, "HNSW", "L2", {})


def test_describe_params_shows_json_and_flat_keys() -> None:
    spec = parse_index_spec(FIELD, "HNSW", "L2", {"M": "16", "efConstruction": 200, "mmap.x": "1"})
    shown = spec.describe_params()
    assert shown["index_type"] == "HNSW"
    assert shown["metric_type"] == "L2"
    assert json.loads(shown["params"]) == {"M": 16, "efConstruction": 200}
    assert (shown["M"], shown["efConstruction"]) == ("16", "200")
    assert shown["mmap.x"] == "1"


def test_describe_autoindex_shows_type_and_metric_only() -> None:
    spec = parse_index_spec(FIELD, "AUTOINDEX", "", {})
    assert spec.describe_params() == {"index_type": "AUTOINDEX", "metric_type": "COSINE"}


def test_same_as_follows_milvus_duplicate_rule() -> None:
    first = parse_index_spec(FIELD, "HNSW", "L2", {"M": "16", "efConstruction": "200"})
    assert first.same_as(
        parse_index_spec(FIELD, "HNSW", "l2", {"params": {"M": 16, "efConstruction": 200}})
    )
    assert not first.same_as(
        parse_index_spec(FIELD, "HNSW", "L2", {"M": "32", "efConstruction": "200"})
    )
    assert not first.same_as(
        parse_index_spec(FIELD, "HNSW", "IP", {"M": "16", "efConstruction": "200"})
    )
    defaults = parse_index_spec(FIELD, "HNSW", "COSINE", {})
    assert defaults.same_as(parse_index_spec(FIELD, "HNSW", "", {"M": "30"}))
    auto = parse_index_spec(FIELD, "AUTOINDEX", "COSINE", {})
    assert not auto.same_as(
        parse_index_spec(FIELD, "HNSW", "COSINE", {"M": 18, "efConstruction": 240})
    )


def test_estimated_bytes_grow_with_compression_level() -> None:
    rows, dim = 100_000, 128
    flat = parse("FLAT").build.estimated_bytes(rows, dim)  # type: ignore[attr-defined]
    sq8 = parse("IVF_SQ8").build.estimated_bytes(rows, dim)  # type: ignore[attr-defined]
    pq = parse("IVF_PQ", m="16").build.estimated_bytes(rows, dim)  # type: ignore[attr-defined]
    hnsw = parse("HNSW", M="16").build.estimated_bytes(rows, dim)  # type: ignore[attr-defined]
    assert pq < sq8 < flat < hnsw
    assert flat == rows * dim * 4
