"""Kill the engine in the middle of namespace operations; recovery shows a state the workload had.

``namespace_runner.py`` runs every namespace operation (databases,
collections, partitions with data, scoped deletes, aliases, an added field,
properties, renames across databases, truncate, drops) and dies at the Nth
call of one crash-safety step.  A clean run records the observable state
after each operation.  After a crash the folder is opened again: with ``k``
operations acknowledged, what it shows must be the state after ``k``
operations or - the one in flight having completed before the kill - after
``k + 1``; never a mix, never anything else.  The one exception is a write
in flight across two shards: each shard's WAL record is durable on its own,
so an unacknowledged insert or delete may have reached some shards (row
counts between the two states; as in Milvus, a write is only promised once
acknowledged).  The folder must then open again to the same state
(recovery is repeatable).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "namespace_runner.py"


def run(data: Path, ledger: Path, *extra: str) -> int:
    args = [sys.executable, str(RUNNER), "--data", str(data), "--ledger", str(ledger), *extra]
    proc = subprocess.run(args, capture_output=True, timeout=180)
    if proc.returncode not in (0, 9):
        raise AssertionError(f"runner failed ({proc.returncode}):\n{proc.stderr.decode()[-3000:]}")
    return proc.returncode


def acknowledged(ledger: Path) -> int:
    if not ledger.exists():
        return 0
    return sum(1 for line in ledger.read_text().splitlines() if json.loads(line)["op"] == "ack")


def started(ledger: Path) -> str:
    """The operation that started last (the one in flight at the crash, if not acknowledged)."""
    lines = (
        [json.loads(line) for line in ledger.read_text().splitlines()] if ledger.exists() else []
    )
    starts = [entry["name"] for entry in lines if entry["op"] == "start"]
    return starts[-1] if starts else ""


def _between(state: dict[str, Any], before: dict[str, Any], after: dict[str, Any]) -> bool:
    """``state`` equals both except for row counts, each between ``before``'s and ``after``'s."""

    def without_rows(s: dict[str, Any]) -> dict[str, Any]:
        return {
            **s,
            "collections": {k: {**v, "rows": None} for k, v in s["collections"].items()},
        }

    if not (without_rows(state) == without_rows(before) == without_rows(after)):
        return False
    for name, collection in state["collections"].items():
        for partition, rows in collection["rows"].items():
            a = before["collections"][name]["rows"][partition]
            b = after["collections"][name]["rows"][partition]
            if not min(a, b) <= rows <= max(a, b):
                return False
    return True


def observed(data: Path) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    try:
        from fault_runner import settings
        from namespace_runner import observe
    finally:
        sys.path.remove(str(HERE))
    from sluice.engine.engine import Engine

    engine = Engine(settings(data))
    try:
        return observe(engine)
    finally:
        engine.close()


@pytest.fixture(scope="module")
def truth(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every state of an uninterrupted run, and how often each crash step ran in it."""
    folder = tmp_path_factory.mktemp("truth")
    states = folder / "states.json"
    assert run(folder / "data", folder / "ledger", "--states", str(states)) == 0
    recorded: dict[str, Any] = json.loads(states.read_text())
    return recorded


def _points(total: int, wanted: int) -> list[int]:
    """``wanted`` call numbers spread over ``1..total``."""
    step = max(1, total // wanted)
    return list(range(1, total + 1, step))[:wanted]


CASES = [("meta_commit", "before", 10), ("meta_commit", "after", 10), ("write_table", "after", 3)]


@pytest.mark.slow
@pytest.mark.parametrize(("target", "when", "wanted"), CASES, ids=[f"{t}-{w}" for t, w, _ in CASES])
def test_a_crash_leaves_a_state_of_the_workload(
    tmp_path: Path, truth: dict[str, Any], target: str, when: str, wanted: int
) -> None:
    states = truth["states"]
    total = truth["counts"][target]
    for at in _points(total, wanted):
        data, ledger = tmp_path / f"data{at}", tmp_path / f"ledger{at}"
        if run(data, ledger, "--target", target, "--when", when, "--at", str(at)) != 9:
            continue  # the step ran fewer times than in the recorded run: nothing to check
        done = acknowledged(ledger)
        first = observed(data)
        allowed = states[done : done + 2]
        in_flight = started(ledger)
        partial = in_flight.startswith(("insert", "delete")) and _between(first, *allowed)
        assert first in allowed or partial, (
            f"{target} {when} #{at}: after {done} acknowledged operations the folder shows "
            f"{first}, not one of {allowed}"
        )
        assert observed(data) == first, "a second recovery shows something else"


@pytest.mark.slow
def test_every_state_survives_a_clean_restart(truth: dict[str, Any], tmp_path: Path) -> None:
    """The uninterrupted run's final state is what a reopened folder shows."""
    data, ledger = tmp_path / "data", tmp_path / "ledger"
    assert run(data, ledger) == 0
    assert observed(data) == truth["states"][-1]
