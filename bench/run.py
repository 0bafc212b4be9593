"""Sluice's benchmark: Sluice, milvus-lite and a do-nothing server measured in one run.

    .venv/bin/python bench/run.py                 # everything (several minutes)
    .venv/bin/python bench/run.py --only insert   # insert + flush only
    .venv/bin/python bench/run.py --quick         # smoke run: 20k rows, 200 queries, 1 repeat

Starts the three servers on free loopback ports (each on its own temporary data folder),
runs the insert benchmark (interleaved repeats, see insert_bench.py) and the search
benchmark (the shared bench_milvus.py and ceiling.py, plus batched search, see
search_bench.py), prints a table with every figure and each target marked PASS/FAIL, and
one ``RESULT {json}`` line with everything.  The machine is shared: compare the ratios
within one run, not absolute figures across runs.  See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

import insert_bench
import report
import search_bench
import servers
from workload import DEFAULT_SHARED_DIR, load_bench_milvus, make_workload

REPO = Path(__file__).resolve().parent.parent
INSERT_ORDER = ("null", "sluice", "lite")
FULL = {"n": 100_000, "nq": 1000, "repeats": 3}
QUICK = {"n": 20_000, "nq": 200, "repeats": 1}
PACKAGES = ("sluice", "pymilvus", "milvus-lite", "faiss-cpu", "numpy", "grpcio", "protobuf")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--only", choices=["insert", "search"], help="run one half only")
    ap.add_argument("--n", type=int, help=f"rows (default {FULL['n']:,}; --quick {QUICK['n']:,})")
    ap.add_argument("--nq", type=int, help=f"queries (default {FULL['nq']}; --quick {QUICK['nq']})")
    ap.add_argument(
        "--repeats",
        type=int,
        help="insert loops per endpoint, and Sluice's search loops (default 3; --quick 1)",
    )
    ap.add_argument("--quick", action="store_true", help="smoke run: small sizes, one repeat")
    ap.add_argument("--skip-lite", action="store_true", help="do not start milvus-lite")
    ap.add_argument(
        "--skip-floor",
        action="store_true",
        help="do not run the FAISS floor server and the interleaved single-query loops",
    )
    ap.add_argument("--out", type=Path, help="append the RESULT JSON line to this file")
    ap.add_argument("--batch", type=int, default=5000, help="rows per insert call")
    ap.add_argument("--search-batch", type=int, default=100, help="query vectors per batched call")
    ap.add_argument(
        "--lite-search-repeats",
        type=int,
        default=1,
        help="search loops on milvus-lite (~10 QPS: 1,000 queries take minutes per loop)",
    )
    ap.add_argument(
        "--shared-dir",
        type=Path,
        default=DEFAULT_SHARED_DIR,
        help="folder with bench_milvus.py, ceiling.py, null_server.py, serve_lite.py"
        " (env SLUICE_SHARED_BENCH)",
    )
    ap.add_argument(
        "--sluice-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for `sluice serve`, repeatable (e.g. --sluice-arg=--wal-sync=none)",
    )
    ap.add_argument("--startup-timeout", type=float, default=120.0, help="seconds per start-up")
    ap.add_argument(
        "--script-timeout", type=float, default=3600.0, help="seconds per bench_milvus.py run"
    )
    args = ap.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    for key, default in sizes.items():
        if getattr(args, key) is None:
            setattr(args, key, default)
    return args


def loadavg() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def git(*args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return proc.stdout.strip()


def version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """What a reader needs to judge the figures: cores, load, and exactly what was measured."""
    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg_start": loadavg(),
        "sluice_commit": git("rev-parse", "HEAD"),
        "sluice_dirty": bool(status) if status is not None else None,
        "versions": {name: version(name) for name in PACKAGES},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def config(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("only", "n", "nq", "repeats", "quick", "skip_lite", "skip_floor", "batch")
    out = {key: getattr(args, key) for key in keys}
    out["search_batch"] = args.search_batch
    out["lite_search_repeats"] = args.lite_search_repeats
    out["sluice_args"] = args.sluice_arg
    out["shared_dir"] = str(args.shared_dir)
    return out


def measure(args: argparse.Namespace, result: dict[str, Any]) -> None:
    """Start the servers, run the selected halves into ``result``, stop the servers."""
    bm = load_bench_milvus(args.shared_dir)
    workload = make_workload(bm, args.n, args.nq)
    names = [name for name in INSERT_ORDER if not (name == "lite" and args.skip_lite)]
    with servers.running(
        names, args.shared_dir, args.sluice_arg, args.startup_timeout, log
    ) as running:
        result["servers"] = {
            name: {"uri": s.uri, "pid": s.process.pid, "startup_s": s.startup_s}
            for name, s in running.items()
        }
        uris = {name: s.uri for name, s in running.items()}
        if args.only != "search":
            result["insert"] = insert_bench.run(uris, workload, args.repeats, args.batch, log)
        if args.only != "insert":
            result["search"] = search_bench.run(
                uris,
                bm,
                workload,
                args.shared_dir,
                repeats=args.repeats,
                lite_repeats=args.lite_search_repeats,
                search_batch_size=args.search_batch,
                timeout_s=args.script_timeout,
                log=log,
            )
            if not args.skip_floor and "error" not in result["search"].get("sluice", {}):
                result["search"]["interleaved"] = interleaved(args, bm, workload, uris)


def interleaved(
    args: argparse.Namespace, bm: Any, workload: Any, uris: dict[str, str]
) -> dict[str, Any]:
    """Start the FAISS floor (after every other measurement: its build uses both cores), then
    run the single-query loop on null, floor and Sluice in turns."""
    floor_args = ["--n", str(args.n), "--nq", str(args.nq)]
    try:
        with servers.running(
            ["floor"], args.shared_dir, [], args.startup_timeout, log, floor_args=floor_args
        ) as floor:
            three = {"null": uris["null"], "floor": floor["floor"].uri, "sluice": uris["sluice"]}
            return search_bench.guarded(
                "interleaved single-query loops",
                lambda: search_bench.interleaved_loops(bm, three, workload, args.repeats),
                log,
            )
    except servers.ServerStartError as exc:
        log(f"the FAISS floor server did not start: {exc}")
        return {"error": f"floor server did not start: {exc}"}


def has_errors(result: dict[str, Any]) -> bool:
    if report.dig(result, "insert", "errors"):
        return True
    parts = (result.get("search") or {}).values()
    return any(isinstance(part, dict) and "error" in part for part in parts)


def interrupt(_signum: int, _frame: FrameType | None) -> None:
    """SIGTERM takes the Ctrl-C path, so the servers are stopped either way."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, interrupt)
    # Also when started from a shell that ignores SIGINT for background jobs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    result: dict[str, Any] = {"machine": machine_info(), "config": config(args)}
    t = time.perf_counter()
    try:
        measure(args, result)
    except KeyboardInterrupt:
        log("interrupted; every server started by this run has been stopped")
        return 130
    except servers.ServerStartError as exc:
        log(f"a server did not start: {exc}")
        return 1
    result["machine"]["loadavg_end"] = loadavg()
    result["total_s"] = round(time.perf_counter() - t, 1)
    found = report.targets(result)
    result["targets"] = [target.as_dict() for target in found]
    print(report.render(result, found), flush=True)
    line = json.dumps(result, default=str)
    print("RESULT " + line, flush=True)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as fh:
            fh.write(line + "\n")
    return 1 if has_errors(result) else 0


if __name__ == "__main__":
    sys.exit(main())
