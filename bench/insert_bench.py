"""Insert throughput and flush time: the same batches, built the same way, into every endpoint.

Why it is measured this way:

* Rows are lists of dicts built exactly as ``bench_milvus.py`` builds them (``x.tolist()``
  per batch, one dict per row), so the client does identical work for every endpoint.
  Only the time inside ``MilvusClient.insert`` counts: building rows is the caller's cost.
* The collection is ``bench`` with the null server's fixed schema (``id`` INT64 primary
  key, ``vector`` FLOAT_VECTOR(128), ``tag`` INT64).  pymilvus then serialises
  byte-identical Insert requests for all three servers; ``check_identical_requests``
  verifies it before anything is timed, ignoring only ``schema_timestamp``, a value each
  server reports for itself.
* Endpoints are interleaved per repeat (null, sluice, lite, null, sluice, lite, ...) so
  machine noise lands on all of them alike, and each repeat starts from a fresh
  collection.  The null server stores nothing and has no CreateCollection, DropCollection
  or Flush, so it is only ever inserted into.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

from pymilvus import CollectionSchema, DataType, MilvusClient
from servers import connect
from workload import Workload

COLLECTION = "bench"
BATCH_ROWS = 5000
NULL = "null"

Log = Callable[[str], None]


def null_compatible_schema(dim: int) -> CollectionSchema:
    """The schema the null server's DescribeCollection returns, field for field."""
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("tag", DataType.INT64)
    return schema


def reset_collection(client: MilvusClient, endpoint: str, dim: int) -> None:
    """Give ``endpoint`` an empty ``bench`` collection (the null server always has one)."""
    if endpoint == NULL:
        return
    if client.has_collection(COLLECTION):
        client.drop_collection(COLLECTION)
    client.create_collection(COLLECTION, schema=null_compatible_schema(dim))


def drop_collection(client: MilvusClient, endpoint: str) -> None:
    """Free the endpoint's memory and disk before the next endpoint's turn."""
    if endpoint != NULL:
        client.drop_collection(COLLECTION)


def batch_rows(w: Workload, start: int, end: int) -> list[dict[str, Any]]:
    """Rows ``start:end`` exactly as bench_milvus.py builds them, with the null schema's names."""
    vectors = w.vectors[start:end].tolist()
    return [
        {"id": int(w.ids[i]), "vector": vectors[i - start], "tag": int(w.tags[i])}
        for i in range(start, end)
    ]


def insert_request_bytes(client: MilvusClient, rows: list[dict[str, Any]]) -> bytes | None:
    """The Insert request pymilvus would send, minus ``schema_timestamp``.

    Reaches into pymilvus's private request builder; returns ``None`` when a pymilvus
    release moves it, so the check degrades to "unknown" instead of breaking the run.
    """
    try:
        handler = client._get_connection()
        request = handler._prepare_row_insert_request(COLLECTION, rows)
    except AttributeError:
        return None
    request.schema_timestamp = 0
    return bytes(request.SerializeToString(deterministic=True))


def check_identical_requests(uris: Mapping[str, str], w: Workload) -> bool | None:
    """True if every endpoint gets the same Insert bytes for the same rows."""
    rows = batch_rows(w, 0, min(w.n, 100))
    seen: set[bytes] = set()
    for endpoint, uri in uris.items():
        client = connect(uri)
        try:
            reset_collection(client, endpoint, w.dim)
            request = insert_request_bytes(client, rows)
            drop_collection(client, endpoint)
        finally:
            client.close()
        if request is None:
            return None
        seen.add(request)
    return len(seen) == 1


def timed_insert(client: MilvusClient, w: Workload, batch: int) -> tuple[float, float]:
    """Insert all rows; return (seconds inside insert calls, wall seconds incl. row building)."""
    in_calls = 0.0
    wall_start = time.perf_counter()
    for start in range(0, w.n, batch):
        end = min(w.n, start + batch)
        rows = batch_rows(w, start, end)
        t = time.perf_counter()
        result = client.insert(COLLECTION, rows)
        in_calls += time.perf_counter() - t
        if result["insert_count"] != end - start:
            raise RuntimeError(f"insert_count {result['insert_count']} != {end - start}")
    return in_calls, time.perf_counter() - wall_start


