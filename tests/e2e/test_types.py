"""Every field type through pymilvus: exact round trips, search per vector kind, refusals.

One collection holds every stored type.  Its rows are read back before a
flush, after it and after a kill -9 and restart, and must come back exactly
as sent (bytes for binary/float16/bfloat16/int8 vectors, WKT for geometry,
RFC 3339 for timestamps, element lists for arrays, index/value maps for
sparse vectors).  Each vector kind is searched against a brute-force numpy
reference.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from helpers import SluiceProcess, milvus_error
from pymilvus import DataType, MilvusClient

NAME = "every_type"
N = 60
DIM = 8


def _schema(client: MilvusClient) -> Any:
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("fv", DataType.FLOAT_VECTOR, dim=DIM)
    s.add_field("bv", DataType.BINARY_VECTOR, dim=16)
    s.add_field("hv", DataType.FLOAT16_VECTOR, dim=DIM)
    s.add_field("bf", DataType.BFLOAT16_VECTOR, dim=DIM)
    s.add_field("iv", DataType.INT8_VECTOR, dim=DIM)
    s.add_field("sv", DataType.SPARSE_FLOAT_VECTOR)
    s.add_field("nv", DataType.FLOAT_VECTOR, dim=2, nullable=True)
    s.add_field("ints", DataType.ARRAY, element_type=DataType.INT64, max_capacity=4, nullable=True)
    s.add_field(
        "words", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=3, max_length=8
    )
    s.add_field("flags", DataType.ARRAY, element_type=DataType.BOOL, max_capacity=2)
    s.add_field("ts", DataType.TIMESTAMPTZ, nullable=True)
    s.add_field("geo", DataType.GEOMETRY, nullable=True)
    return s


def _rows() -> list[dict[str, Any]]:
    rng = np.random.default_rng(3)
    base = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    rows = []
    for i in range(N):
        rows.append(
            {
                "id": i,
                "fv": rng.random(DIM, dtype=np.float32).tolist(),
                "bv": rng.integers(0, 256, 2, dtype=np.uint8).tobytes(),
                "hv": rng.random(DIM).astype(np.float16),
                "bf": rng.random(DIM).astype(ml_dtypes.bfloat16),
                "iv": rng.integers(-128, 128, DIM, dtype=np.int8),
                "sv": {int(k): float(np.float32(rng.random())) for k in rng.choice(50, 3, False)},
                "nv": None if i % 4 == 0 else [float(i), 1.0],
                "ints": None if i % 5 == 0 else [int(v) for v in rng.integers(0, 9, i % 4)],
                "words": [f"w{i % 7}", "x"][: 1 + i % 2],
                "flags": [bool(i % 2), True],
                "ts": None
                if i % 6 == 0
                else (base + dt.timedelta(hours=i, microseconds=i * 10)).isoformat(),
                "geo": None if i % 9 == 0 else f"POINT ({i} {i / 2})",
            }
        )
    return rows


ROWS = _rows()


def _expected(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["hv"] = row["hv"].tobytes()
    out["bf"] = row["bf"].tobytes()
    out["iv"] = row["iv"].tobytes()
    if row["ts"] is not None:
        stamp = dt.datetime.fromisoformat(row["ts"]).astimezone(dt.UTC)
        text = stamp.strftime("%Y-%m-%dT%H:%M:%S")
        if stamp.microsecond:
            text += f".{stamp.microsecond:06d}".rstrip("0")
        out["ts"] = text + "Z"
    if row["geo"] is not None:
        x, y = row["geo"][7:-1].split()
        out["geo"] = f"POINT ({_short(float(x))} {_short(float(y))})"
    return out


def _short(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def _plain(value: Any) -> Any:
    """pymilvus wraps byte vectors of query results in a one-element list."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], bytes):
        return value[0]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: float(np.float32(v)) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def typed(server: SluiceProcess, client: MilvusClient) -> Iterator[MilvusClient]:
    client.create_collection(NAME, schema=_schema(client))
    client.insert(NAME, ROWS)
    index = client.prepare_index_params()
    for field, kind, metric in [
        ("fv", "FLAT", "L2"),
        ("bv", "BIN_FLAT", "HAMMING"),
        ("hv", "HNSW", "L2"),
        ("bf", "FLAT", "IP"),
        ("iv", "HNSW", "COSINE"),
        ("sv", "SPARSE_INVERTED_INDEX", "IP"),
        ("nv", "FLAT", "L2"),
    ]:
        index.add_index(field_name=field, index_type=kind, metric_type=metric)
    client.create_index(NAME, index)
    client.load_collection(NAME)
    yield client


