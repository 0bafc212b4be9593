"""A short fuzz run against a live server: no internal errors, no deaths, the canary intact.

The long run (at least 100,000 requests) is a command: ``make fuzz``.
"""

from __future__ import annotations

from pathlib import Path

from grpc_fuzz import run


def test_short_fuzz_run_finds_nothing(tmp_path: Path) -> None:
    report = run(requests_total=1500, seed_value=7, batch=300, out=tmp_path, workdir=tmp_path)
    assert report.sent == 1500
    assert report.batches >= 5
    assert len(report.by_method) > 100, "the generators should reach almost every RPC"
    assert not report.problems, "\n".join(report.problems[:10])
