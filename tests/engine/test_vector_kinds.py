"""Index declarations on the vector kinds other than FLOAT_VECTOR: Milvus's order of checks."""

from __future__ import annotations

import pytest

from sluice.engine.vector_kinds import parse_kind_index
from sluice.errors import IndexNotSupported, ParameterInvalid
from sluice.schema import DataType, FieldSchema

INT8 = FieldSchema("v", DataType.INT8_VECTOR, dim=16)


@pytest.mark.parametrize("index_type", ["GPU_IVF_FLAT", "GPU_IVF_PQ", "GPU_CAGRA"])
def test_an_unknown_type_is_refused_before_the_kind_check(index_type: str) -> None:
    with pytest.raises(ParameterInvalid) as info:
        parse_kind_index(INT8, {"index_type": index_type, "metric_type": "L2"})
    assert info.value.message == (
        f"invalid parameter[expected=valid index][actual=invalid index type: {index_type}]"
    )


def test_a_known_type_the_kind_cannot_build_names_the_data_type() -> None:
    with pytest.raises(IndexNotSupported) as info:
        parse_kind_index(INT8, {"index_type": "IVF_FLAT", "metric_type": "L2"})
    assert "data type Int8Vector can't build with this index IVF_FLAT" in info.value.message


@pytest.mark.parametrize(
    ("dtype", "dim", "index_type", "engine", "metric"),
    [
        (DataType.BINARY_VECTOR, 64, "AUTOINDEX", "BIN_IVF_FLAT", "HAMMING"),
        (DataType.FLOAT16_VECTOR, 16, "HNSW_SQ", "HNSW_SQ", "COSINE"),
        (DataType.INT8_VECTOR, 16, "HNSW", "HNSW", "COSINE"),
        (DataType.SPARSE_FLOAT_VECTOR, None, "SPARSE_WAND", "SPARSE_WAND", "IP"),
    ],
)
def test_accepted_types_come_back_as_real_index_specs(
    dtype: DataType, dim: int | None, index_type: str, engine: str, metric: str
) -> None:
    field = FieldSchema("v", dtype, dim=dim)
    spec = parse_kind_index(field, {"index_type": index_type})
    assert (spec.engine_type, spec.metric_type) == (engine, metric)