def _read_all(client: MilvusClient) -> dict[int, dict[str, Any]]:
    got = client.query(NAME, "id >= 0", output_fields=["*"])
    return {r["id"]: {k: _plain(v) for k, v in r.items()} for r in got}


def _check_round_trip(client: MilvusClient) -> None:
    got = _read_all(client)
    assert sorted(got) == list(range(N))
    for row in ROWS:
        want = _expected(row)
        have = got[row["id"]]
        for key, value in want.items():
            if key == "sv":
                assert have[key] == {k: float(np.float32(v)) for k, v in value.items()}
            else:
                assert have[key] == value, (row["id"], key)


def test_every_type_round_trips_growing_flushed_and_restarted(
    server: SluiceProcess, typed: MilvusClient
) -> None:
    _check_round_trip(typed)
    typed.flush(NAME)
    _check_round_trip(typed)
    server.kill()
    server.start()
    fresh = MilvusClient(server.uri)
    try:
        fresh.load_collection(NAME)
        _check_round_trip(fresh)
    finally:
        fresh.close()


def _top(scores: np.ndarray, k: int, larger: bool) -> list[int]:
    order = np.argsort(-scores if larger else scores, kind="stable")
    return order[:k].tolist()


@pytest.mark.parametrize("field", ["bv", "hv", "bf", "iv", "sv"])
def test_each_vector_kind_finds_the_exact_neighbours(typed: MilvusClient, field: str) -> None:
    probe = ROWS[11][field]
    if field == "bv":
        bits = np.unpackbits(np.frombuffer(probe, np.uint8))
        scores = np.array(
            [
                np.count_nonzero(np.unpackbits(np.frombuffer(r["bv"], np.uint8)) != bits)
                for r in ROWS
            ]
        )
        larger = False
    elif field == "sv":
        scores = np.array([sum(v * r["sv"].get(k, 0.0) for k, v in probe.items()) for r in ROWS])
        larger = True
    else:
        mat = np.stack([r[field].astype(np.float32) for r in ROWS])
        q = probe.astype(np.float32)
        if field == "hv":
            scores, larger = ((mat - q) ** 2).sum(axis=1), False
        elif field == "bf":
            scores, larger = mat @ q, True
        else:
            norms = np.linalg.norm(mat, axis=1) * np.linalg.norm(q)
            scores, larger = (mat @ q) / norms, True
    hits = typed.search(NAME, [probe], anns_field=field, limit=5)[0]
    scores = np.asarray(scores, dtype=np.float64)
    want = _top(scores, 5, larger)
    # The same scores as the reference's best five (ties may pick other rows).
    got = [h["id"] for h in hits]
    assert np.allclose(sorted(scores[got]), sorted(scores[want]), rtol=1e-3, atol=1e-3)


def test_rows_without_a_vector_are_never_returned(typed: MilvusClient) -> None:
    hits = typed.search(NAME, [[0.0, 1.0]], anns_field="nv", limit=N)[0]
    ids = {h["id"] for h in hits}
    assert ids == {r["id"] for r in ROWS if r["nv"] is not None}


def test_filters_on_new_types_through_the_server(typed: MilvusClient) -> None:
    got = typed.query(NAME, "array_contains(ints, 3) and ts > ISO '2025-03-01T10:00:00Z'")
    want = {
        r["id"]
        for r in ROWS
        if r["ints"]
        and 3 in r["ints"]
        and r["ts"]
        and dt.datetime.fromisoformat(r["ts"]) > dt.datetime(2025, 3, 1, 10, tzinfo=dt.UTC)
    }
    assert {r["id"] for r in got} == want
    near = typed.query(NAME, "ST_WITHIN(geo, 'POLYGON ((0 0, 10 0, 10 10, 0 10, 0 0))')")
    assert {r["id"] for r in near} == {i for i in range(1, 10) if i % 9}


def test_search_by_primary_keys_uses_their_stored_vectors(typed: MilvusClient) -> None:
    hits = typed.search(NAME, ids=[7, 12], anns_field="fv", limit=1)
    assert [h[0]["id"] for h in hits] == [7, 12]


