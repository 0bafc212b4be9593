"""Scalar indexes end to end: declared, built, persisted, used, and never changing an answer.

One collection holds every index family Milvus offers for these types (INVERTED,
STL_SORT, BITMAP, TRIE, NGRAM, scalar AUTOINDEX, JSON path indexes on a JSON
field and on a dynamic key) over two shards, with flushed and growing rows,
deletes and upserts.  Each filter's answer (matching keys, ``count(*)`` and a
filtered FLAT search) is recorded before any scalar index exists and must stay
identical after the indexes are built, after the growing rows are flushed and
indexed, after a restart (indexes loaded from their files, not rebuilt) and
after an index file is damaged (logged, rebuilt from the segment).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import SluiceProcess, milvus_error, wait_for
from pymilvus import DataType, MilvusClient

from tests import remote_backends

NAME = "sidx"
DIM = 4
N = 2400
FLUSH_AT = (900, 1800)  # two flushes, so some segments hold older and newer rows
STRONG = {"consistency_level": "Strong"}
WORDS = ("apple", "apricot", "banana", "cherry", "grape", "kiwi", "melon", "pear")
DELETED = [i for i in range(N) if i % 37 == 5]
UPSERTED = list(range(0, N, 97))

FILTERS = [
    "i64 == 42",
    "i64 != 42",
    "i64 < 10",
    "i64 >= 990",
    "i64 > 100 and i64 <= 130",
    "i64 in [1, 2, 3, 500, 999, 12345]",
    "i64 not in [1, 2, 3]",
    "i32 == 7",
    "i32 is null",
    "i32 > 45 or i32 < 2",
    "d > 0.9",
    "d >= 0.25 and d < 0.26",
    "f == 1.5",
    "f in [0.5, 2.25]",
    "b == true",
    "b == false and i64 < 50",
    'tag == "t3"',
    'tag in ["t1", "t9"]',
    'tag != "t0"',
    's == "banana"',
    's like "ap%"',
    's > "grape"',
    'w like "%an%"',
    'w like "%rry"',
    'w like "pe_r%"',
    'j["a"] == 3',
    'j["a"] > 7',
    'j["a"] in [1, 4]',
    'j["t"] == "x2"',
    'j["t"] like "x1%"',
    'j["g"] == "g1"',
    "dk == 5",
    "dk >= 8",
    "id in [0, 5, 97, 2399, 99999]",
    "id == 1234",
    'not (i64 < 500) and tag == "t2"',
    'j["a"] == 3 and i64 > 500',
]


def _rows(ids: range | list[int], version: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng([version, ids[0], len(ids)])
    rows = []
    for i in ids:
        row: dict[str, Any] = {
            "id": i,
            "vector": rng.standard_normal(DIM).astype(np.float32).tolist(),
            "i64": (i * 7 + version) % 1000,
            "i32": None if i % 11 == 0 else (i + version) % 50,
            "f": float((i % 12) / 4),
            "d": float(rng.random()),
            "b": bool((i + version) % 3 == 0),
            "tag": f"t{(i + version) % 10}",
            "s": WORDS[(i + version) % len(WORDS)],
            "w": WORDS[(i * 3) % len(WORDS)] + ("berry" if i % 5 == 0 else ""),
            "j": {"a": (i + version) % 9, "t": f"x{i % 13}", "g": f"g{i % 3}"},
        }
        if i % 4:
            row["dk"] = (i + version) % 10
        rows.append(row)
    return rows


def _schema(client: MilvusClient) -> Any:
    schema = client.create_schema(enable_dynamic_field=True)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("i64", DataType.INT64)
    schema.add_field("i32", DataType.INT32, nullable=True)
    schema.add_field("f", DataType.FLOAT)
    schema.add_field("d", DataType.DOUBLE)
    schema.add_field("b", DataType.BOOL)
    schema.add_field("tag", DataType.VARCHAR, max_length=8)
    schema.add_field("s", DataType.VARCHAR, max_length=16)
    schema.add_field("w", DataType.VARCHAR, max_length=16)
    schema.add_field("j", DataType.JSON)
    return schema


SCALAR_INDEXES: list[tuple[str, str, dict[str, str]]] = [
    ("i64", "INVERTED", {}),
    ("i32", "AUTOINDEX", {}),
    ("f", "INVERTED", {}),
    ("d", "STL_SORT", {}),
    ("b", "BITMAP", {}),
    ("tag", "BITMAP", {}),
    ("s", "TRIE", {}),
    ("w", "NGRAM", {"min_gram": "2", "max_gram": "3"}),
    ("j", "INVERTED", {"json_path": 'j["a"]', "json_cast_type": "DOUBLE"}),
    ("j", "STL_SORT", {"json_path": "j['t']", "json_cast_type": "varchar"}),
    ("j", "BITMAP", {"json_path": 'j["g"]', "json_cast_type": "VARCHAR"}),
    ("dk", "AUTOINDEX", {"json_cast_type": "double"}),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SluiceProcess]:
    proc = SluiceProcess(tmp_path_factory.mktemp("sidx") / "data").start()
    try:
        yield proc
    finally:
        proc.kill()


def _client(server: SluiceProcess) -> MilvusClient:
    return MilvusClient(server.uri)


def _answers(client: MilvusClient) -> dict[str, tuple[list[int], int, list[int]]]:
    query = np.ones(DIM, dtype=np.float32).tolist()
    out = {}
    for expr in FILTERS:
        keys = sorted(
            r["id"] for r in client.query(NAME, expr, output_fields=["id"], limit=16384, **STRONG)
        )
        total = client.query(NAME, expr, output_fields=["count(*)"], **STRONG)[0]["count(*)"]
        hits = client.search(NAME, [query], filter=expr, limit=10, **STRONG)[0]
        out[expr] = (keys, int(total), [h["id"] for h in hits])
    return out


def _build(client: MilvusClient) -> None:
    params = client.prepare_index_params()
    for field, index_type, extra in SCALAR_INDEXES:
        params.add_index(field, index_type=index_type, params=extra)
    client.create_index(NAME, params, sync=False)


def _all_built(client: MilvusClient) -> bool:
    for name in client.list_indexes(NAME):
        info = client.describe_index(NAME, name)
        if info["state"] != "Finished" or info["indexed_rows"] != info["total_rows"]:
            return False
    return True


def _flush(client: MilvusClient) -> None:
    client.flush(NAME)
    wait_for(lambda: _all_built(client), what="every index built")


def test_answers_never_depend_on_indexes(server: SluiceProcess) -> None:
    client = _client(server)
    params = client.prepare_index_params()
    params.add_index("vector", index_type="FLAT", metric_type="L2")
    client.create_collection(NAME, schema=_schema(client), index_params=params, num_shards=2)
    for start in range(0, N, 600):
        client.insert(NAME, _rows(range(start, min(N, start + 600)), 0))
        if start + 600 in FLUSH_AT:
            client.flush(NAME)
    client.delete(NAME, ids=DELETED)
    client.upsert(NAME, _rows(UPSERTED, 1))
    baseline = _answers(client)
    assert sum(1 for k, _, _ in baseline.values() if k) >= 30, "filters should match rows"

    _build(client)
    wait_for(lambda: _all_built(client), what="scalar indexes built")
    assert _answers(client) == baseline

    _flush(client)  # the growing rows become indexed segments too
    assert _answers(client) == baseline
    client.close()

    server.restart()
    client = _client(server)
    assert _all_built(client), "indexes are loaded at start-up"
    log = server.log().rsplit("engine open at", 1)[-1]
    assert "building" not in log, "a restart must load index files, not rebuild them"
    assert _answers(client) == baseline
    client.close()


def test_described_as_milvus_describes_them(server: SluiceProcess) -> None:
    client = _client(server)
    names = client.list_indexes(NAME)
    assert {"i64", "tag", "j/a", "j/t", "j/g", "$meta/dk", "vector"} <= set(names)
    path = client.describe_index(NAME, "j/t")
    assert path["field_name"] == "j"
    assert path["index_type"] == "STL_SORT"
    assert path["json_path"] == "j['t']"
    assert path["json_cast_type"] == "varchar"
    key = client.describe_index(NAME, "$meta/dk")
    assert key["field_name"] == "dk" and key["index_type"] == "AUTOINDEX"
    assert client.describe_index(NAME, "w")["min_gram"] == "2"
    # A repeated CreateIndex with the same definitions is accepted and changes nothing.
    before = {n: client.describe_index(NAME, n)["index_type"] for n in names}
    _build(client)
    assert {n: client.describe_index(NAME, n)["index_type"] for n in names} == before
    client.close()


def test_damaged_index_file_is_rebuilt(server: SluiceProcess) -> None:
    if remote_backends.requested():
        pytest.skip("index files live in the object store")
    client = _client(server)
    expected = _answers(client)
    client.close()
    server.stop()
    clean = _check(server.data_dir)
    assert clean.returncode == 0, clean.stdout  # scalar index files load in `sluice check` too
    files = sorted(Path(server.data_dir).rglob("*.slix"))
    damaged = 0
    for path in files:
        data = bytearray(path.read_bytes())
        if data.startswith(b"SLSCIDX"):  # a scalar index: flip one bit deep inside
            data[len(data) // 2] ^= 0x04
            path.write_bytes(bytes(data))
            damaged += 1
    assert damaged >= len(SCALAR_INDEXES)
    report = _check(server.data_dir)
    assert report.returncode == 1
    assert report.stdout.count("checksum does not match") == damaged
    server.start()
    client = _client(server)
    assert re.search(r"cannot be loaded, rebuilding it: .*checksum", server.log())
    assert _answers(client) == expected
    wait_for(lambda: _all_built(client), what="damaged indexes rebuilt")
    assert _answers(client) == expected
    client.close()


def _check(data_dir: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "sluice", "check", str(data_dir)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_index_rules(server: SluiceProcess) -> None:
    client = _client(server)
    name = "rules"
    schema = client.create_schema(enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("n", DataType.INT64)
    schema.add_field("m", DataType.JSON)
    params = client.prepare_index_params()
    params.add_index("vector", index_type="FLAT", metric_type="L2")
    params.add_index("n", index_type="STL_SORT", index_name="n_sorted")
    client.create_collection(name, schema=schema, index_params=params)

    def index(field: str, index_type: str, index_name: str = "", **extra: str) -> None:
        one = client.prepare_index_params()
        one.add_index(field, index_type=index_type, index_name=index_name, params=extra)
        client.create_index(name, one, sync=False)

    index("n", "STL_SORT", "n_sorted")  # the same definition again: accepted
    message = "CreateIndex failed: at most one distinct index is allowed per field"
    with milvus_error(1100, match=message):
        index("n", "INVERTED", "n_sorted")
    with milvus_error(
        65535,
        message="CreateIndex failed: creating multiple indexes on same field is not supported",
    ):
        index("n", "INVERTED", "n_inverted")
    with milvus_error(1100, match="TRIE are only supported on varchar field"):
        index("n", "TRIE", "trie")
    with milvus_error(65535, message="cannot create index on non-exist field: nope"):
        index("nope", "INVERTED", json_cast_type="double", json_path="nope['a']")
    # One index per JSON path; the same path twice under two names is refused.
    index("m", "INVERTED", json_path='m["a"]', json_cast_type="double")
    index("m", "INVERTED", json_path='m["b"][0]', json_cast_type="varchar")
    assert {"m/a", "m/b/0"} <= set(client.list_indexes(name))
    with milvus_error(65535, match="creating multiple indexes on same field is not supported"):
        index("m", "INVERTED", "again", json_path="m['a']", json_cast_type="double")
    with milvus_error(65535, message="cannot parse identifier: 1"):
        index("m", "INVERTED", "bad", json_path="1", json_cast_type="double")
    with milvus_error(65535, match=r"^cannot parse identifier: /, error: .*mismatched input '/'"):
        index("m", "INVERTED", "bad", json_path="/", json_cast_type="double")
    with milvus_error(1101, match="json index must specify cast type"):
        index("m", "INVERTED", "bad", json_path="m['c']")
    # Scalar indexes drop while loaded; a vector index does not.
    client.drop_index(name, "m/a")
    assert "m/a" not in client.list_indexes(name)
    with milvus_error(1100, match="^vector index cannot be dropped on loaded collection: "):
        client.drop_index(name, "vector")
    client.drop_collection(name)
    client.close()


def test_point_reads_see_every_version_correctly(server: SluiceProcess) -> None:
    client = _client(server)
    # Same rows as the indexed collection, with the growing part after the last flush.
    got = {r["id"]: r for r in client.get(NAME, ids=[5, 6, 97, 194, 2399, 5000], **STRONG)}
    assert 5 not in got and 5000 not in got  # deleted, never inserted
    assert got[6]["i64"] == (6 * 7) % 1000
    assert got[97]["i64"] == (97 * 7 + 1) % 1000  # upserted: the newer version only
    assert set(got) == {6, 97, 194, 2399}

    name = "strings"
    schema = client.create_schema(enable_dynamic_field=False)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=32)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    params = client.prepare_index_params()
    params.add_index("vector", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=params)
    keys = ["a", "b,c", 'say "hi"', "ä", "z" * 32]  # pymilvus quotes keys with ' unescaped
    client.insert(name, [{"pk": k, "vector": [0.0] * DIM} for k in keys])
    client.flush(name)
    client.insert(name, [{"pk": "late", "vector": [1.0] * DIM}])
    for key in [*keys, "late"]:
        assert [r["pk"] for r in client.get(name, ids=[key], **STRONG)] == [key]
    assert client.get(name, ids=["missing"], **STRONG) == []
    found = client.query(name, "pk in ['a', 'late', 'a']", output_fields=["pk"], **STRONG)
    assert sorted(r["pk"] for r in found) == ["a", "late"]
    client.delete(name, ids=["b,c", "late"])
    left = client.get(name, ids=["b,c", "late", "a"], output_fields=["pk"], **STRONG)
    assert [r["pk"] for r in left] == ["a"]
    client.drop_collection(name)
    client.close()


def test_reads_under_concurrent_inserts_use_growing_rows(server: SluiceProcess) -> None:
    """Gets keep finding rows appended to a growing segment after its key index was built."""
    client = _client(server)
    name = "growing"
    schema = client.create_schema(enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    params = client.prepare_index_params()
    params.add_index("vector", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=params)
    deadline = time.monotonic() + 60
    for batch in range(40):
        ids = list(range(batch * 300, batch * 300 + 300))
        client.insert(name, [{"id": i, "vector": [0.0] * DIM} for i in ids])
        probe = [ids[0], ids[-1], batch * 150]
        assert {r["id"] for r in client.get(name, ids=probe, **STRONG)} == set(probe)
        assert time.monotonic() < deadline
    client.drop_collection(name)
    client.close()
