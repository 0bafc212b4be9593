"""Query and get through pymilvus: pagination, count, output fields, iterators, delete by filter.

Rows are inserted in a shuffled key order over two shards, part flushed and
part growing, so "ordered by primary key" is something the server has to do
rather than an accident of insertion order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers import count, create_indexed, milvus_error, vectors
from pymilvus import DataType, MilvusClient

DIM = 8
N = 500
STRONG = {"consistency_level": "Strong"}


def _row(key: int, vec: np.ndarray, *, string_key: bool = False) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": f"key{key:05d}" if string_key else key,
        "grp": key % 10,
        "val": (key * 37 % 101) / 100,
        "name": f"n{key}",
        "vector": vec.tolist(),
    }
    if key % 2 == 0:
        row["extra"] = "even" if key % 4 == 0 else "x"
    return row


def _create(client: MilvusClient, name: str, *, string_key: bool = False) -> list[dict[str, Any]]:
    schema = client.create_schema(auto_id=False, enable_dynamic_field=True)
    if string_key:
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=16)
    else:
        schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("grp", DataType.INT64)
    schema.add_field("val", DataType.DOUBLE)
    schema.add_field("name", DataType.VARCHAR, max_length=16)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="L2")
    create_indexed(client, name, schema, index, shards=2)
    data = vectors(N, DIM, seed=21)
    keys = np.random.default_rng(22).permutation(N).tolist()
    rows = [_row(k, data[k], string_key=string_key) for k in keys]
    client.insert(name, rows[:300])
    client.flush(name)
    client.insert(name, rows[300:])
    return sorted(rows, key=lambda r: r["id"])


@pytest.fixture(scope="module")
def ints(client: MilvusClient) -> list[dict[str, Any]]:
    return _create(client, "qr_int")


@pytest.fixture(scope="module")
def strs(client: MilvusClient) -> list[dict[str, Any]]:
    return _create(client, "qr_str", string_key=True)


# --- pagination -------------------------------------------------------------------------------


@pytest.mark.parametrize(("expr", "wanted"), [("grp in [1, 3, 5]", {1, 3, 5}), ("", None)])
def test_limit_offset_pages(client: MilvusClient, ints, expr: str, wanted) -> None:
    expected = [r["id"] for r in ints if wanted is None or r["grp"] in wanted]
    pages = []
    for offset in range(0, len(expected) + 20, 23):
        page = client.query(
            "qr_int", filter=expr, output_fields=["id"], limit=23, offset=offset, **STRONG
        )
        ids = [r["id"] for r in page]
        assert ids == sorted(ids), f"page at {offset} not in key order"
        assert len(ids) == min(23, max(0, len(expected) - offset))
        pages.append(ids)
    flat = [i for page in pages for i in page]
    assert len(flat) == len(set(flat)), "pages overlap"
    assert flat == expected


def test_limit_offset_pages_varchar_keys(client: MilvusClient, strs) -> None:
    expected = [r["id"] for r in strs if r["val"] > 0.5]
    flat = []
    for offset in range(0, len(expected), 40):
        page = client.query(
            "qr_str", filter="val > 0.5", output_fields=["id"], limit=40, offset=offset, **STRONG
        )
        flat += [r["id"] for r in page]
    assert flat == expected


def test_result_window_errors(client: MilvusClient, ints) -> None:
    with milvus_error(
        65535,
        message="invalid max query result window, (offset+limit) should be in range "
        "[1, 16384], but got 16385",
    ):
        client.query("qr_int", filter="id > 0", limit=16000, offset=385)
    with milvus_error(
        1100, message="empty expression should be used with limit: invalid parameter"
    ):
        client.query("qr_int", filter="", output_fields=["id"])


# --- count ------------------------------------------------------------------------------------


def test_count_star(client: MilvusClient, ints) -> None:
    assert count(client, "qr_int") == N
    for expr, want in (
        ("grp == 3", sum(r["grp"] == 3 for r in ints)),
        ("val >= 0.5 and grp < 4", sum(r["val"] >= 0.5 and r["grp"] < 4 for r in ints)),
        ('extra == "even"', sum(r.get("extra") == "even" for r in ints)),
        ("id < 0", 0),
    ):
        got = client.query("qr_int", filter=expr, output_fields=["count(*)"], **STRONG)
        assert [dict(r) for r in got] == [{"count(*)": want}], expr


# --- get and output fields ----------------------------------------------------------------------


def test_get_int_keys_with_star(client: MilvusClient, ints) -> None:
    by_id = {r["id"]: r for r in ints}
    got = client.get("qr_int", ids=[4, 7, 499, 10_000], output_fields=["*"], **STRONG)
    assert sorted(r["id"] for r in got) == [4, 7, 499]
    for row in got:
        want = by_id[row["id"]]
        assert {k: row[k] for k in ("grp", "val", "name")} == {
            k: want[k] for k in ("grp", "val", "name")
        }
        np.testing.assert_allclose(row["vector"], want["vector"], rtol=1e-6)
        assert row.get("extra") == want.get("extra")
    # A key asked for twice comes back once.
    assert [r["id"] for r in client.get("qr_int", ids=[5, 5], **STRONG)] == [5]


def test_get_varchar_keys(client: MilvusClient, strs) -> None:
    got = client.get(
        "qr_str", ids=["key00012", "key00499", "nope"], output_fields=["name", "extra"], **STRONG
    )
    by_id = {r["id"]: r for r in got}
    assert set(by_id) == {"key00012", "key00499"}
    assert by_id["key00012"] == {"id": "key00012", "name": "n12", "extra": "even"}
    assert by_id["key00499"] == {"id": "key00499", "name": "n499"}


def test_output_fields(client: MilvusClient, ints) -> None:
    got = client.query("qr_int", filter="id in [2, 3]", output_fields=["name", "extra"], **STRONG)
    by_id = {r["id"]: r for r in got}
    assert by_id[2] == {"id": 2, "name": "n2", "extra": "x"}
    assert by_id[3] == {"id": 3, "name": "n3"}
    star = client.query("qr_int", filter="id == 8", output_fields=["*"], **STRONG)
    assert set(star[0]) == {"id", "grp", "val", "name", "vector", "extra"}
    meta = client.query("qr_int", filter="id == 8", output_fields=["$meta"], **STRONG)
    assert [dict(r) for r in meta] == [{"id": 8, "extra": "even"}]


def test_output_field_unknown_without_dynamic_field(client: MilvusClient) -> None:
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="L2")
    create_indexed(client, "qr_static", schema, index)
    client.insert("qr_static", [{"id": 1, "vector": [0.0] * DIM}])
    with milvus_error(65535, message="field nosuch not exist"):
        client.query("qr_static", filter="id > 0", output_fields=["nosuch"])


# --- query iterator ---------------------------------------------------------------------------


def _drain(iterator: Any) -> list[list[Any]]:
    batches = []
    for _ in range(1000):
        batch = iterator.next()
        if not batch:
            break
        batches.append([r["id"] for r in batch])
    else:  # pragma: no cover - a runaway iterator
        raise AssertionError("query iterator never ended")
    iterator.close()
    return batches


@pytest.mark.parametrize("table", ["qr_int", "qr_str"])
def test_query_iterator_covers_each_row_once(client: MilvusClient, ints, strs, table: str) -> None:
    rows = ints if table == "qr_int" else strs
    expected = [r["id"] for r in rows if r["grp"] < 5]
    batches = _drain(
        client.query_iterator(table, batch_size=37, filter="grp < 5", output_fields=["grp"])
    )
    flat = [i for batch in batches for i in batch]
    assert all(0 < len(batch) <= 37 for batch in batches)
    assert len(flat) == len(set(flat)), "a row came back twice"
    assert sorted(flat) == expected
    assert len(batches) == -(-len(expected) // 37)


def test_query_iterator_limit_and_empty(client: MilvusClient, ints) -> None:
    batches = _drain(client.query_iterator("qr_int", batch_size=30, limit=100, filter="id >= 0"))
    flat = [i for batch in batches for i in batch]
    assert len(flat) == 100 and len(set(flat)) == 100
    assert set(flat) <= {r["id"] for r in ints}
    assert _drain(client.query_iterator("qr_int", batch_size=30, filter="id < 0")) == []


# --- delete by filter ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("no", "expr", "matches"),
    [
        (0, "grp == 3 and val > 0.5", lambda r: r["grp"] == 3 and r["val"] > 0.5),
        (1, 'name like "n1%"', lambda r: r["name"].startswith("n1")),
        (2, 'extra == "x"', lambda r: r.get("extra") == "x"),
        (3, "val * 100 < 7", lambda r: r["val"] * 100 < 7),
    ],
)
def test_delete_by_filter(client: MilvusClient, no: int, expr: str, matches) -> None:
    name = f"qr_del_{no}"
    rows = _create(client, name)
    doomed = {r["id"] for r in rows if matches(r)}
    assert 0 < len(doomed) < N
    result = client.delete(name, filter=expr)
    assert result["delete_count"] == len(doomed)
    assert client.query(name, filter=expr, **STRONG) == []
    left = client.query(name, filter="id >= 0", output_fields=["id"], **STRONG)
    assert {r["id"] for r in left} == {r["id"] for r in rows} - doomed
    assert count(client, name) == N - len(doomed)
    # Flushed or not, the rows stay gone; a second delete finds nothing.
    client.flush(name)
    assert count(client, name) == N - len(doomed)
    assert client.delete(name, filter=expr)["delete_count"] == 0
