"""Package rules: the index layer depends on nothing above it, and threads are per caller."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import faiss
import numpy as np

from sluice.index import build, configure_threads, parse_index_spec, parse_search_params
from sluice.index import threads as threads_module

from .support import vector_field

PACKAGE = Path(__file__).resolve().parents[2] / "sluice" / "index"
FORBIDDEN = ("grpc", "google.protobuf", "pymilvus", "sluice.api", "sluice.engine", "sluice.storage")
FORBIDDEN += ("sluice.client",)


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_index_package_imports_nothing_above_it() -> None:
    offenders = {
        f"{path.name}: {name}"
        for path in PACKAGE.glob("*.py")
        for name in imported_modules(path)
        if name.startswith(FORBIDDEN)
    }
    assert offenders == set()


def test_every_module_has_a_docstring_and_stays_small() -> None:
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        assert ast.get_docstring(tree), f"{path.name} has no module docstring"
        assert len(path.read_text().splitlines()) <= 600, f"{path.name} is over 600 lines"


def test_single_queries_run_on_one_thread_batches_on_all() -> None:
    spec = parse_index_spec(vector_field(8), "HNSW", "L2", {"M": "8"})
    data = np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32)
    index = build(spec, data)
    params = parse_search_params(spec, None, {}, 5)
    previous = threads_module.thread_settings()
    seen: dict[str, int] = {}

    def worker() -> None:
        index.search(data[:1], 5, params)
        seen["single"] = faiss.omp_get_max_threads()
        index.search(data[:64], 5, params)
        seen["batch"] = faiss.omp_get_max_threads()

    try:
        configure_threads(max_threads=2, batch_min_queries=8)
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
    finally:
        configure_threads(
            max_threads=previous.max_threads, batch_min_queries=previous.batch_min_queries
        )
    assert seen == {"single": 1, "batch": 2}


def test_blocks_run_at_once_and_a_block_never_fans_out_again() -> None:
    """Blocks run on distinct threads; a scan inside a block stays on that block's thread.

    The shared pool has ``max_threads - 1`` workers: a block that queued more
    blocks behind itself and waited for them would never finish.
    """
    previous = threads_module.thread_settings()
    outer: list[tuple[int, int, int]] = []
    inner: list[tuple[int, int]] = []

    def nested(start: int, stop: int) -> int:
        inner.append((threading.get_ident(), stop - start))
        return stop - start

    def block(start: int, stop: int) -> int:
        me = threading.get_ident()
        done = sum(threads_module.scan_blocks(nested, 1000, 1))
        outer.append((me, start, stop))
        return done

    try:
        configure_threads(max_threads=2, batch_min_queries=8)
        results = threads_module.scan_blocks(block, 4, 1)
    finally:
        configure_threads(
            max_threads=previous.max_threads, batch_min_queries=previous.batch_min_queries
        )
    assert results == [1000, 1000]
    assert sorted((start, stop) for _, start, stop in outer) == [(0, 2), (2, 4)]
    assert len({me for me, _, _ in outer}) == 2  # the two blocks ran on two threads
    # Each nested scan was one call of all 1000 rows on the block's own thread.
    assert sorted(inner) == sorted((me, 1000) for me, _, _ in outer)
    # Outside a block, a scan fans out again.
    assert len(threads_module.scan_blocks(nested, 1000, 1)) == min(2, previous.max_threads)
