"""Kill the engine between each crash-safety step of the persister.

``fault_runner.py`` runs an engine workload in a child process and calls
``os._exit(9)`` just before or just after the Nth call of one step:

===================  =====================================================
step                 what a crash there leaves behind
===================  =====================================================
``wal_sync``         (a) records appended but not fsynced / fsynced but not
                     acknowledged
``write_table``      (b) a WAL fsynced but no binlog; or a binlog on disk
                     that no manifest names
``manifest_save``    (c) binlogs written, manifest not yet committed; or
                     committed but the WAL not yet trimmed
``meta_commit``      any metadata commit (tso window, id block, catalog,
                     manifest) before or after its journal record is durable
``write_atomic``     a metadata checkpoint: its snapshot or journal reset
                     before or after the atomic replacement
``fsync_dir``        a rename, a new WAL file or a segment directory not
                     yet made durable
``truncate_before``  a manifest committed, old WAL files not yet deleted
``rotate``           a WAL file full, the next one not yet created
===================  =====================================================

After each crash the test opens the folder with ``Engine`` in-process and
checks, against the child's fsynced ledger, that every acknowledged row is
stored exactly once, acknowledged deletes hold, the one batch in flight is
there at most once, nothing else appears, and acknowledged flushes complete.
The same folder then takes the next crash, so later rounds also recover
state that an earlier recovery produced; ``test_crash_during_recovery``
crashes inside recovery itself, several times over.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from crash_support import Expectation, Ledger, stored_counts
from fault_runner import COLLECTION, ROWS, settings

HERE = Path(__file__).resolve().parent
BATCHES = 24

CASES = [
    ("write_table", "before", [1, 9]),
    ("write_table", "after", [3, 13]),
    ("manifest_save", "before", [2, 8]),
    ("manifest_save", "after", [5]),
    ("meta_commit", "before", [4]),
    ("meta_commit", "after", [7]),
    ("write_atomic", "before", [2]),
    ("write_atomic", "after", [3]),
    ("fsync_dir", "before", [12]),
    ("wal_sync", "before", [40]),
    ("wal_sync", "after", [25]),
    ("truncate_before", "before", [5]),
    ("truncate_before", "after", [14]),
    ("rotate", "before", [3]),
]


def run_child(
    data: Path,
    ledger: Path,
    first_batch: int,
    target: str,
    when: str,
    at: int,
    *,
    early: bool = False,
) -> int:
    args = [sys.executable, str(HERE / "fault_runner.py"), "--data", str(data)]
    args += ["--ledger", str(ledger), "--first-batch", str(first_batch)]
    args += ["--batches", str(BATCHES), "--target", target, "--when", when, "--at", str(at)]
    if early:
        args.append("--arm-early")
    proc = subprocess.run(args, capture_output=True, timeout=120)
    if proc.returncode not in (0, 9):
        raise AssertionError(f"runner failed ({proc.returncode}):\n{proc.stderr.decode()[-3000:]}")
    return proc.returncode


def verify(data: Path, ledger_path: Path) -> None:
    from sluice.engine.engine import Engine

    ledger = Ledger.read(ledger_path, batch_rows=ROWS)
    expect = Expectation.of(ledger)
    engine = Engine(settings(data))
    try:
        raw, live = stored_counts(engine)
        expect.check_raw(raw)
        expect.check_visible(live)
        # Every flush acknowledged before the crash completes, with no further Flush.
        for flush in ledger.flushes:
            assert engine.flush_state(
                "default", COLLECTION, flush["segments"], flush["flush_ts"], 10.0
            ), f"acknowledged flush {flush} never completed"
    finally:
        engine.close()


@pytest.mark.slow
@pytest.mark.parametrize(("target", "when", "points"), CASES, ids=[f"{t}-{w}" for t, w, _ in CASES])
def test_crash_between_persistence_steps(
    tmp_path: Path, target: str, when: str, points: list[int]
) -> None:
    data = tmp_path / "data"
    ledger = tmp_path / "ledger.jsonl"
    first = 0
    for at in points:
        code = run_child(data, ledger, first, target, when, at)
        assert code == 9, f"{target} ran fewer than {at} times: the crash never happened"
        verify(data, ledger)
        first += BATCHES


@pytest.mark.slow
def test_crash_during_recovery(tmp_path: Path) -> None:
    """Crash mid-workload, then crash again and again while recovering from that crash."""
    data = tmp_path / "data"
    ledger = tmp_path / "ledger.jsonl"
    assert run_child(data, ledger, 0, "write_table", "before", 11) == 9
    # Each restart replays the WAL and immediately persists what it replayed; die in there.
    for first, (target, when) in enumerate(
        [("write_table", "after"), ("manifest_save", "before"), ("truncate_before", "after")], 1
    ):
        code = run_child(data, ledger, first * BATCHES, target, when, 1, early=True)
        assert code == 9, f"no {target} call during recovery"
    verify(data, ledger)
