"""Shapes both clients share: enum names, describe dicts, index parameters, input coercion.

Both clients build their answers through these functions, which is what
makes an embedded result compare equal to a remote one.  Where pymilvus
defines a shape (describe dicts, the key/value pairs CreateIndex sends) the
rules here copy it, so the engine receives exactly what the server would
have received from pymilvus.  No gRPC, pymilvus or engine imports: this
module is safe for either side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson

from sluice.errors import ParameterInvalid
from sluice.schema import ConsistencyLevel, DataType

#: ``common.SegmentState`` names, by number.
SEGMENT_STATES = {
    0: "SegmentStateNone",
    1: "NotExist",
    2: "Growing",
    3: "Sealed",
    4: "Flushed",
    5: "Flushing",
    6: "Dropped",
    7: "Importing",
}
#: ``common.SegmentLevel`` names, by number.
SEGMENT_LEVELS = {0: "Legacy", 1: "L0", 2: "L1", 3: "L2"}
#: ``common.ConsistencyLevel`` names, by number (pymilvus's ``consistency_level_name``).
CONSISTENCY_NAMES = {
    ConsistencyLevel.STRONG: "Strong",
    ConsistencyLevel.SESSION: "Session",
    ConsistencyLevel.BOUNDED: "Bounded",
    ConsistencyLevel.EVENTUALLY: "Eventually",
    ConsistencyLevel.CUSTOMIZED: "Customized",
}

# pymilvus's wording for the same client-side checks (``pymilvus.exceptions.ExceptionsMessage``).
INSERT_UNEXPECTED_FIELD = (
    "Attempt to insert an unexpected field `{}` to collection without enabling dynamic field"
)
INSERT_MISSED_FIELD = (
    "Insert missed an field `{}` to collection without set nullable==true or set default_value"
)
AMBIGUOUS_DELETE = "Ambiguous filter parameter, only one deletion condition can be specified."
AMBIGUOUS_INDEX = "There are multiple indexes, please specify the index_name."


def segment_state_name(value: int) -> str:
    return SEGMENT_STATES.get(int(value), str(int(value)))


def segment_level_name(value: int) -> str:
    return SEGMENT_LEVELS.get(int(value), str(int(value)))


def parse_consistency(value: str | int) -> ConsistencyLevel:
    """``"Bounded"`` / ``2`` -> :class:`ConsistencyLevel`, as pymilvus accepts either."""
    try:
        if isinstance(value, str):
            return ConsistencyLevel[value.strip().upper()]
        return ConsistencyLevel(int(value))
    except (KeyError, ValueError):
        raise ParameterInvalid.msg(f"invalid consistency level: {value!r}") from None


# --- describe ---------------------------------------------------------------------------


def field_params(dtype: DataType, type_params: Mapping[str, str]) -> dict[str, Any]:
    """Type parameters the way pymilvus shows them: ``dim`` and VARCHAR ``max_length`` as ints."""
    params: dict[str, Any] = {}
    for key, value in type_params.items():
        if key == "params":
            params[key] = orjson.loads(value)
        elif key == "dim" or (key == "max_length" and dtype in (DataType.VARCHAR, DataType.ARRAY)):
            params[key] = int(value)
        else:
            params[key] = value
    return params


def field_dict(
    *,
    field_id: int,
    name: str,
    description: str,
    dtype: DataType,
    params: dict[str, Any],
    is_primary: bool = False,
    auto_id: bool = False,
    nullable: bool = False,
    is_partition_key: bool = False,
    is_clustering_key: bool = False,
    default_value: Any = None,
) -> dict[str, Any]:
    """One entry of ``describe_collection()["fields"]``; flags only when set, like pymilvus."""
    out: dict[str, Any] = {
        "field_id": field_id,
        "name": name,
        "description": description,
        "type": dtype,
        "params": params,
    }
    if default_value is not None:
        out["default_value"] = default_value
    if is_partition_key:
        out["is_partition_key"] = True
    if is_clustering_key:
        out["is_clustering_key"] = True
    if auto_id:
        out["auto_id"] = True
    if nullable:
        out["nullable"] = True
    if is_primary:
        out["is_primary"] = True
    return out


def collection_dict(
    *,
    name: str,
    collection_id: int,
    description: str,
    fields: list[dict[str, Any]],
    num_shards: int,
    num_partitions: int,
    consistency: int,
    enable_dynamic_field: bool,
    properties: Mapping[str, str],
    aliases: Sequence[str],
    created_timestamp: int,
    update_timestamp: int,
) -> dict[str, Any]:
    """``describe_collection()``; ``auto_id`` is the primary key's, as pymilvus rewrites it."""
    return {
        "collection_name": name,
        "collection_id": collection_id,
        "description": description,
        "auto_id": any(f.get("auto_id", False) for f in fields if f.get("is_primary")),
        "num_shards": num_shards,
        "num_partitions": num_partitions,
        "consistency_level": int(consistency),
        "consistency_level_name": CONSISTENCY_NAMES.get(
            ConsistencyLevel(int(consistency)), str(consistency)
        ),
        "enable_dynamic_field": enable_dynamic_field,
        "properties": dict(properties),
        "aliases": list(aliases),
        "fields": fields,
        "created_timestamp": created_timestamp,
        "update_timestamp": update_timestamp,
    }


