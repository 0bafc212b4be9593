"""Rerank functions from their parameters, refused in Milvus's words.

A ``FunctionType.RERANK`` function names its ranker with the ``reranker``
param (``rrf``, ``weighted``, ``decay``, ``boost``, ``model``); hybrid
search's legacy ``rank_params`` give a ``strategy`` (``rrf``/``weighted``)
and a JSON ``params`` object.  Both build the same rankers.  Checks Milvus
reports as plain errors carry code 65535.
"""

from __future__ import annotations

import json
import math
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from sluice.errors import RequestError
from sluice.rank.function_score import BoostRanker, DecayRanker
from sluice.rank.fusion import RRFRanker, WeightedRanker
from sluice.schema import DataType

Ranker = RRFRanker | WeightedRanker | DecayRanker | BoostRanker

SUPPORTED = ("decay", "model", "rrf", "weighted", "boost")
_DECAY_INPUT_TYPES = frozenset(
    {
        DataType.INT8,
        DataType.INT16,
        DataType.INT32,
        DataType.INT64,
        DataType.FLOAT,
        DataType.DOUBLE,
        DataType.TIMESTAMPTZ,
    }
)


class RerankParamsError(RequestError):
    """A rerank function or rank strategy Milvus refuses."""


def _go_list(names: Sequence[str]) -> str:
    return "[" + " ".join(names) + "]"


def ranker_from_function(
    params: Mapping[str, str],
    input_fields: Sequence[str],
    field_types: Mapping[str, DataType],
) -> Ranker:
    """The ranker a RERANK function describes (keys are case-insensitive, as in Milvus)."""
    lowered = {k.lower(): v for k, v in params.items()}
    name = lowered.get("reranker", "").lower()
    if name == "rrf":
        if input_fields:
            raise RerankParamsError(
                f"The rrf function does not support input parameters, but got {_go_list(input_fields)}"
            )
        return rrf_ranker(lowered.get("k"))
    if name == "weighted":
        if input_fields:
            raise RerankParamsError(
                f"The weighted function does not support input parameters, but got {_go_list(input_fields)}"
            )
        return weighted_ranker(lowered.get("weights"), lowered.get("norm_score"))
    if name == "decay":
        return decay_ranker(lowered, input_fields, field_types)
    if name == "boost":
        return boost_ranker(lowered)
    if name == "model":
        check_model_params(lowered, input_fields, field_types)
        raise RerankParamsError(
            "model rerankers call an external inference service, which Sluice does not run"
        )
    raise RerankParamsError(
        f"Unsupported rerank function: [{name}] , list of supported [{','.join(SUPPORTED)}]"
    )


#: Milvus 2.6's rerank model providers.
MODEL_PROVIDERS = ("vllm", "tei", "siliconflow", "cohere", "voyageai", "ali", "zilliz")


def check_model_params(
    params: Mapping[str, str], input_fields: Sequence[str], field_types: Mapping[str, DataType]
) -> None:
    """Milvus's checks of a model reranker, so a malformed one is refused as Milvus refuses it.

    A well-formed one is still refused (the caller says why): it needs a
    service Sluice does not run.
    """
    if len(input_fields) != 1:
        raise RerankParamsError(
            f"Rerank model only supports single input, but gets [{_go_list(input_fields)}] input"
        )
    dtype = field_types.get(input_fields[0], DataType.NONE)
    if dtype != DataType.VARCHAR:
        raise RerankParamsError(f"Rerank model only support varchar, bug got [{dtype.milvus_name}]")
    provider = params.get("provider")
    if provider is None:
        raise RerankParamsError("lost rerank params:provider ")
    if provider.lower() not in MODEL_PROVIDERS:
        raise RerankParamsError(f"unknown rerank model provider:{provider}")
    if provider.lower() in ("tei", "vllm"):
        endpoint = params.get("endpoint", "")
        parsed = urllib.parse.urlparse(endpoint)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise RerankParamsError(f"Rerank endpoint: [{endpoint}] is not a valid http/https link")
    raw = params.get("queries")
    queries: object = []
    if raw is not None:
        try:
            queries = json.loads(raw)
            if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
                raise ValueError(f"cannot unmarshal {raw} into []string")
        except ValueError as exc:
            raise RerankParamsError(f"Parse rerank params [queries] failed, err: {exc}") from None
    if not queries:
        raise RerankParamsError("Rerank function lost params queries")


