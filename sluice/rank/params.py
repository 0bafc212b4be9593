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
    }
)
#: Decay values Milvus accepts: log(decay) must stay finite and away from 0.
_DECAY_STABLE = (0.001, 0.999)


class RerankParamsError(RequestError):
    """A rerank function or rank strategy Milvus refuses."""


#: Milvus 2.6's rerank chain builder prefixes its refusals with its name.
BUILDER = "rerank_builder: "
_NOT_NUMERIC_WORDS = frozenset({DataType.VARCHAR, DataType.BOOL, DataType.TIMESTAMPTZ})


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
    raise unsupported_reranker(name)


def unsupported_reranker(name: str) -> RerankParamsError:
    if not name:
        return RerankParamsError(f"{BUILDER}reranker name not specified")
    return RerankParamsError(f"{BUILDER}unsupported reranker {name}")


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
            f"{BUILDER}model reranker requires exactly 1 input field, got {len(input_fields)}"
        )
    dtype = field_types.get(input_fields[0], DataType.NONE)
    if dtype != DataType.VARCHAR:
        raise RerankParamsError(
            f"{BUILDER}model input field {input_fields[0]} must be VarChar, got {dtype.milvus_name}"
        )
    raw = params.get("queries")
    if raw is None:
        raise RerankParamsError(f"{BUILDER}rerank function missing required param: queries")
    try:
        queries = json.loads(raw)
        if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
            raise ValueError(f"cannot unmarshal {raw} into []string")
    except ValueError as exc:
        raise RerankParamsError(f"{BUILDER}parse rerank params [queries] failed: {exc}") from None
    if not queries:
        raise RerankParamsError(f"{BUILDER}rerank queries must not be empty")
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
    raise RerankParamsError(f"{BUILDER}unsupported rank type {kind}")


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
    """Milvus's decay checks, in its order: numbers, required params, the field, the ranges."""
    values: dict[str, float] = {"offset": 0.0, "decay": 0.5}
    for key, text in params.items():
        if key in ("origin", "scale", "offset", "decay"):
            try:
                values[key] = float(text)
            except ValueError:
                raise RerankParamsError(f"decay param {key}: {text} is not a number") from None
    for key in ("function", "origin", "scale"):
        if key not in params:
            raise RerankParamsError(f"decay {key} not specified")
    if len(input_fields) != 1:
        raise RerankParamsError(
            f"{BUILDER}decay reranker requires exactly 1 input field, got {len(input_fields)}"
        )
    name = input_fields[0]
    dtype = field_types.get(name, DataType.NONE)
    if dtype == DataType.NONE:
        raise RerankParamsError(f"{BUILDER}input field {name} not found in collection schema")
    if dtype in _NOT_NUMERIC_WORDS:
        raise RerankParamsError(
            f"{BUILDER}decay input field {name} must be numeric, got {dtype.milvus_name}"
        )
    if dtype not in _DECAY_INPUT_TYPES:
        raise RerankParamsError(f"unsupported field type: {dtype.milvus_name}")
    scale, offset, decay = values["scale"], values["offset"], values["decay"]
    if scale <= 0:
        raise RerankParamsError(f"{BUILDER}decay: scale must be > 0, got {scale:f}")
    if offset < 0:
        raise RerankParamsError(f"{BUILDER}decay: offset must be >= 0, got {offset:f}")
    if decay <= 0 or decay >= 1:
        raise RerankParamsError(f"{BUILDER}decay: decay must be 0 < decay < 1, got {decay:f}")
    if not _DECAY_STABLE[0] <= decay <= _DECAY_STABLE[1]:
        raise RerankParamsError(
            f"{BUILDER}decay: decay must be between {_DECAY_STABLE[0]:f} and "
            f"{_DECAY_STABLE[1]:f} for numerical stability, got {decay:f}"
        )
    function = params["function"].lower()
    if function not in ("gauss", "exp", "linear"):
        raise RerankParamsError(
            f'{BUILDER}decay: invalid function "{params["function"]}", must be one of '
            "[gauss, exp, linear]"
        )
    return DecayRanker(function, values["origin"], scale, offset, decay)


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
