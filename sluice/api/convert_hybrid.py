"""Milvus's HybridSearchRequest in: sub-searches, ``rank_params`` and ``function_score``.

``rank_params`` is a key/value list (``limit``, ``offset``, ``round_decimal``,
``group_by_field``, ``group_size``, ``strict_group_size``,
``rank_group_scorer``, and the legacy ``strategy``/``params``), parsed here
with the wording of Milvus's ``parseRankParams``.  The sub-searches are
ordinary SearchRequests; one without ``topk`` searches for the hybrid
request's ``limit + offset`` hits, as Milvus does.
"""

from __future__ import annotations

import numpy as np
from pymilvus.grpc_gen import common_pb2, milvus_pb2

from sluice.api.convert_functions import function_score_from_proto
from sluice.api.convert_request import key_values
from sluice.api.convert_search import flag, query_vectors, refuse_unserved, search_request
from sluice.engine import EmbeddingLists, HybridSearchRequest, QueryTexts, SearchRequest
from sluice.errors import ParameterInvalid, RequestError, Unimplemented

#: Milvus's ``quotaAndLimits.limits.maxGroupSize``.
MAX_GROUP_SIZE = 1024


def hybrid_request(request: milvus_pb2.HybridSearchRequest) -> HybridSearchRequest:
    refuse_unserved(request)
    params = key_values(request.rank_params)
    limit_text = params.get("limit")
    if limit_text is None:
        raise RequestError("limit not found in rank_params")
    limit = _go_int(limit_text, "limit")
    offset = _go_int(params["offset"], "offset") if "offset" in params else 0
    round_text = params.get("round_decimal", "-1")
    try:
        round_decimal = int(round_text, 0)
    except ValueError:
        round_decimal = 100
    if round_decimal != -1 and not 0 <= round_decimal <= 6:
        raise RequestError(
            f"round_decimal [{round_text}] is invalid, should be -1 or an integer in range [0, 6]"
        )
    group_field = params.get("group_by_field") or None
    group_size = _group_size(params)
    return HybridSearchRequest(
        searches=tuple(_sub_request(sub, limit + offset) for sub in request.requests),
        limit=limit,
        offset=offset,
        round_decimal=round_decimal,
        output_fields=tuple(request.output_fields),
        group_by_field=group_field,
        group_size=group_size,
        strict_group_size=flag(params.get("strict_group_size")),
        group_scorer=params.get("rank_group_scorer", "max") or "max",
        partition_names=tuple(request.partition_names),
        function_score=function_score_from_proto(request.function_score),
        rank_strategy=params.get("strategy"),
        rank_params=params.get("params", ""),
        plan_key=plan_key(request),
    )


def hybrid_vectors(request: milvus_pb2.HybridSearchRequest) -> list[np.ndarray | QueryTexts]:
    out: list[np.ndarray | QueryTexts] = []
    for sub in request.requests:
        vectors = query_vectors(sub.placeholder_group)
        if isinstance(vectors, EmbeddingLists):
            raise Unimplemented(
                f"{Unimplemented.base_message}: embedding list queries in a hybrid search are "
                "not supported by Sluice"
            )
        out.append(vectors)
    return out


def plan_key(request: milvus_pb2.HybridSearchRequest) -> bytes:
    """The request's shape: the request without its vectors and per-call fields, serialised."""
    shape = milvus_pb2.HybridSearchRequest()
    shape.CopyFrom(request)
    shape.ClearField("guarantee_timestamp")
    for sub in shape.requests:
        for name in ("placeholder_group", "nq", "guarantee_timestamp"):
            sub.ClearField(name)
    return b"hybrid:" + shape.SerializeToString(deterministic=True)


def _sub_request(sub: milvus_pb2.SearchRequest, default_topk: int) -> SearchRequest:
    if not any(kv.key == "topk" for kv in sub.search_params):
        patched = milvus_pb2.SearchRequest()
        patched.CopyFrom(sub)
        patched.search_params.append(common_pb2.KeyValuePair(key="topk", value=str(default_topk)))
        sub = patched
    return search_request(sub)


def _go_int(text: str, key: str) -> int:
    """Go's ``strconv.ParseInt(s, 0, 64)``."""
    try:
        return int(text, 0)
    except ValueError:
        raise RequestError(f"{key} [{text}] is invalid") from None


def _group_size(params: dict[str, str]) -> int:
    raw = params.get("group_size")
    if raw is None:
        return 1
    try:
        size = int(raw, 0)
    except ValueError:
        raise ParameterInvalid.msg(f"failed to parse input group size:{raw}") from None
    if size <= 0:
        raise ParameterInvalid.msg(
            f"input group size:{size} is negative, failed to do search_groupby"
        )
    if size > MAX_GROUP_SIZE:
        raise ParameterInvalid.msg(
            f"input group size:{size} exceeds configured max group size:{MAX_GROUP_SIZE}"
        )
    return size