def ranker_from_rank_params(strategy: str, params: str | Mapping[str, Any]) -> Ranker:
    """Hybrid search's legacy ``rank_params`` (``RRFRanker``/``WeightedRanker`` in pymilvus)."""
    if isinstance(params, str):
        try:
            decoded = json.loads(params) if params else {}
        except ValueError:
            raise RerankParamsError(f"parse rerank params failed, err: {params}") from None
        params = decoded if isinstance(decoded, dict) else {}
    kind = strategy.lower()
    if kind == "rrf":
        k = params.get("k")
        return rrf_ranker(None if k is None else json.dumps(k))
    if kind == "weighted":
        weights = params.get("weights")
        norm = params.get("norm_score")
        return weighted_ranker(
            None if weights is None else json.dumps(weights),
            None if norm is None else str(norm).lower(),
        )
    raise RerankParamsError(
        f"Unsupported rerank function: [{kind}] , list of supported [{','.join(SUPPORTED)}]"
    )


def rrf_ranker(k_text: str | None) -> RRFRanker:
    k = 60.0
    if k_text is not None:
        try:
            k = float(k_text)
        except ValueError:
            raise RerankParamsError(f"Param k:{k_text} is not a number") from None
    if not k > 0 or k >= 16384:
        raise RerankParamsError("The rank params k should be in range (0, 16384)")
    return RRFRanker(k)


def weighted_ranker(weights_text: str | None, norm_text: str | None) -> WeightedRanker:
    weights: list[float] = []
    if weights_text is not None:
        try:
            decoded = json.loads(weights_text)
            if not isinstance(decoded, list) or any(
                isinstance(w, bool) or not isinstance(w, int | float) for w in decoded
            ):
                raise ValueError
            weights = [float(w) for w in decoded]
        except ValueError:
            raise RerankParamsError(
                f"Parse weights param failed, weight should be []float, bug got: {weights_text}"
            ) from None
        if any(w < 0 or w > 1 for w in weights):
            raise RerankParamsError("rank param weight should be in range [0, 1]")
    norm = False
    if norm_text is not None:
        parsed = _go_bool(norm_text)
        if parsed is None:
            raise RerankParamsError(f"norm_score params must be true/false, bug got {norm_text}")
        norm = parsed
    if not weights:
        raise RerankParamsError("weights not found")
    return WeightedRanker(tuple(weights), norm)


def decay_ranker(
    params: Mapping[str, str], input_fields: Sequence[str], field_types: Mapping[str, DataType]
) -> DecayRanker:
    if len(input_fields) != 1:
        raise RerankParamsError(
            f"Decay function only supoorts single input, but gets [{_go_list(input_fields)}] input"
        )
    dtype = field_types.get(input_fields[0], DataType.NONE)
    if dtype not in _DECAY_INPUT_TYPES:
        raise RerankParamsError(
            f"Decay rerank: unsupported input field type:{dtype.milvus_name}, only support numberic field"
        )
    values: dict[str, float] = {"offset": 0.0, "decay": 0.5}
    for key in ("origin", "scale", "offset", "decay"):
        if key in params:
            try:
                values[key] = float(params[key])
            except ValueError:
                raise RerankParamsError(f"Param {key}:{params[key]} is not a number") from None
    for key in ("origin", "scale"):
        if key not in values:
            raise RerankParamsError(f"Decay function lost param: {key}")
    if values["scale"] <= 0:
        raise RerankParamsError(
            f"Decay function param: scale must > 0, but got {values['scale']:f}"
        )
    if values["offset"] < 0:
        raise RerankParamsError(
            f"Decay function param: offset must >= 0, but got {values['offset']:f}"
        )
    if values["decay"] <= 0 or values["decay"] >= 1:
        # Milvus prints the offset here, not the decay.
        raise RerankParamsError(
            f"Decay function param: decay must 0 < decay < 1, but got {values['offset']:f}"
        )
    function = params.get("function", "")
    if function not in ("gauss", "exp", "linear"):
        raise RerankParamsError("Invaild decay function: decay, only support [gauss,linear,exp]")
    return DecayRanker(
        function, values["origin"], values["scale"], values["offset"], values["decay"]
    )


def boost_ranker(params: Mapping[str, str]) -> BoostRanker:
    weight_text = params.get("weight")
    if weight_text is None:
        raise RerankParamsError("boost function must set weight")
    try:
        weight = float(weight_text)
    except ValueError:
        raise RerankParamsError(f"Param weight:{weight_text} is not a number") from None
    if not math.isfinite(weight):
        raise RerankParamsError(f"Param weight:{weight_text} is not a number")
    seed: int | None = None
    field: str | None = None
    if "random_score" in params:
        try:
            random = json.loads(params["random_score"])
            if not isinstance(random, dict):
                raise ValueError
            seed = int(random.get("seed", 0))
            field = random.get("field")
        except (ValueError, TypeError):
            raise RerankParamsError(
                f"random_score should be a json map, but got: {params['random_score']}"
            ) from None
    return BoostRanker(weight, seed, field)


def _go_bool(text: str) -> bool | None:
    """Go's ``strconv.ParseBool``."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None
