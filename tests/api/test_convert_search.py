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
    b.guarantee_timestamp = 12345  # pymilvus sets it per call for some consistency levels
    assert plan_key(a) == plan_key(b)
    # The request itself is left as it was.
    assert b.nq == 3 and b.guarantee_timestamp == 12345 and b.placeholder_group


def test_everything_else_in_the_request_changes_the_key() -> None:
    v = np.zeros((1, 8), dtype=np.float32)
    plain = plan_key(_request(v))
    variants = [
        _request(v, expr="tag < 3"),
        _request(v, output_fields=["tag"]),
        _request(v, partition_names=["p"]),
        _request(v, expr="tag < {x}", expr_params={"x": 3}),
    ]
    keys = [plan_key(r) for r in variants]
    assert plain not in keys and len(set(keys)) == len(keys)
    same = _request(v, expr="tag < {x}", expr_params={"x": 3})
    other = _request(v, expr="tag < {x}", expr_params={"x": 4})
    assert plan_key(same) == keys[-1] != plan_key(other)


def test_iterator_requests_decode_as_iterators() -> None:
    iterating = _request(np.zeros((1, 8), dtype=np.float32))
    iterating.search_params.add(key="iterator", value="True")
    iterating.search_params.add(key="search_iter_v2", value="True")
    iterating.search_params.add(key="search_iter_last_bound", value="0.5")
    decoded = search_request(iterating)
    assert decoded.iterator and decoded.iterator_last_bound == 0.5


def test_query_vectors_round_trip_and_errors() -> None:
    rng = np.random.default_rng(1)
    vectors = rng.random((4, 8), dtype=np.float32)
    decoded = query_vectors(_request(vectors).placeholder_group)
    np.testing.assert_array_equal(decoded, vectors)
    with pytest.raises(ParameterInvalid, match="failed to parse placeholder group"):
        query_vectors(b"\xff\xff\xff")
    with pytest.raises(ParameterInvalid, match="placeholder group is empty"):
        query_vectors(b"")
