"""Atomic replacement of metadata files: a crash at any step leaves the old or the new content.

A crash is simulated by making one step of ``write_atomic`` raise; whatever
the step, a reader sees one complete version and the next write succeeds.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sluice.storage import atomic
from sluice.storage.atomic import read_json, write_atomic, write_json_atomic

OLD = {"version": 1, "segments": [1, 2, 3], "name": "old"}
NEW = {"version": 2, "segments": list(range(1000)), "name": "new"}


class Crash(Exception):
    pass


def test_round_trip_and_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "meta.json"
    write_json_atomic(path, OLD)
    assert read_json(path) == OLD
    write_json_atomic(path, NEW)
    assert read_json(path) == NEW
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta.json"]


def test_steps_happen_in_the_documented_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """write tmp → fsync tmp → replace → fsync directory."""
    path = tmp_path / "meta.json"
    write_json_atomic(path, OLD)
    events: list[tuple[str, str]] = []
    real_fsync, real_replace, real_write = os.fsync, os.replace, os.write

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        events.append(("replace", f"{src}->{dst}"))
        real_replace(src, dst)

    def write(fd: int, data: bytes) -> int:
        events.append(("write", os.readlink(f"/proc/self/fd/{fd}")))
        return real_write(fd, data)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "write", write)
    write_json_atomic(path, NEW)
    tmp = str(path) + ".tmp"
    kinds = [kind for kind, _ in events]
    assert kinds[-3:] == ["fsync", "replace", "fsync"]
    assert all(kind == "write" and target == tmp for kind, target in events[:-3])
    assert events[-3] == ("fsync", tmp)
    assert events[-2] == ("replace", f"{tmp}->{path}")
    assert events[-1] == ("fsync", str(tmp_path))


@pytest.mark.parametrize("existing", [True, False], ids=["overwrite", "first-write"])
@pytest.mark.parametrize("step", ["write", "fsync-file", "replace"])
def test_crash_before_replace_keeps_old_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str, existing: bool
) -> None:
    path = tmp_path / "meta.json"
    if existing:
        write_json_atomic(path, OLD)

    def crash(*args: object) -> None:
        raise Crash(step)

    target = {"write": "write", "fsync-file": "fsync", "replace": "replace"}[step]
    with monkeypatch.context() as m:
        m.setattr(os, target, crash)
        with pytest.raises(Crash):
            write_json_atomic(path, NEW)
    if existing:
        assert read_json(path) == OLD
    else:
        assert not path.exists()
    # The stale temporary file does not get in the way of the next write.
    write_json_atomic(path, NEW)
    assert read_json(path) == NEW
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta.json"]


def test_crash_after_replace_keeps_new_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "meta.json"
    write_json_atomic(path, OLD)

    def crash(directory: Path) -> None:
        raise Crash("fsync dir")

    monkeypatch.setattr(atomic, "fsync_dir", crash)
    with pytest.raises(Crash):
        write_json_atomic(path, NEW)
    assert read_json(path) == NEW


def test_partial_temp_file_never_replaces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A short write that then fails leaves the target untouched."""
    path = tmp_path / "blob"
    write_atomic(path, b"old" * 1000)
    real_write = os.write
    calls = {"n": 0}

    def short_then_fail(fd: int, data: bytes) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, bytes(data)[:10])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", short_then_fail)
    with pytest.raises(OSError):
        write_atomic(path, b"new" * 1000)
    monkeypatch.undo()
    assert path.read_bytes() == b"old" * 1000


def test_short_writes_are_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "blob"
    real_write = os.write

    def dribble(fd: int, data: bytes) -> int:
        return real_write(fd, bytes(data)[:7])

    monkeypatch.setattr(os, "write", dribble)
    write_atomic(path, bytes(range(256)) * 4)
    monkeypatch.undo()
    assert path.read_bytes() == bytes(range(256)) * 4
