"""CreateIndex and search parameters per vector data type: allowed types, metrics, Milvus's words."""

from __future__ import annotations

import pytest

from sluice.errors import IndexNotSupported, ParameterInvalid
from sluice.index import ParamRejected, check_binary_dim, parse_index_spec, parse_search_params
from sluice.index.params import (
    BinIvfFlatParams,
    DiskannParams,
    HnswParams,
    HnswPqParams,
    HnswPrqParams,
    HnswSqParams,
    IvfRabitqParams,
    ScannParams,
    SparseParams,
)
from sluice.schema import DataType

from .support import typed_field

WRAP = "[expected=valid index params][actual=invalid index params]"
KNOWHERE = ": invalid parameter: invalid parameter" + WRAP
PROXY = ": invalid parameter" + WRAP

FLOAT = typed_field(DataType.FLOAT_VECTOR, 128)
FP16 = typed_field(DataType.FLOAT16_VECTOR, 128)
BF16 = typed_field(DataType.BFLOAT16_VECTOR, 128)
INT8 = typed_field(DataType.INT8_VECTOR, 128)
BINARY = typed_field(DataType.BINARY_VECTOR, 128)
SPARSE = typed_field(DataType.SPARSE_FLOAT_VECTOR, None)


@pytest.mark.parametrize(
    ("field", "engine", "metric", "build"),
    [
        (FLOAT, "HNSW", "COSINE", HnswParams(18, 240)),
        (FP16, "HNSW", "COSINE", HnswParams(18, 240)),
        (INT8, "HNSW", "COSINE", HnswParams(18, 240)),
        (BINARY, "BIN_IVF_FLAT", "HAMMING", BinIvfFlatParams(1024)),
        (SPARSE, "SPARSE_INVERTED_INDEX", "IP", SparseParams()),
    ],
)
def test_autoindex_and_default_metric_per_type(field, engine, metric, build) -> None:  # type: ignore[no-untyped-def]
    spec = parse_index_spec(field, "", "", {})
    assert (spec.index_type, spec.engine_type, spec.metric_type, spec.build) == (
        "AUTOINDEX",
        engine,
        metric,
        build,
    )
    assert spec.describe_params() == {"index_type": "AUTOINDEX", "metric_type": metric}


def test_sparse_autoindex_keeps_bm25() -> None:
    spec = parse_index_spec(SPARSE, "AUTOINDEX", "bm25", {})
    assert (spec.metric_type, spec.engine_type) == ("BM25", "SPARSE_INVERTED_INDEX")


@pytest.mark.parametrize(
    ("field", "index_type", "name"),
    [
        (INT8, "FLAT", "Int8Vector"),
        (INT8, "IVF_FLAT", "Int8Vector"),
        (INT8, "DISKANN", "Int8Vector"),
        (INT8, "IVF_RABITQ", "Int8Vector"),
        (BINARY, "HNSW", "BinaryVector"),
        (BINARY, "FLAT", "BinaryVector"),
        (SPARSE, "HNSW", "SparseFloatVector"),
        (FP16, "BIN_FLAT", "Float16Vector"),
        (BF16, "SPARSE_WAND", "BFloat16Vector"),
    ],
)
def test_index_type_not_for_this_data_type(field, index_type: str, name: str) -> None:  # type: ignore[no-untyped-def]
    metric = {"BinaryVector": "HAMMING", "SparseFloatVector": "IP"}.get(name, "L2")
    with pytest.raises(ParameterInvalid) as err:
        parse_index_spec(field, index_type, metric, {})
    assert err.value.code == 1100
    assert err.value.message == f"data type {name} can't build with this index {index_type}{PROXY}"


@pytest.mark.parametrize(
    ("field", "metric", "text"),
    [
        (BINARY, "L2", "binary vector index does not support metric type: L2"),
        (FLOAT, "JACCARD", "float vector index does not support metric type: JACCARD"),
        (SPARSE, "COSINE", "only IP&BM25 is the supported metric type for sparse index"),
        (INT8, "HAMMING", "int vector index does not support metric type: HAMMING"),
    ],
)
def test_metric_per_data_type(field, metric: str, text: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ParameterInvalid) as err:
        parse_index_spec(field, "", metric, {})
    assert err.value.code == 1100
    assert err.value.message == text + PROXY


