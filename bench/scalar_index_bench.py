"""Filter evaluation with and without a scalar index, in-process, same run.

A million-row INT64 column; filters that hit about 0.1 % of it (a range, an
equality on a low-cardinality column, an ``in`` list).  Each filter is
evaluated by :func:`sluice.query.evaluate` twice per round, once scanning
and once through the index hook with an INVERTED and an STL_SORT index, and
the masks are checked equal.  Each round runs every variant in a short burst
(``--burst`` calls, the steady state of a repeated filter: a scan streams 8 MB
through the cache and would otherwise leave the next variant's first call
cold) and rounds interleave the variants, so machine noise lands on all of
them.  The median call per variant is reported, and the ratio scan/index is
compared with the target (>= 10x).

    .venv/bin/python bench/scalar_index_bench.py            # 1,000,000 rows, 30 rounds
    .venv/bin/python bench/scalar_index_bench.py --n 200000 --rounds 10
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import pyarrow as pa

from sluice.index.scalar import SegmentIndexes, build_scalar_index, parse_scalar_index_spec
from sluice.query import compile_filter, evaluate
from sluice.schema import CollectionSchema, DataType, FieldSchema

TARGET = 10.0


def _schema() -> CollectionSchema:
    return CollectionSchema(
        "bench",
        (
            FieldSchema("id", DataType.INT64, field_id=100, is_primary=True),
            FieldSchema("wide", DataType.INT64, field_id=101),
            FieldSchema("narrow", DataType.INT64, field_id=102),
        ),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--burst", type=int, default=5)
    args = parser.parse_args()
    n = args.n
    rng = np.random.default_rng(7)
    wide = rng.integers(0, n, size=n, dtype=np.int64)  # ~unique: a 0.1 % range is n/1000 wide
    narrow = rng.integers(0, 1000, size=n, dtype=np.int64)  # one value is ~0.1 % of rows
    table = pa.table({"id": np.arange(n), "wide": wide, "narrow": narrow})
    schema = _schema()
    span = n // 1000
    members = ", ".join(str(v) for v in rng.choice(n, size=span, replace=False))
    filters = {
        "range": f"wide >= {n // 2} and wide < {n // 2 + span}",
        "equality": "narrow == 417",
        "in": f"wide in [{members}]",
    }
    lookups = {}
    for index_type in ("INVERTED", "STL_SORT"):
        built = {}
        for name in ("wide", "narrow"):
            field = schema.get(name)
            assert field is not None
            started = time.perf_counter()
            spec = parse_scalar_index_spec(field, index_type, {})
            built[(name, ())] = build_scalar_index(spec, table.column(name))
            print(f"build {index_type:8} {name:6} {time.perf_counter() - started:6.2f} s")
        lookups[index_type] = SegmentIndexes(n, built)

    print(
        f"\n{n:,} rows, {args.rounds} interleaved rounds of {args.burst}-call bursts,"
        " median per evaluation"
    )
    print(f"{'filter':9} {'hits':>6} {'scan':>9} {'INVERTED':>9} {'STL_SORT':>9} {'ratio':>13}")
    worst = float("inf")
    for label, text in filters.items():
        bound = compile_filter(text, schema)
        assert bound is not None
        timings: dict[str, list[float]] = {"scan": [], "INVERTED": [], "STL_SORT": []}
        reference = evaluate(bound, table)
        for _ in range(args.rounds):
            for variant in timings:
                lookup = lookups.get(variant)
                for _ in range(args.burst):
                    started = time.perf_counter()
                    mask = evaluate(bound, table, index=lookup)
                    timings[variant].append(time.perf_counter() - started)
                if not np.array_equal(mask, reference):
                    print(f"MISMATCH: {label} through {variant}")
                    return 1
        med = {k: statistics.median(v) for k, v in timings.items()}
        ratios = [med["scan"] / med[k] for k in ("INVERTED", "STL_SORT")]
        worst = min(worst, *ratios)
        print(
            f"{label:9} {int(reference.sum()):6d} {med['scan'] * 1e3:7.3f}ms "
            f"{med['INVERTED'] * 1e3:7.3f}ms {med['STL_SORT'] * 1e3:7.3f}ms "
            f"{ratios[0]:5.1f}x {ratios[1]:5.1f}x"
        )
    verdict = "PASS" if worst >= TARGET else "FAIL"
    print(f"\nworst index speed-up {worst:.1f}x (target >= {TARGET:.0f}x): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
