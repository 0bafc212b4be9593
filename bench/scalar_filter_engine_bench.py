"""Filters through the engine with and without a scalar index, same run.

A collection of a million rows (flushed into sealed segments) holds three
INT64 columns with the same values: ``inverted`` (INVERTED index), ``sorted``
(STL_SORT index) and ``plain`` (no index).  Each filter hits about 0.1 % of the
rows: a range ``x >= a and x < a + n/1000``, or an ``in`` list of n/1000 values.
Two figures per filter and column:

* ``filter``: the engine's filter path for a compiled filter over a read
  snapshot, :func:`sluice.engine.reader.matching_rows` for every segment (index
  lookup or column scan, validity, MVCC visibility), which is what query,
  count, delete-by-filter, search and iterators share;
* ``query``: the whole ``engine.query`` returning the matching IDs (parsing,
  binding, snapshot, the filter, result rows), as a Query RPC runs it minus
  the protobuf.  Parsing a 1,000-member ``in`` list costs the same either way.

The target (>= 10x) applies to the filter path.

The engine remembers a filter's row mask per segment snapshot, so every call
uses constants not used before (a cached mask would make both variants a
lookup).  Rounds interleave the three columns so machine noise lands on all of
them; each round checks that the three answers are identical.  The median call
per column is reported with the ratio plain/indexed against the target (>= 10x).

    .venv/bin/python bench/scalar_filter_engine_bench.py             # 1,000,000 rows, 40 rounds
    .venv/bin/python bench/scalar_filter_engine_bench.py --n 200000 --rounds 10
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from sluice.config import Settings
from sluice.engine import DEFAULT_DB, Column, Engine
from sluice.engine.data import compile_rows_filter
from sluice.engine.reader import matching_rows
from sluice.schema import CollectionSchema, DataType, FieldSchema

TARGET = 10.0
NAME = "bench"
COLUMNS = ("inverted", "sorted", "plain")
INDEXES = {"inverted": "INVERTED", "sorted": "STL_SORT"}
BATCH = 100_000


def _schema() -> CollectionSchema:
    return CollectionSchema(
        NAME,
        (
            FieldSchema("id", DataType.INT64, field_id=100, is_primary=True),
            FieldSchema("vec", DataType.FLOAT_VECTOR, field_id=101, dim=2),
            *(FieldSchema(c, DataType.INT64, field_id=102 + i) for i, c in enumerate(COLUMNS)),
        ),
    )


def _load(engine: Engine, values: np.ndarray) -> None:
    n = len(values)
    for start in range(0, n, BATCH):
        stop = min(n, start + BATCH)
        flat = pa.array(np.zeros(2 * (stop - start), dtype=np.float32))
        columns = [
            Column("id", DataType.INT64, pa.array(np.arange(start, stop, dtype=np.int64))),
            Column("vec", DataType.FLOAT_VECTOR, pa.FixedSizeListArray.from_arrays(flat, 2), 2),
            *(Column(c, DataType.INT64, pa.array(values[start:stop])) for c in COLUMNS),
        ]
        engine.insert(DEFAULT_DB, NAME, None, columns, stop - start)
    flushed = engine.flush(DEFAULT_DB, [NAME])
    part = flushed.collections[NAME]
    while not engine.flush_state(DEFAULT_DB, NAME, part.sealed, part.flush_ts, 1.0):
        pass


def _index(engine: Engine) -> None:
    engine.create_index(DEFAULT_DB, NAME, "vec", "", {"index_type": "FLAT", "metric_type": "L2"})
    for column, index_type in INDEXES.items():
        engine.create_index(DEFAULT_DB, NAME, column, "", {"index_type": index_type})
    deadline = time.monotonic() + 600
    while not all(i.finished for i in engine.describe_indexes(DEFAULT_DB, NAME, "")):
        if time.monotonic() > deadline:
            raise RuntimeError("indexes were not built in 10 minutes")
        time.sleep(0.05)
    engine.load(DEFAULT_DB, NAME)


def _query(engine: Engine, expr: str) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    result = engine.query(DEFAULT_DB, NAME, expr, ["id"])
    elapsed = time.perf_counter() - started
    ids = np.sort(result.table.column("id").to_numpy())
    return elapsed, ids


def _filter(engine: Engine, expr: str) -> tuple[float, int]:
    collection = engine.get(DEFAULT_DB, NAME)
    compiled = compile_rows_filter(collection, expr, None, "query")
    snapshot = collection.snapshot(collection.ctx.tso.read_timestamp())
    started = time.perf_counter()
    found = sum(len(matching_rows(view, snapshot, compiled)) for view in snapshot.segments)
    return time.perf_counter() - started, found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    n, span = args.n, max(1, args.n // 1000)
    rng = np.random.default_rng(11)
    values = rng.permutation(n).astype(np.int64)  # unique: a range of n/1000 values hits 0.1 %
    with tempfile.TemporaryDirectory(prefix="sluice-filter-bench-") as folder:
        engine = Engine(Settings(data_dir=Path(folder)))
        try:
            schema = _schema()
            engine.create_collection(DEFAULT_DB, schema)
            started = time.perf_counter()
            _load(engine, values)
            print(f"inserted and flushed {n:,} rows in {time.perf_counter() - started:.1f} s")
            started = time.perf_counter()
            _index(engine)
            print(f"indexes built in {time.perf_counter() - started:.1f} s")
            return _run(engine, n, span, args.rounds, rng)
        finally:
            engine.close()


def _run(engine: Engine, n: int, span: int, rounds: int, rng: np.random.Generator) -> int:
    shapes = {
        "range": lambda c, lo: f"{c} >= {lo} and {c} < {lo + span}",
        "in": lambda c, lo: f"{c} in [{', '.join(str(v) for v in range(lo, lo + 2 * span, 2))}]",
    }
    kinds = ("filter", "query")
    times: dict[tuple[str, str, str], list[float]] = {
        (s, k, c): [] for s in shapes for k in kinds for c in COLUMNS
    }
    for shape, make in shapes.items():
        for _ in range(3):  # warm-up: first calls plan and fill lazy structures
            for column in COLUMNS:
                _query(engine, make(column, int(rng.integers(0, n - 2 * span))))
        for round_no in range(rounds):
            order = COLUMNS[round_no % 3 :] + COLUMNS[: round_no % 3]
            low = int(rng.integers(0, n - 2 * span))
            counts = set()
            for column in order:
                elapsed, found = _filter(engine, make(column, low))
                times[(shape, "filter", column)].append(elapsed)
                counts.add(found)
            low = int(rng.integers(0, n - 2 * span))
            answers = {}
            for column in order:
                elapsed, ids = _query(engine, make(column, low))
                times[(shape, "query", column)].append(elapsed)
                answers[column] = ids
            expected = answers["plain"]
            if len(counts) != 1 or any(not np.array_equal(a, expected) for a in answers.values()):
                print(f"MISMATCH on {shape} at {low}", file=sys.stderr)
                return 1
        hits = len(expected)
        print(f"{shape}: {hits} of {n:,} rows ({100 * hits / n:.2f} %), {rounds} rounds")
    print(f"\n{'filter':7} {'path':7} {'column':9} {'median ms':>10} {'vs plain':>9}")
    ok = True
    for shape in shapes:
        for kind in kinds:
            plain = statistics.median(times[(shape, kind, "plain")])
            for column in COLUMNS:
                median = statistics.median(times[(shape, kind, column)])
                ratio = plain / median
                verdict = ""
                if kind == "filter" and column != "plain":
                    verdict = "PASS" if ratio >= TARGET else "FAIL"
                    ok &= ratio >= TARGET
                print(
                    f"{shape:7} {kind:7} {column:9} {median * 1000:10.3f} {ratio:8.1f}x {verdict}"
                )
    print(
        f"\ntarget: indexed filter >= {TARGET:.0f}x faster than plain: {'met' if ok else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
