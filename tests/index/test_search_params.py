"""Search parameters: ef/nprobe rules, range windows and metric matching, with Milvus's words."""

from __future__ import annotations

import pytest

from sluice.errors import ParameterInvalid
from sluice.index import (
    IndexSpec,
    ParamRejected,
    SearchParams,
    parse_index_spec,
    parse_search_params,
)

from .support import vector_field

HNSW_COSINE = parse_index_spec(vector_field(), "HNSW", "COSINE", {"M": "16"})
IVF_L2 = parse_index_spec(vector_field(), "IVF_FLAT", "L2", {"nlist": "64"})
PQ_IP = parse_index_spec(vector_field(), "IVF_PQ", "IP", {"nlist": "64", "m": "16"})


def parse(spec: IndexSpec | None, params: dict[str, object], k: int = 10) -> SearchParams:
    return parse_search_params(spec, None, params, k)


def test_defaults_follow_knowhere() -> None:
    params = parse(HNSW_COSINE, {})
    assert params.metric_type == "COSINE"
    assert params.ef is None
    assert params.hnsw_ef(10) == 16
    assert params.hnsw_ef(100) == 100
    assert parse(IVF_L2, {}).nprobe == 8
    assert parse(HNSW_COSINE, {"params": {"radius": 0.5}}).hnsw_ef(10) == 512


def test_params_as_json_text_and_flat_keys() -> None:
    assert parse(HNSW_COSINE, {"params": '{"ef": 64}'}).ef == 64
    assert parse(HNSW_COSINE, {"ef": "40"}).ef == 40
    assert parse(HNSW_COSINE, {"ef": 40, "params": {"ef": 50}}).ef == 50
    assert parse(IVF_L2, {"params": {"nprobe": "32"}}).nprobe == 32


def test_ef_must_cover_k() -> None:
    assert parse(HNSW_COSINE, {"params": {"ef": 10}}).ef == 10
    with pytest.raises(ParamRejected) as err:
        parse(HNSW_COSINE, {"params": {"ef": 5}})
    assert err.value.code == 65535
    assert err.value.message == "ef(5) should be larger than k(10)"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (-1, "Out of range in json: param 'ef' (-1) should be in range [1, 2147483647]"),
        (32.0, "Type conflict in json: param 'ef' (32.0) should be integer"),
        (True, "Type conflict in json: param 'ef' (true) should be integer"),
        ([32], "Type conflict in json: param 'ef' ([32]) should be integer"),
        ("3.5", "wrong data type in json, key: 'ef', value: '3.5'"),
    ],
)
def test_ef_errors(value: object, text: str) -> None:
    with pytest.raises(ParamRejected) as err:
        parse(HNSW_COSINE, {"params": {"ef": value}})
    assert err.value.message == text


@pytest.mark.parametrize("value", [0, 65537])
def test_nprobe_range(value: int) -> None:
    with pytest.raises(ParamRejected) as err:
        parse(IVF_L2, {"params": {"nprobe": value}})
    assert err.value.message == (
        f"Out of range in json: param 'nprobe' ({value}) should be in range [1, 65536]"
    )


def test_keys_of_other_index_types_are_ignored() -> None:
    assert parse(IVF_L2, {"params": {"ef": -5}}).ef is None
    assert parse(HNSW_COSINE, {"params": {"nprobe": 0}}).nprobe == 8
    assert parse(None, {"params": {"ef": 1, "nprobe": 0}}).ef is None


def test_refine_k_for_quantised_types() -> None:
    assert parse(PQ_IP, {"params": {"refine_k": "2.5"}}).refine_k == 2.5
    with pytest.raises(ParamRejected, match=r"param 'refine_k' \(0.5\) should be in range"):
        parse(PQ_IP, {"params": {"refine_k": 0.5}})
    assert parse(IVF_L2, {"params": {"refine_k": 0.5}}).refine_k is None


def test_metric_must_match_the_index() -> None:
    assert parse_search_params(HNSW_COSINE, "cosine", {}, 10).metric_type == "COSINE"
    with pytest.raises(ParamRejected) as err:
        parse_search_params(HNSW_COSINE, "L2", {}, 10)
    assert err.value.code == 65535
    assert (
        err.value.message == "metric type not match: invalid parameter[expected=COSINE][actual=L2]"
    )
    with pytest.raises(ParamRejected, match="metric type not match"):
        parse_search_params(IVF_L2, None, {"metric_type": "IP"}, 10)


def test_unindexed_field_takes_requested_or_default_metric() -> None:
    assert parse_search_params(None, "ip", {}, 10).metric_type == "IP"
    assert parse_search_params(None, None, {}, 10).metric_type == "COSINE"
    with pytest.raises(ParameterInvalid) as err:
        parse_search_params(None, "JACCARD", {}, 10)
    assert err.value.code == 1100
    assert err.value.message == (
        "metric type JACCARD not found or not supported, supported: [L2 IP COSINE]"
        ": invalid parameter"
    )


def test_range_window_per_metric() -> None:
    l2 = parse(IVF_L2, {"params": {"radius": 10.0, "range_filter": 2.0}})
    assert (l2.is_range, l2.radius, l2.range_filter) == (True, 10.0, 2.0)
    cos = parse(HNSW_COSINE, {"params": {"radius": 0.2, "range_filter": 0.9}})
    assert (cos.radius, cos.range_filter) == (0.2, 0.9)
    assert parse(HNSW_COSINE, {"params": {"range_filter": 0.9}}).is_range is False


def test_range_window_errors() -> None:
    with pytest.raises(ParameterInvalid) as err:
        parse(IVF_L2, {"params": {"radius": 1, "range_filter": 2}})
    assert err.value.code == 1100
    assert err.value.message == (
        "range_filter must be less than radius for L2/HAMMING/JACCARD, "
        "range_filter:2.000000, radius:1.000000: invalid parameter"
    )
    with pytest.raises(ParameterInvalid) as err:
        parse(HNSW_COSINE, {"params": {"radius": 0.8, "range_filter": 0.5}})
    assert err.value.message == (
        "range_filter must be greater than radius for IP/COSINE, "
        "range_filter:0.500000, radius:0.800000: invalid parameter"
    )
    with pytest.raises(ParameterInvalid, match="must pass numpy type for radius"):
        parse(IVF_L2, {"params": {"radius": "far"}})
