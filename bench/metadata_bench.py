"""Metadata cost after many flushes with deletes: with and without compaction.

An embedded engine (``sluice.connect``) on a fresh folder takes ``--flushes``
rounds of "insert 20 rows, delete 5, flush" into one collection, twice: once
with automatic compaction off and once with it on (``[compaction]
interval_seconds`` 0.2).  Reported for each: segments in the manifest (data and
delete segments), the manifest's size in the metadata store, and the time to
build a read snapshot (the per-read cost that grows with segments), the
median of 2,000 builds.

    .venv/bin/python bench/metadata_bench.py                  # 1,000 flushes each
    .venv/bin/python bench/metadata_bench.py --flushes 200
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import sluice
from sluice.config import Settings
from sluice.config.sections import CompactionSettings
from sluice.engine.manifest import Manifest

DIM = 8
NAME = "meta"


def run(flushes: int, compaction: bool) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="sluice-meta-"))
    settings = Settings(
        data_dir=folder,
        compaction=CompactionSettings(auto=compaction, interval_seconds=0.2),
    )
    client = sluice.connect(str(folder), settings=settings)
    client.create_collection(NAME, DIM)
    rng = np.random.default_rng(0)
    next_id = 0
    for _ in range(flushes):
        ids = list(range(next_id, next_id + 20))
        next_id += 20
        client.insert(NAME, [{"id": i, "vector": rng.random(DIM).tolist()} for i in ids])
        client.delete(NAME, ids=ids[:5])
        client.flush(NAME).wait()
    if compaction:
        time.sleep(2.0)  # let the last passes finish
    engine = client._engine  # type: ignore[attr-defined]
    collection = engine.get("default", NAME)
    raw = engine.stores.meta.get(Manifest.key(collection.id)) or b""
    segments = list(collection.segments())
    took = []
    for _ in range(2000):
        started = time.perf_counter()
        collection.snapshot(engine.ctx.tso.allocate())
        took.append(time.perf_counter() - started)
    client.close()
    return {
        "data segments": sum(1 for s in segments if s.level.name != "L0"),
        "delete segments": sum(1 for s in segments if s.level.name == "L0"),
        "manifest KB": len(raw) / 1024,
        "snapshot us": statistics.median(took) * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--flushes", type=int, default=1000)
    args = parser.parse_args()
    without = run(args.flushes, compaction=False)
    with_ = run(args.flushes, compaction=True)
    print(f"after {args.flushes} flushes with deletes   without compaction   with compaction")
    for key in without:
        print(f"  {key:<22} {without[key]:>18.1f}   {with_[key]:>15.1f}")


if __name__ == "__main__":
    main()