def insert_once(endpoint: str, uri: str, w: Workload, batch: int) -> dict[str, Any]:
    """One repeat on one endpoint: fresh collection, insert, flush, check the count, drop."""
    client = connect(uri)
    try:
        reset_collection(client, endpoint, w.dim)
        in_calls, wall = timed_insert(client, w, batch)
        run: dict[str, Any] = {
            "rows_per_s": w.n / in_calls,
            "insert_s_in_calls": in_calls,
            "insert_wall_s": wall,
        }
        if endpoint != NULL:
            t = time.perf_counter()
            client.flush(COLLECTION)
            run["flush_s"] = time.perf_counter() - t
            run["row_count"] = int(client.get_collection_stats(COLLECTION)["row_count"])
            if run["row_count"] != w.n:
                raise RuntimeError(f"{endpoint} holds {run['row_count']} rows, expected {w.n}")
        drop_collection(client, endpoint)
        return run
    finally:
        client.close()


def spread_pct(values: list[float]) -> float | None:
    """(max - min) / median, in percent: how much the repeats disagree."""
    if len(values) < 2:
        return None
    return round(100.0 * (max(values) - min(values)) / statistics.median(values), 1)


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over repeats, with every repeat's value and the spread kept alongside."""
    out: dict[str, Any] = {"repeats": len(runs)}
    for key in ("rows_per_s", "insert_s_in_calls", "insert_wall_s", "flush_s"):
        values = [r[key] for r in runs if key in r]
        if values:
            out[key] = round(statistics.median(values), 6)
            out[f"{key}_all"] = [round(v, 6) for v in values]
            out[f"{key}_spread_pct"] = spread_pct(values)
    return out


def paired_ratios(
    runs: Mapping[str, list[dict[str, Any]]], key: str, num: str, den: str
) -> list[float]:
    """``num/den`` per repeat: each repeat's endpoints ran back to back under similar load."""
    pairs = zip(runs.get(num, []), runs.get(den, []), strict=False)
    return [round(a[key] / b[key], 6) for a, b in pairs if b.get(key)]


def run(uris: Mapping[str, str], w: Workload, repeats: int, batch: int, log: Log) -> dict[str, Any]:
    """All repeats, interleaved across endpoints in the order of ``uris``."""
    identical = check_identical_requests(uris, w)
    log(f"insert requests byte-identical across endpoints: {identical}")
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in uris}
    errors: dict[str, str] = {}
    for rep in range(repeats):
        for endpoint, uri in uris.items():
            if endpoint in errors:
                continue
            try:
                result = insert_once(endpoint, uri, w, batch)
            except Exception as exc:  # one endpoint failing must not hide the others' figures
                errors[endpoint] = f"{type(exc).__name__}: {exc}"
                log(f"insert on {endpoint} failed: {errors[endpoint]}")
                continue
            runs[endpoint].append(result)
            flush = f", flush {result['flush_s']:.3f}s" if "flush_s" in result else ""
            log(f"insert {rep + 1}/{repeats} {endpoint}: {result['rows_per_s']:,.0f} rows/s{flush}")
    out: dict[str, Any] = {
        "n": w.n,
        "dim": w.dim,
        "batch": batch,
        "repeats": repeats,
        "requests_identical": identical,
        "endpoints": {name: summarize(r) for name, r in runs.items() if r},
        "errors": errors,
        "paired": {
            "sluice_over_null": paired_ratios(runs, "rows_per_s", "sluice", NULL),
            "sluice_over_lite": paired_ratios(runs, "rows_per_s", "sluice", "lite"),
            "lite_flush_over_sluice_flush": paired_ratios(runs, "flush_s", "lite", "sluice"),
        },
    }
    return out
