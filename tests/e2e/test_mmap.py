"""mmap.enabled: sealed segments served from memory-mapped files, and vectors held once.

Each test reads the server's own ``/proc/<pid>/maps`` and ``status``: a
mapped column or index shows up as a mapping of its file, and anonymous
memory (``RssAnon``) grows by much less than the data it serves.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import SluiceProcess, milvus_error, wait_for, write_config
from pymilvus import DataType, MilvusClient

DIM = 32


def _maps(server: SluiceProcess) -> str:
    assert server.proc is not None
    return Path(f"/proc/{server.proc.pid}/maps").read_text()


def _rss_anon_bytes(server: SluiceProcess) -> int:
    assert server.proc is not None
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no RssAnon line")


def _schema(client: MilvusClient, dim: int = DIM):  # type: ignore[no-untyped-def]
    schema = client.create_schema(enable_dynamic_field=True)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("title", DataType.VARCHAR, max_length=64)
    schema.add_field("score", DataType.DOUBLE)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
    return schema


def _rows(n: int, dim: int = DIM, seed: int = 0) -> tuple[list[dict], np.ndarray]:
    rng = np.random.default_rng(seed)
    vectors = rng.random((n, dim), dtype=np.float32)
    rows = [
        {"id": i, "title": f"t{i}", "score": i / 7, "vec": vectors[i], "extra": i % 5}
        for i in range(n)
    ]
    return rows, vectors


def _fill(client: MilvusClient, name: str, n: int, dim: int = DIM) -> np.ndarray:
    rows, vectors = _rows(n, dim)
    for start in range(0, n, 5000):
        client.insert(name, rows[start : start + 5000])
    client.flush(name)
    return vectors


def _wait_indexed(client: MilvusClient, name: str, index_name: str = "vec") -> None:
    def done() -> bool:
        info = client.describe_index(name, index_name)
        return int(info["pending_index_rows"]) == 0 and int(info["indexed_rows"]) > 0

    wait_for(done, timeout=120, what=f"index {index_name} of {name} built")


def _check_contents(client: MilvusClient, name: str, vectors: np.ndarray) -> None:
    n = len(vectors)
    got = client.query(name, "id >= 0", output_fields=["*"], limit=n)
    assert len(got) == n
    by_id = {r["id"]: r for r in got}
    for i in (0, n // 2, n - 1):
        row = by_id[i]
        assert row["title"] == f"t{i}" and row["score"] == pytest.approx(i / 7)
        assert row["extra"] == i % 5
        assert np.array_equal(np.asarray(row["vec"], dtype=np.float32), vectors[i])
    hits = client.search(name, [vectors[3]], anns_field="vec", limit=3, filter="score > 0.1")
    assert hits[0][0]["id"] == 3
    exact = np.argsort(((vectors - vectors[11]) ** 2).sum(axis=1))[:5]
    hits = client.search(name, [vectors[11]], anns_field="vec", limit=5)
    assert [h["id"] for h in hits[0]] == exact.tolist()


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[SluiceProcess]:
    proc = SluiceProcess(tmp_path / "data").start()
    try:
        yield proc
    finally:
        proc.kill()


def test_a_collection_with_mmap_enabled_is_served_from_mapped_files_across_restarts(
    server: SluiceProcess,
) -> None:
    client = MilvusClient(server.uri)
    name = "mapped"
    client.create_collection(name, schema=_schema(client), properties={"mmap.enabled": "true"})
    index = client.prepare_index_params()
    index.add_index("vec", index_type="IVF_FLAT", metric_type="L2", params={"nlist": 8})
    client.create_index(name, index)
    vectors = _fill(client, name, 3000)
    _wait_indexed(client, name)
    client.load_collection(name)
    mmap_dir = server.data_dir / "mmap"
    cid = client.describe_collection(name)["collection_id"]

    def mapped() -> bool:
        maps = _maps(server)
        return f"mmap/{cid}/" in maps and "index_files" in maps

    wait_for(mapped, timeout=30, what="segment files mapped")
    files = {p.name for p in (mmap_dir / str(cid)).rglob("*") if p.is_file()}
    assert any(f.startswith("field-") for f in files)  # IVF_FLAT keeps no raw vectors
    assert any(f.startswith("scalars-") for f in files)
    assert {"pk.npy", "ts.npy"} <= files
    _check_contents(client, name, vectors)
    client.close()

    server.kill()
    server.start()
    client = MilvusClient(server.uri)
    wait_for(mapped, timeout=30, what="segment files mapped after a restart")
    _check_contents(client, name, vectors)
    # A delete still hides rows served from a map.
    client.delete(name, filter="id in [3, 4]")
    assert client.query(name, "id in [3, 4]", output_fields=["id"]) == []
    client.close()


def test_alter_index_sets_mmap_with_milvus_checks_and_the_next_load_maps_the_index(
    server: SluiceProcess,
) -> None:
    client = MilvusClient(server.uri)
    name = "alter_index_mmap"
    client.create_collection(name, schema=_schema(client))
    index = client.prepare_index_params()
    index.add_index("vec", index_type="HNSW", metric_type="L2", params={"M": 8})
    client.create_index(name, index)
    vectors = _fill(client, name, 2000)
    _wait_indexed(client, name)
    client.load_collection(name)
    assert "index_files" not in _maps(server)

    with milvus_error(104, match="can't alter index on loaded collection"):
        client.alter_index_properties(name, "vec", {"mmap.enabled": True})
    client.release_collection(name)
    with milvus_error(1100, match="^nlist is not configable index param"):
        client.alter_index_properties(name, "vec", {"nlist": 3})
    with milvus_error(1100, match="invalid mmap.enabled value: maybe, expected: true, false"):
        client.alter_index_properties(name, "vec", {"mmap.enabled": "maybe"})
    with milvus_error(700, match=r"index not found\[indexName=nope\]"):
        client.alter_index_properties(name, "nope", {"mmap.enabled": True})

    client.alter_index_properties(name, "vec", {"mmap.enabled": True})
    assert client.describe_index(name, "vec")["mmap.enabled"] == "True"
    client.load_collection(name)
    assert "index_files" in _maps(server)
    _check_contents(client, name, vectors)

    client.release_collection(name)
    client.drop_index_properties(name, "vec", ["mmap.enabled"])
    assert "mmap.enabled" not in client.describe_index(name, "vec")
    client.load_collection(name)
    _check_contents(client, name, vectors)
    client.close()


def _config(tmp_path: Path, mmap: bool) -> Path:
    text = "[mmap]\nvector_field = true\nvector_index = true\nscalar_field = true\n"
    return write_config(tmp_path, text if mmap else "")


@pytest.mark.parametrize("mmap", [True, False], ids=["mmap", "in-memory"])
def test_anonymous_memory_after_a_restart_stays_below_the_data_it_serves(
    tmp_path: Path, mmap: bool
) -> None:
    """mmap: RssAnon grows by ≤ 0.5× the raw vectors; in memory: vectors are held once.

    A FLAT index stores the vectors, so in memory the segment reads them from
    the index instead of a second copy: the growth stays well under the 2×
    that holding them twice would cost (keys, timestamps, the key index and
    allocator slack make up the rest).
    """
    n, dim = 120_000, 128
    config = _config(tmp_path, mmap)
    server = SluiceProcess(tmp_path / "data", config=config).start()
    try:
        client = MilvusClient(server.uri)
        schema = client.create_schema()
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vec", DataType.FLOAT_VECTOR, dim=dim)
        client.create_collection("big", schema=schema)
        index = client.prepare_index_params()
        index.add_index("vec", index_type="FLAT", metric_type="L2")
        client.create_index("big", index)
        rng = np.random.default_rng(5)
        vectors = rng.random((n, dim), dtype=np.float32)
        for start in range(0, n, 20_000):
            ids = list(range(start, start + 20_000))
            client.insert("big", [{"id": i, "vec": vectors[i]} for i in ids])
        client.flush("big")
        _wait_indexed(client, "big")
        client.close()
        server.kill()
        # The same server settings on an empty folder: what the process needs anyway.
        empty = SluiceProcess(tmp_path / "empty", config=config).start()
        try:
            warm = MilvusClient(empty.uri)
            warm.list_collections()
            baseline = _rss_anon_bytes(empty)
            warm.close()
        finally:
            empty.kill()
        server.start(timeout=120)
        client = MilvusClient(server.uri)
        client.load_collection("big")
        hits = client.search("big", [vectors[42]], anns_field="vec", limit=1)
        assert hits[0][0]["id"] == 42
        got = client.query("big", "id in [7, 99999]", output_fields=["vec"])
        by_id = {r["id"]: np.asarray(r["vec"], dtype=np.float32) for r in got}
        assert np.array_equal(by_id[7], vectors[7]) and np.array_equal(by_id[99999], vectors[99999])
        grown = _rss_anon_bytes(server) - baseline
        client.close()
    finally:
        server.kill()
    raw = vectors.nbytes
    limit = 0.5 if mmap else 1.6
    assert grown <= limit * raw, f"RssAnon grew {grown / raw:.2f}x the raw vectors"