def test_bin_ivf_flat_refuses_structure_metrics_as_knowhere() -> None:
    assert parse_index_spec(BINARY, "BIN_FLAT", "SUBSTRUCTURE", {}).metric_type == "SUBSTRUCTURE"
    with pytest.raises(ParamRejected) as err:
        parse_index_spec(BINARY, "BIN_IVF_FLAT", "SUPERSTRUCTURE", {"nlist": 64})
    assert err.value.code == 65535
    assert err.value.message == (
        "metric type SUPERSTRUCTURE not found or not supported, supported: [HAMMING JACCARD]"
    )


def test_minhash_is_recognised_but_not_built() -> None:
    with pytest.raises(IndexNotSupported, match="MINHASH_LSH is not built by Sluice"):
        parse_index_spec(BINARY, "MINHASH_LSH", "HAMMING", {})


def test_new_family_defaults() -> None:
    assert parse_index_spec(FLOAT, "HNSW_SQ", "L2", {}).build == HnswSqParams()
    assert parse_index_spec(FLOAT, "HNSW_PQ", "L2", {}).build == HnswPqParams()
    assert parse_index_spec(FLOAT, "HNSW_PRQ", "L2", {}).build == HnswPrqParams()
    assert parse_index_spec(FLOAT, "IVF_RABITQ", "L2", {}).build == IvfRabitqParams()
    assert parse_index_spec(FLOAT, "SCANN", "L2", {}).build == ScannParams()
    diskann = parse_index_spec(FLOAT, "DISKANN", "L2", {})
    assert diskann.build == DiskannParams() and diskann.build.hnsw_m == 28
    spec = parse_index_spec(
        FLOAT, "HNSW_SQ", "IP", {"sq_type": "SQ4U", "refine": "TRUE", "refine_type": "sq6"}
    )
    assert spec.build == HnswSqParams(30, 360, "SQ4U", True, "SQ6")
    assert spec.describe_params()["refine"] == "true"
    assert parse_index_spec(FLOAT, "IVF_RABITQ", "L2", {"refine": True}).build == IvfRabitqParams(
        128, True, "FP32"
    )


@pytest.mark.parametrize(
    ("index_type", "params", "text"),
    [
        ("HNSW_SQ", {"sq_type": "FP32"}, "invalid scalar quantizer type"),
        (
            "HNSW_SQ",
            {"refine": "test"},
            "Type conflict in json: param 'refine' (\"test\") should be a boolean",
        ),
        (
            "HNSW_SQ",
            {"refine": 1},
            "Type conflict in json: param 'refine' (\"1\") should be a boolean",
        ),
        (
            "IVF_RABITQ",
            {"refine_type": "PQ"},
            "invalid refine type : PQ, optional types are [sq6, sq8, fp16, bf16, fp32, flat]",
        ),
        (
            "HNSW_PQ",
            {"m": 7},
            "The dimension of a vector (dim) should be a multiple of the number "
            "of subquantizers (m). Dimension: 128, m: 7",
        ),
        (
            "HNSW_PQ",
            {"nbits": 17},
            "Out of range in json: param 'nbits' (17) should be in range [1, 16]",
        ),
        (
            "HNSW_PRQ",
            {"nrq": 65},
            "Out of range in json: param 'nrq' (65) should be in range [1, 64]",
        ),
        (
            "SCANN",
            {"sub_dim": 3},
            "The dimension of a vector (dim) should be a multiple of sub_dim. "
            "Dimension:128, sub_dim:3",
        ),
        (
            "IVF_RABITQ",
            {"nlist": 65537},
            "Out of range in json: param 'nlist' (65537) should be in range [1, 65536]",
        ),
        (
            "DISKANN",
            {"max_degree": 0},
            "Out of range in json: param 'max_degree' (0) should be in range [1, 2048]",
        ),
        ("HNSW", {"refine": "true"}, "refine is not supported for this index"),
    ],
)
def test_knowhere_build_errors(index_type: str, params: dict[str, object], text: str) -> None:
    with pytest.raises(ParameterInvalid) as err:
        parse_index_spec(FLOAT, index_type, "L2", params)
    assert err.value.code == 1100
    assert err.value.message == text + KNOWHERE


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"drop_ratio_build": "1"}, "invalid drop_ratio_build: 1, must be in range [0, 1)"),
        ({"drop_ratio_build": "-0.1"}, "invalid drop_ratio_build: -0.1, must be in range [0, 1)"),
        ({"bm25_k1": "3.5"}, "invalid bm25_k1: 3.5, must be in range [0, 3]"),
        ({"bm25_b": "abc"}, "invalid bm25_b: abc, must be in range [0, 1]"),
    ],
)
def test_sparse_build_checks(params: dict[str, object], text: str) -> None:
    with pytest.raises(ParameterInvalid) as err:
        parse_index_spec(SPARSE, "SPARSE_INVERTED_INDEX", "IP", params)
    assert err.value.message == text + PROXY


