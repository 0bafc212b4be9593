"""Run an engine workload and die (``os._exit(9)``) at the Nth call of one crash-safety step.

``python fault_runner.py --data DIR --ledger FILE --first-batch B --batches K
--target T --when before|after --at N``

The engine runs in this process; ``--target`` names the step to interrupt
(see ``TARGETS``) and ``--when`` whether to die just before the Nth call or
just after it returns.  ``--at 0`` never dies and, with ``--census FILE``,
records how many times each step ran, so a test can aim ``--at`` inside the
workload.  Calls are counted from the start of the workload, or with
``--arm-early`` from the start of the process, so that the crash lands in
recovery (the replay and the persistence that follows it).

The workload inserts ``--batches`` batches of ``ROWS`` rows (ids
``batch * ROWS + 0..ROWS-1``) into a two-shard collection, deletes a few
acknowledged ids every third batch and flushes every fourth, then closes the
engine.  Every acknowledgement is appended to ``--ledger`` and fsynced before
the next request, in the JSON-lines format of ``writer.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

ROWS = 100
DIM = 8
COLLECTION = "durable"


def settings(data: Path) -> Any:
    from sluice.config import SegmentSettings, Settings
    from sluice.storage import local_meta

    # Checkpoint the metadata journal often, so crashes land in checkpoints too.
    local_meta.CHECKPOINT_BYTES = 4096

    return Settings(
        data_dir=data,
        wal_file_bytes=16384,
        tick_seconds=0.05,
        segments=SegmentSettings(max_bytes=16384, sync_buffer_bytes=8192),
    )


def targets() -> dict[str, list[tuple[Any, str]]]:
    """Step name → every (owner, attribute) through which the engine reaches that step."""
    from sluice.engine.manifest import Manifest
    from sluice.storage import atomic, local_meta, segment_files, wal
    from sluice.storage.local_meta import LocalMetaStore
    from sluice.storage.segment_files import SegmentFiles
    from sluice.storage.wal import WriteAheadLog

    return {
        # persist (b): a binlog or delta log written and fsynced
        "write_table": [(SegmentFiles, "write_table")],
        # persist (c): the manifest naming the files (and moving checkpoints) committed
        "manifest_save": [(Manifest, "save")],
        # every metadata commit: tso window, id block, catalog, manifests
        "meta_commit": [(LocalMetaStore, "commit")],
        # a metadata checkpoint's snapshot or journal reset
        "write_atomic": [(atomic, "write_atomic"), (local_meta, "write_atomic")],
        # the rename made durable; also new WAL files and segment directories
        "fsync_dir": [
            (atomic, "fsync_dir"),
            (local_meta, "fsync_dir"),
            (wal, "fsync_dir"),
            (segment_files, "fsync_dir"),
        ],
        # persist (a) and every acknowledgement: the WAL fsynced up to a record
        "wal_sync": [(WriteAheadLog, "sync")],
        # WAL files before a committed checkpoint deleted
        "truncate_before": [(WriteAheadLog, "truncate_before")],
        # a new WAL file started
        "rotate": [(WriteAheadLog, "_rotate")],
    }


def arm(target: str, when: str, at: int, counts: Counter[str]) -> None:
    lock = threading.Lock()
    all_targets = targets()

    def wrap(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def step(*args: Any, **kwargs: Any) -> Any:
            with lock:
                counts[name] += 1
                n = counts[name]
            hit = name == target and n == at
            if hit and when == "before":
                os._exit(9)
            result = original(*args, **kwargs)
            if hit and when == "after":
                os._exit(9)
            return result

        return step

    for name, owners in all_targets.items():
        for owner, attr in owners:
            setattr(owner, attr, wrap(name, getattr(owner, attr)))


class Ledger:
    def __init__(self, path: Path) -> None:
        self._fh = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the process

    def write(self, entry: dict[str, Any], *, durable: bool = True) -> None:
        self._fh.write(json.dumps(entry) + "\n")
        self._fh.flush()
        if durable:
            os.fsync(self._fh.fileno())


def columns(ids: np.ndarray) -> list[Any]:
    from sluice.engine.ingest import Column
    from sluice.schema import DataType

    vectors = np.sin(ids.astype(np.float64)[:, None] * (np.arange(DIM) + 1) * 0.001)
    flat = pa.array(vectors.astype(np.float32).reshape(-1))
    return [
        Column("id", DataType.INT64, pa.array(ids)),
        Column("vector", DataType.FLOAT_VECTOR, pa.FixedSizeListArray.from_arrays(flat, DIM), DIM),
    ]


def ensure_collection(engine: Any) -> None:
    from sluice.schema import CollectionSchema, DataType, FieldSchema

    if engine.has_collection("default", COLLECTION):
        return
    schema = CollectionSchema(
        COLLECTION,
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("vector", DataType.FLOAT_VECTOR, dim=DIM),
        ),
    )
    engine.create_collection("default", schema, shards_num=2)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--ledger", required=True, type=Path)
    parser.add_argument("--first-batch", type=int, default=0)
    parser.add_argument("--batches", type=int, default=24)
    parser.add_argument("--target", default="write_table")
    parser.add_argument("--when", choices=["before", "after"], default="before")
    parser.add_argument("--at", type=int, default=0)
    parser.add_argument("--census", type=Path)
    parser.add_argument(
        "--arm-early", action="store_true", help="count from engine start: crash during recovery"
    )
    args = parser.parse_args()

    from sluice.engine.engine import Engine

    counts: Counter[str] = Counter()
    if args.arm_early:
        arm(args.target, args.when, args.at, counts)
    engine = Engine(settings(args.data))
    ensure_collection(engine)
    if not args.arm_early:
        arm(args.target, args.when, args.at, counts)
    ledger = Ledger(args.ledger)
    acked: list[int] = []
    for n, batch in enumerate(range(args.first_batch, args.first_batch + args.batches), 1):
        ids = np.arange(batch * ROWS, (batch + 1) * ROWS, dtype=np.int64)
        ledger.write({"op": "insert-start", "batch": batch}, durable=False)
        engine.insert("default", COLLECTION, None, columns(ids), ROWS)
        ledger.write({"op": "insert-ack", "batch": batch})
        acked.append(batch)
        if n % 3 == 0 and len(acked) > 1:
            base = acked[-2] * ROWS
            keys = [base + n % ROWS, base + (n * 7) % ROWS]
            ledger.write({"op": "delete-start", "ids": keys}, durable=False)
            engine.delete("default", COLLECTION, None, f"id in {keys}", None)
            ledger.write({"op": "delete-ack", "ids": keys})
        if n % 4 == 0:
            ledger.write({"op": "flush-start"}, durable=False)
            result = engine.flush("default", [COLLECTION]).collections[COLLECTION]
            ledger.write(
                {"op": "flush-ack", "segments": result.sealed, "flush_ts": result.flush_ts}
            )
    engine.close()
    if args.census is not None:
        args.census.write_text(json.dumps(dict(counts)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
