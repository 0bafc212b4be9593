"""Decoding pymilvus's SearchRequest: plan keys and query vectors."""

from __future__ import annotations

import numpy as np
import pytest
from pymilvus.client.prepare import Prepare
from pymilvus.grpc_gen import milvus_pb2

from sluice.api.convert_search import plan_key, query_vectors, search_request
from sluice.errors import ParameterInvalid


def _request(vectors: np.ndarray, **kwargs: object) -> milvus_pb2.SearchRequest:
    """The SearchRequest pymilvus's MilvusClient.search sends."""
    options = {"expr": "", "output_fields": None, **kwargs}
    built = Prepare.search_requests_with_expr(
        "c",
        "vec",
        {"metric_type": "L2", "params": {"ef": 64}},
        10,
        data=vectors.tolist(),
        **options,
    )
    return milvus_pb2.SearchRequest.FromString(built.SerializeToString())


def test_repeated_shapes_share_a_key_whatever_the_vectors() -> None:
    rng = np.random.default_rng(0)
    a = _request(rng.random((1, 8), dtype=np.float32))
    b = _request(rng.random((3, 8), dtype=np.float32))
    assert plan_key(a) is not None
    assert plan_key(a) == plan_key(b)
    assert hash(plan_key(a)) == hash(plan_key(b))


def test_filters_and_output_fields_change_the_key() -> None:
    v = np.zeros((1, 8), dtype=np.float32)
    plain = plan_key(_request(v))
    assert plan_key(_request(v, expr="tag < 3")) != plain
    assert plan_key(_request(v, output_fields=["tag"])) != plain


def test_templates_and_iterators_are_planned_every_time() -> None:
    v = np.zeros((1, 8), dtype=np.float32)
    templated = _request(v, expr="tag < {x}", expr_params={"x": 3})
    assert plan_key(templated) is None
    iterating = _request(v)
    iterating.search_params.add(key="iterator", value="True")
    iterating.search_params.add(key="search_iter_v2", value="True")
    assert plan_key(iterating) is None
    assert search_request(iterating).iterator


def test_query_vectors_round_trip_and_errors() -> None:
    rng = np.random.default_rng(1)
    vectors = rng.random((4, 8), dtype=np.float32)
    decoded = query_vectors(_request(vectors).placeholder_group)
    np.testing.assert_array_equal(decoded, vectors)
    with pytest.raises(ParameterInvalid, match="failed to parse placeholder group"):
        query_vectors(b"\xff\xff\xff")
    with pytest.raises(ParameterInvalid, match="placeholder group is empty"):
        query_vectors(b"")