def test_sparse_algo_and_bm25_params() -> None:
    spec = parse_index_spec(
        SPARSE, "SPARSE_WAND", "BM25", {"bm25_k1": 1.5, "bm25_b": "0.5", "bm25_avgdl": 40}
    )
    assert spec.build == SparseParams(0.0, "DAAT_MAXSCORE", 1.5, 0.5, 40.0)
    with pytest.raises(ParameterInvalid, match="sparse inverted index algo FOO not found"):
        parse_index_spec(SPARSE, "SPARSE_INVERTED_INDEX", "IP", {"inverted_index_algo": "FOO"})


def test_binary_dimension_rule() -> None:
    check_binary_dim(128, "b")
    with pytest.raises(ParameterInvalid) as err:
        check_binary_dim(100, "bits")
    assert err.value.message == (
        "invalid dimension: 100 of field bits. binary vector dimension should be multiple of 8. "
        ": invalid parameter"
    )


SEARCH_ERRORS = [
    ("HNSW_SQ", {"ef": 5}, "ef(5) should be larger than k(10)"),
    (
        "HNSW_PQ",
        {"refine_k": 0},
        "Out of range in json: param 'refine_k' (0) should be in range "
        "[1.000000, 340282346638528859811704183484516925440.000000]",
    ),
    (
        "IVF_RABITQ",
        {"rbq_bits_query": 9},
        "Out of range in json: param 'rbq_bits_query' (9) should be in range [0, 8]",
    ),
    ("SCANN", {"reorder_k": 5}, "reorder_k(5) should be larger than k(10)"),
    ("DISKANN", {"search_list": 5}, "search_list should be greater than or equal to topk"),
    (
        "DISKANN",
        {"search_list": 201},
        "search_list should be less than max(topk*10, 200) and less than 65535",
    ),
    (
        "IVF_RABITQ",
        {"nprobe": 0},
        "Out of range in json: param 'nprobe' (0) should be in range [1, 65536]",
    ),
]


@pytest.mark.parametrize(("index_type", "params", "text"), SEARCH_ERRORS)
def test_search_parameter_errors(index_type: str, params: dict[str, object], text: str) -> None:
    spec = parse_index_spec(FLOAT, index_type, "L2", {})
    with pytest.raises(ParamRejected) as err:
        parse_search_params(spec, None, {"params": params}, 10)
    assert err.value.code == 65535
    assert err.value.message == text


def test_search_parameters_per_type() -> None:
    rabitq = parse_index_spec(FLOAT, "IVF_RABITQ", "L2", {})
    params = parse_search_params(rabitq, None, {"params": {"rbq_query_bits": 6, "refine_k": 2}}, 10)
    assert (params.rbq_bits_query, params.refine_k) == (6, 2.0)
    diskann = parse_index_spec(FLOAT, "DISKANN", "L2", {})
    assert parse_search_params(diskann, None, {"search_list": 30}, 10).hnsw_ef(10) == 30
    sparse = parse_index_spec(SPARSE, "SPARSE_INVERTED_INDEX", "IP", {})
    params = parse_search_params(sparse, None, {"params": {"drop_ratio_search": "0.2"}}, 10)
    assert params.drop_ratio_search == pytest.approx(0.2)
    with pytest.raises(ParamRejected, match=r"should be in range \[0.000000, 1.000000\)"):
        parse_search_params(sparse, None, {"params": {"drop_ratio_search": 1.0}}, 10)
    with pytest.raises(ParamRejected, match="metric type not match"):
        parse_search_params(sparse, "BM25", {}, 10)


def test_unindexed_field_metrics_follow_its_kind() -> None:
    from sluice.index import VectorKind

    assert parse_search_params(None, None, {}, 5, kind=VectorKind.BINARY).metric_type == "HAMMING"
    assert (
        parse_search_params(None, "jaccard", {}, 5, kind=VectorKind.BINARY).metric_type == "JACCARD"
    )
    with pytest.raises(ParameterInvalid, match=r"supported: \[IP BM25\]"):
        parse_search_params(None, "L2", {}, 5, kind=VectorKind.SPARSE)
    window = {"radius": 10, "range_filter": 20}
    with pytest.raises(ParameterInvalid, match="range_filter must be less than radius"):
        parse_search_params(None, "HAMMING", window, 5, kind=VectorKind.BINARY)