# --- indexes ----------------------------------------------------------------------------


def _wire_text(value: Any) -> str:
    """pymilvus's ``utils.dumps``: JSON for dicts, ``str()`` for everything else."""
    if isinstance(value, Mapping):
        return orjson.dumps(dict(value)).decode()
    return str(value)


def index_wire_params(
    index_type: str, metric_type: str | None, params: Mapping[str, Any] | None
) -> dict[str, str]:
    """The ``extra_params`` pymilvus's ``IndexParams.add_index`` + ``create_index`` send.

    pymilvus flattens ``params`` into the top level, then adds ``metric_type``
    and ``index_type``; every value travels as text.
    """
    configs: dict[str, Any] = dict(params or {})
    if metric_type is not None:
        configs["metric_type"] = metric_type
    if index_type:
        configs["index_type"] = index_type
    return {str(k): _wire_text(v) for k, v in configs.items() if v is not None}


def index_dict(
    params: Mapping[str, str],
    *,
    field_name: str,
    index_name: str,
    total_rows: int,
    indexed_rows: int,
    pending_index_rows: int,
    state: str,
) -> dict[str, Any]:
    """``describe_index()``: the stored parameters (``params`` JSON decoded) plus progress."""
    out: dict[str, Any] = dict(params)
    out["field_name"] = field_name
    out["index_name"] = index_name
    if out.get("params"):
        out["params"] = orjson.loads(out["params"])
    out["total_rows"] = total_rows
    out["indexed_rows"] = indexed_rows
    out["pending_index_rows"] = pending_index_rows
    out["state"] = state
    return out


# --- inputs -----------------------------------------------------------------------------


def as_vectors(data: Any) -> np.ndarray:
    """Query vectors as a C-contiguous float32 ``(nq, dim)`` array; one flat vector is ``nq=1``."""
    try:
        vectors = np.asarray(data, dtype=np.float32)
    except (TypeError, ValueError):
        raise ParameterInvalid.msg("search data must be float vectors of one dimension") from None
    if vectors.ndim == 1:
        vectors = vectors.reshape(1, -1)
    if vectors.ndim != 2 or vectors.shape[0] == 0:
        raise ParameterInvalid.msg("search data must be a non-empty list of float vectors")
    return np.ascontiguousarray(vectors)


def check_limit(limit: Any) -> None:
    """pymilvus refuses a non-positive search ``limit`` before sending; both clients do."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise ParameterInvalid.msg(f"`limit` value {limit} is illegal")


def id_list(ids: Any) -> list[Any]:
    """``ids`` as a list: one key, a list of keys, or an array of keys."""
    if ids is None:
        return []
    if isinstance(ids, str | int | np.integer):
        return [ids.item() if isinstance(ids, np.integer) else ids]
    if isinstance(ids, np.ndarray):
        return list(ids.tolist())
    return list(ids)


def column_length(name: str, values: Any) -> int:
    try:
        return len(values)
    except TypeError:
        raise ParameterInvalid.msg(f"column {name} must be a list or an array") from None


def rows_from_columns(columns: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Columns by field name -> rows, for the remote path (pymilvus takes rows only)."""
    if not columns:
        return []
    names = list(columns)
    lengths = {column_length(n, columns[n]) for n in names}
    if len(lengths) != 1:
        raise ParameterInvalid.msg(f"columns have different lengths: {sorted(lengths)}")
    lists = [_as_list(columns[n]) for n in names]
    return [dict(zip(names, values, strict=True)) for values in zip(*lists, strict=True)]


def _as_list(values: Any) -> list[Any]:
    if hasattr(values, "to_pylist"):
        return list(values.to_pylist())
    if isinstance(values, np.ndarray):
        return list(values.tolist())
    return list(values)


def plain(value: Any) -> Any:
    """A result value as plain Python (numpy arrays and protobuf repeated fields become lists)."""
    if value is None or isinstance(value, str | bytes | int | float | bool):
        return value
    if isinstance(value, dict):
        return {key: plain(v) for key, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Sequence):
        return [plain(v) for v in value]
    return value
