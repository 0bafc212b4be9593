"""Every vector kind through its real index types: built per sealed segment, searched, reloaded.

Binary, float16, bfloat16, int8 and sparse fields are indexed with the index
types Milvus allows for them, flushed so each segment's index is built, and
searched; the top 10 is compared with an exact numpy reference (recall@10 at
least 0.95; flat and exhaustively probed types exactly).  After a restart the
indexes are loaded from their files and answer the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from helpers import SluiceProcess
from pymilvus import DataType, MilvusClient

ROWS, DIM, BITS, NQ, K = 3000, 32, 256, 20, 10

# (collection, field type, index type, metric, build params, search params, exact)
CASES: list[tuple[str, DataType, str, str, dict[str, Any], dict[str, Any], bool]] = [
    ("bin_flat_h", DataType.BINARY_VECTOR, "BIN_FLAT", "HAMMING", {}, {}, True),
    ("bin_flat_j", DataType.BINARY_VECTOR, "BIN_FLAT", "JACCARD", {}, {}, True),
    (
        "bin_ivf",
        DataType.BINARY_VECTOR,
        "BIN_IVF_FLAT",
        "HAMMING",
        {"nlist": 16},
        {"nprobe": 16},
        True,
    ),
    (
        "f16_hnsw",
        DataType.FLOAT16_VECTOR,
        "HNSW",
        "L2",
        {"M": 16, "efConstruction": 100},
        {"ef": 64},
        False,
    ),
    ("f16_ivf", DataType.FLOAT16_VECTOR, "IVF_FLAT", "IP", {"nlist": 8}, {"nprobe": 8}, True),
    (
        "f16_sq",
        DataType.FLOAT16_VECTOR,
        "HNSW_SQ",
        "COSINE",
        {"M": 16, "efConstruction": 100, "sq_type": "SQ8"},
        {"ef": 64},
        False,
    ),
    ("bf16_flat", DataType.BFLOAT16_VECTOR, "FLAT", "L2", {}, {}, True),
    (
        "bf16_hnsw",
        DataType.BFLOAT16_VECTOR,
        "HNSW",
        "COSINE",
        {"M": 16, "efConstruction": 100},
        {"ef": 64},
        False,
    ),
    (
        "i8_hnsw",
        DataType.INT8_VECTOR,
        "HNSW",
        "L2",
        {"M": 16, "efConstruction": 100},
        {"ef": 64},
        False,
    ),
    (
        "i8_hnsw_ip",
        DataType.INT8_VECTOR,
        "HNSW",
        "IP",
        {"M": 16, "efConstruction": 100},
        {"ef": 64},
        False,
    ),
    ("sp_inv", DataType.SPARSE_FLOAT_VECTOR, "SPARSE_INVERTED_INDEX", "IP", {}, {}, True),
    (
        "sp_wand",
        DataType.SPARSE_FLOAT_VECTOR,
        "SPARSE_WAND",
        "IP",
        {},
        {"drop_ratio_search": 0.0},
        True,
    ),
]


def _data(dtype: DataType, n: int, seed: int) -> Any:
    rng = np.random.default_rng(seed)
    if dtype == DataType.BINARY_VECTOR:
        return rng.integers(0, 256, size=(n, BITS // 8), dtype=np.uint8)
    if dtype == DataType.FLOAT16_VECTOR:
        return rng.standard_normal((n, DIM)).astype(np.float16)
    if dtype == DataType.BFLOAT16_VECTOR:
        return rng.standard_normal((n, DIM)).astype(ml_dtypes.bfloat16)
    if dtype == DataType.INT8_VECTOR:
        return rng.integers(-128, 128, size=(n, DIM), dtype=np.int8)
    rows = []
    for _ in range(n):
        cols = np.sort(rng.choice(500, size=12, replace=False))
        rows.append({int(c): float(v) for c, v in zip(cols, rng.random(12) + 0.01, strict=True)})
    return rows


def _wire(dtype: DataType, vectors: Any, i: int) -> Any:
    if dtype == DataType.BINARY_VECTOR:
        return vectors[i].tobytes()
    return vectors[i]


def _dense(dtype: DataType, vectors: Any) -> np.ndarray:
    if dtype == DataType.SPARSE_FLOAT_VECTOR:
        out = np.zeros((len(vectors), 500), dtype=np.float64)
        for i, row in enumerate(vectors):
            for c, v in row.items():
                out[i, c] = np.float32(v)
        return out
    return np.asarray(vectors).astype(np.float64)


def _reference(dtype: DataType, metric: str, data: Any, queries: Any) -> np.ndarray:
    """The exact top-K rows per query (ties to the lower row)."""
    if dtype == DataType.BINARY_VECTOR:
        bits_d = np.unpackbits(data, axis=1).astype(np.int64)
        bits_q = np.unpackbits(queries, axis=1).astype(np.int64)
        inter = bits_q @ bits_d.T
        if metric == "HAMMING":
            score = bits_q.sum(1)[:, None] + bits_d.sum(1)[None, :] - 2 * inter
        else:
            union = bits_q.sum(1)[:, None] + bits_d.sum(1)[None, :] - inter
            score = 1 - inter / np.maximum(union, 1)
        larger = False
    else:
        d, q = _dense(dtype, data), _dense(dtype, queries)
        if metric == "L2":
            score = (q * q).sum(1)[:, None] + (d * d).sum(1)[None, :] - 2 * q @ d.T
            larger = False
        elif metric == "IP":
            score, larger = q @ d.T, True
        else:
            qn = q / np.linalg.norm(q, axis=1, keepdims=True)
            dn = d / np.linalg.norm(d, axis=1, keepdims=True)
            score, larger = qn @ dn.T, True
    key = -score if larger else score
    return np.argsort(key, axis=1, kind="stable")[:, :K]


def _create(client: MilvusClient, case: tuple[Any, ...], data: Any) -> None:
    name, dtype, index_type, metric, build, _, _ = case
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    if dtype == DataType.SPARSE_FLOAT_VECTOR:
        schema.add_field("v", dtype)
    else:
        schema.add_field("v", dtype, dim=BITS if dtype == DataType.BINARY_VECTOR else DIM)
    client.create_collection(name, schema=schema)
    half = ROWS // 2
    for start, stop in ((0, half), (half, ROWS)):  # two sealed segments
        client.insert(name, [{"id": i, "v": _wire(dtype, data, i)} for i in range(start, stop)])
        client.flush(name)
    params = client.prepare_index_params()
    params.add_index("v", index_type=index_type, metric_type=metric, params=build)
    client.create_index(name, params)
    client.load_collection(name)


def _check(client: MilvusClient, case: tuple[Any, ...], data: Any, queries: Any) -> None:
    name, dtype, _, metric, _, search, exact = case
    expected = _reference(dtype, metric, data, queries)
    wire = [_wire(dtype, queries, i) for i in range(NQ)]
    hits = client.search(
        name, wire, anns_field="v", limit=K, search_params={"metric_type": metric, "params": search}
    )
    found = [[h["id"] for h in per_query] for per_query in hits]
    recall = np.mean(
        [len(set(f) & set(e.tolist())) / K for f, e in zip(found, expected, strict=True)]
    )
    if exact:
        assert recall >= 0.99, (name, recall)  # ties may order differently at the boundary
    else:
        assert recall >= 0.95, (name, recall)


@pytest.fixture(scope="module")
def indexed(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SluiceProcess, dict[str, Any]]]:
    proc = SluiceProcess(tmp_path_factory.mktemp("kinds") / "data").start()
    client = MilvusClient(proc.uri)
    data = {}
    try:
        for case in CASES:
            data[case[0]] = (_data(case[1], ROWS, 1), _data(case[1], NQ, 2))
            _create(client, case, data[case[0]][0])
        yield proc, data
    finally:
        client.close()
        proc.kill()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_indexed_kinds_find_the_neighbours(
    indexed: tuple[SluiceProcess, dict[str, Any]], case: tuple[Any, ...]
) -> None:
    proc, data = indexed
    client = MilvusClient(proc.uri)
    try:
        described = client.describe_index(case[0], "v")
        assert described["index_type"] == case[2]
        assert int(described["indexed_rows"]) == ROWS
        _check(client, case, *data[case[0]])
    finally:
        client.close()


def test_indexes_are_loaded_after_a_restart(
    indexed: tuple[SluiceProcess, dict[str, Any]], tmp_path: Path
) -> None:
    proc, data = indexed
    proc.kill()
    proc.start()
    client = MilvusClient(proc.uri)
    try:
        for case in CASES:
            client.load_collection(case[0])
            _check(client, case, *data[case[0]])
    finally:
        client.close()