def test_query_order_by_sorts_before_paging(typed: MilvusClient) -> None:
    got = typed.query(
        NAME,
        "id < 20",
        output_fields=["ts"],
        limit=5,
        order_by_fields=[{"field": "ts", "order": "desc"}],
    )
    expected = sorted(
        (r for r in ROWS[:20] if r["ts"]), key=lambda r: dt.datetime.fromisoformat(r["ts"])
    )
    assert [r["id"] for r in got] == [r["id"] for r in reversed(expected)][:5]


def test_partial_upsert_keeps_fields_not_sent(typed: MilvusClient) -> None:
    typed.upsert(NAME, [{"id": 5, "words": ["new"]}], partial_update=True)
    row = typed.query(NAME, "id == 5", output_fields=["words", "geo", "fv"])[0]
    assert row["words"] == ["new"]
    assert row["geo"] == _expected(ROWS[5])["geo"]
    assert np.allclose(row["fv"], ROWS[5]["fv"])
    typed.upsert(NAME, [ROWS[5]])


def test_timezone_shows_timestamps_in_the_requested_zone(typed: MilvusClient) -> None:
    row = typed.query(NAME, "id == 1", output_fields=["ts"], timezone="Asia/Shanghai")[0]
    assert row["ts"] == "2025-03-01T09:00:00.00001+08:00"


@pytest.mark.parametrize(
    ("add", "code", "message"),
    [
        (lambda s: s.add_field("b", DataType.BINARY_VECTOR, dim=12), 65535, "multiple of 8"),
        (
            lambda s: s.add_field("a", DataType.ARRAY, element_type=DataType.INT64),
            65535,
            "type param(max_capacity) should be specified for array field a",
        ),
        (
            lambda s: s.add_field(
                "a", DataType.ARRAY, element_type=DataType.INT64, max_capacity=5000
            ),
            65535,
            "the maximum capacity specified for a Array should be in (0, 4096]",
        ),
        (
            lambda s: s.add_field("a", DataType.ARRAY, element_type=DataType.JSON, max_capacity=4),
            65535,
            "element type JSON is not supported",
        ),
    ],
)
def test_schema_refusals(client: MilvusClient, add: Any, code: int, message: str) -> None:
    s = client.create_schema()
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("v", DataType.FLOAT_VECTOR, dim=4)
    add(s)
    with milvus_error(code, match=message.replace("(", r"\(").replace(")", r"\)")):
        client.create_collection("refused", schema=s)


@pytest.mark.parametrize(
    ("row", "code", "message"),
    [
        ({"geo": "POINT (1)"}, 1001, "syntax error"),
        (
            {"ints": [1, 2, 3, 4, 5]},
            1100,
            r"the length \(5\) of 0th array exceeds max capacity \(4\)",
        ),
        ({"words": ["much too long"]}, 1100, "exceeds max length"),
        ({"ts": "2025-01-01T00:00:00+15:00"}, 1100, "UTC offset hour 15 is out of the valid range"),
        ({"ts": "yesterday"}, 1100, "invalid timestamp string"),
    ],
)
def test_insert_refusals(typed: MilvusClient, row: dict[str, Any], code: int, message: str) -> None:
    full = dict(ROWS[1]) | {"id": 999} | row
    with milvus_error(code, match=message):
        typed.insert(NAME, [full])


def test_batches_where_every_row_is_null(client: MilvusClient) -> None:
    """pymilvus sends an all-null column with an empty slot of any type: stored as nulls."""
    schema = client.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=4, nullable=True)
    schema.add_field(
        "tags", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=4, max_length=8,
        nullable=True,
    )  # fmt: skip
    schema.add_field("t", DataType.VARCHAR, max_length=8, nullable=True, default_value="abc")
    index = client.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="L2")
    client.create_collection("all_null", schema=schema, index_params=index)
    client.insert("all_null", [{"id": i, "v": None, "tags": None, "t": None} for i in range(3)])
    client.insert("all_null", [{"id": 9, "v": [0.0, 0.0, 0.0, 1.0], "tags": ["x"], "t": "q"}])
    rows = client.query("all_null", filter="id >= 0", output_fields=["v", "tags", "t"], limit=10)
    by_id = {r["id"]: r for r in rows}
    assert [by_id[i]["v"] for i in range(3)] == [None, None, None]
    assert [by_id[i]["tags"] for i in range(3)] == [None, None, None]
    assert [by_id[i]["t"] for i in range(3)] == ["abc", "abc", "abc"]
    hits = client.search("all_null", [[0.0, 0.0, 0.0, 1.0]], limit=10)
    assert [h["id"] for h in hits[0]] == [9]  # a null vector is never a result
