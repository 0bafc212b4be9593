"""Run the namespace workload and die (``os._exit(9)``) at the Nth call of one crash-safety step.

``python namespace_runner.py --data DIR --ledger FILE --target T --when before|after --at N``

The workload (``OPS``) creates a database, collections, partitions and
aliases, writes into partitions, deletes in one, adds a field, alters
properties, renames, truncates and drops - every namespace operation, with
data in the way.  Each acknowledged operation is appended to ``--ledger``
(fsynced) before the next starts.  ``--at 0`` never dies; with ``--states
FILE`` it records the observable state after every operation (the truth a
crashed run is compared with) and how often each step ran.

Crash steps are those of ``fault_runner.py`` (metadata commits, segment file
writes, manifest commits, WAL syncs, ...).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from fault_runner import DIM, Ledger, arm, columns, settings

DB = "ns"


def schema(name: str) -> Any:
    from sluice.schema import CollectionSchema, DataType, FieldSchema

    return CollectionSchema(
        name,
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("vector", DataType.FLOAT_VECTOR, dim=DIM),
        ),
    )


def insert(collection: str, partition: str | None, start: int, n: int) -> Callable[[Any], Any]:
    ids = np.arange(start, start + n, dtype=np.int64)
    return lambda e: e.insert(DB, collection, partition, columns(ids), n)


def added_field() -> Any:
    from sluice.schema import DataType, FieldSchema

    return FieldSchema("extra", DataType.INT64, nullable=True, default_value=7)


OPS: list[tuple[str, Callable[[Any], Any]]] = [
    ("create_database", lambda e: e.create_database(DB, {"owner": "tests"})),
    ("create_c1", lambda e: e.create_collection(DB, schema("c1"), shards_num=2)),
    ("insert_default", insert("c1", None, 0, 100)),
    ("create_p1", lambda e: e.create_partition(DB, "c1", "p1")),
    ("insert_p1", insert("c1", "p1", 0, 50)),
    ("flush_c1", lambda e: e.flush(DB, ["c1"])),
    ("delete_in_p1", lambda e: e.delete(DB, "c1", "p1", "id < 10", None)),
    ("delete_everywhere", lambda e: e.delete(DB, "c1", None, "id in [90, 91]", None)),
    ("create_alias", lambda e: e.create_alias(DB, "c1", "a1")),
    ("create_p2", lambda e: e.create_partition(DB, "c1", "p2")),
    ("insert_p2", insert("c1", "p2", 500, 40)),
    ("drop_p2", lambda e: e.drop_partition(DB, "c1", "p2")),
    ("add_field", lambda e: e.add_collection_field(DB, "c1", added_field())),
    ("insert_after_field", insert("c1", None, 1000, 30)),
    ("alter_properties", lambda e: e.alter_collection(DB, "c1", {"color": "blue"})),
    ("rename", lambda e: e.rename_collection(DB, "c1", "c2")),
    ("create_c3", lambda e: e.create_collection(DB, schema("c3"))),
    ("insert_c3", insert("c3", None, 0, 60)),
    ("flush_c3", lambda e: e.flush(DB, ["c3"])),
    ("alter_alias", lambda e: e.alter_alias(DB, "c3", "a1")),
    ("truncate_c3", lambda e: e.truncate_collection(DB, "c3")),
    ("insert_c3_again", insert("c3", None, 5, 3)),
    ("drop_alias", lambda e: e.drop_alias(DB, "a1")),
    ("create_db2", lambda e: e.create_database("ns2")),
    ("rename_to_db2", lambda e: e.rename_collection(DB, "c3", "c3", "ns2")),
    ("drop_c3", lambda e: e.drop_collection("ns2", "c3")),
    ("drop_db2", lambda e: e.drop_database("ns2")),
]


def observe(engine: Any) -> dict[str, Any]:
    """What a client could see: databases, collections, partitions, aliases, fields, rows."""
    from sluice.engine.data import read_snapshot
    from sluice.engine.reader import CompiledFilter, count

    state: dict[str, Any] = {"databases": sorted(engine.list_databases()), "collections": {}}
    for db in state["databases"]:
        for info in engine.list_collections(db):
            collection = engine.get(db, info.name)
            ts = engine.ctx.tso.allocate()
            rows = {}
            for name, pid in info.partitions.items():
                snapshot = read_snapshot(collection, ts, frozenset({pid}))
                rows[name] = count(snapshot, CompiledFilter())
            state["collections"][f"{db}.{info.name}"] = {
                "partitions": list(info.partitions),
                "aliases": list(info.aliases),
                "fields": [f.name for f in info.schema.user_fields],
                "properties": dict(info.properties),
                "rows": rows,
            }
    return state


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--ledger", required=True, type=Path)
    parser.add_argument("--target", default="meta_commit")
    parser.add_argument("--when", choices=["before", "after"], default="before")
    parser.add_argument("--at", type=int, default=0)
    parser.add_argument("--states", type=Path)
    args = parser.parse_args()

    from sluice.engine.engine import Engine

    counts: Counter[str] = Counter()
    engine = Engine(settings(args.data))
    arm(args.target, args.when, args.at, counts)
    ledger = Ledger(args.ledger)
    states = [observe(engine)]
    for name, op in OPS:
        ledger.write({"op": "start", "name": name}, durable=False)
        op(engine)
        ledger.write({"op": "ack", "name": name})
        if args.states is not None:
            states.append(observe(engine))
    engine.close()
    if args.states is not None:
        args.states.write_text(json.dumps({"states": states, "counts": dict(counts)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
