"""A released collection is not read at start-up: LoadCollection reads it, as in Milvus.

The server's own ``/proc/<pid>/status`` shows it: after a restart, a server
whose only collection is released holds far less anonymous memory
(``RssAnon``) than once that collection is loaded, and every answer after the
load equals the answer before the restart.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from helpers import SluiceProcess, wait_for
from pymilvus import DataType, MilvusClient

N, DIM = 200_000, 128
NAME = "big"


def _rss_anon_bytes(server: SluiceProcess) -> int:
    assert server.proc is not None
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no RssAnon line")


def _answers(client: MilvusClient, vectors: np.ndarray) -> tuple[list, list]:
    queries = [vectors[i] for i in (0, 4242, N - 1)] + [np.full(DIM, 0.5, dtype=np.float32)]
    hits = client.search(NAME, queries, anns_field="vec", limit=10, output_fields=["tag"])
    found = [[(h["id"], round(h["distance"], 3), h["entity"]["tag"]) for h in q] for q in hits]
    rows = client.query(NAME, "id in [0, 7, 99999, 199999]", output_fields=["vec", "tag"])
    stored = sorted((r["id"], r["tag"], np.asarray(r["vec"], np.float32).tobytes()) for r in rows)
    return found, stored


def test_a_released_collection_stays_on_disk_after_a_restart_until_it_is_loaded(
    tmp_path: Path,
) -> None:
    server = SluiceProcess(tmp_path / "data").start()
    try:
        client = MilvusClient(server.uri)
        schema = client.create_schema()
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("tag", DataType.VARCHAR, max_length=16)
        schema.add_field("vec", DataType.FLOAT_VECTOR, dim=DIM)
        client.create_collection(NAME, schema=schema)
        index = client.prepare_index_params()
        index.add_index("vec", index_type="FLAT", metric_type="L2")
        client.create_index(NAME, index)
        vectors = np.random.default_rng(11).random((N, DIM), dtype=np.float32)
        for start in range(0, N, 20_000):
            client.insert(
                NAME,
                [
                    {"id": i, "tag": f"t{i % 13}", "vec": vectors[i]}
                    for i in range(start, start + 20_000)
                ],
            )
        client.flush(NAME)

        def indexed() -> bool:
            info = client.describe_index(NAME, "vec")
            return int(info["pending_index_rows"]) == 0 and int(info["indexed_rows"]) == N

        wait_for(indexed, timeout=180, what="the index built")
        client.load_collection(NAME)
        before = _answers(client, vectors)
        client.release_collection(NAME)
        client.close()
        server.kill()

        server.start(timeout=120)
        client = MilvusClient(server.uri)
        assert client.get_collection_stats(NAME)["row_count"] == N
        assert client.get_load_state(NAME)["state"].name == "NotLoad"
        info = client.describe_index(NAME, "vec")
        assert int(info["indexed_rows"]) == N and int(info["pending_index_rows"]) == 0
        released = _rss_anon_bytes(server)
        client.load_collection(NAME)
        assert _answers(client, vectors) == before
        loaded = _rss_anon_bytes(server)
        client.release_collection(NAME)
        # Released again: the rows leave memory (the allocator hands them back).
        wait_for(
            lambda: _rss_anon_bytes(server) < loaded - 0.5 * vectors.nbytes,
            timeout=30,
            what="memory freed by ReleaseCollection",
        )
        client.close()
    finally:
        server.kill()
    raw = vectors.nbytes
    # Loaded, the vectors are held once (in the FLAT index): about ``raw`` more.
    assert loaded - released >= 0.6 * raw, (
        f"released {released / 2**20:.0f} MiB, loaded {loaded / 2**20:.0f} MiB, "
        f"raw vectors {raw / 2**20:.0f} MiB"
    )
