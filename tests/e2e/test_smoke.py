"""The quick-start path of the README, end to end through pymilvus."""

from __future__ import annotations

import numpy as np


def test_quick_start_round_trip(milvus) -> None:
    milvus.create_collection("docs", dimension=8, num_shards=2)
    rng = np.random.default_rng(0)
    rows = [{"id": i, "vector": rng.random(8).tolist()} for i in range(50)]
    assert milvus.insert("docs", rows)["insert_count"] == 50
    assert milvus.query("docs", filter="", output_fields=["count(*)"])[0]["count(*)"] == 50
    milvus.flush("docs")
    assert milvus.get_collection_stats("docs")["row_count"] == 50
    hits = milvus.search("docs", [rows[7]["vector"]], limit=1)
    assert hits[0][0]["id"] == 7
