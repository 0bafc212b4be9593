"""The write-ahead log: round trips, rotation, group commit and recovery of a damaged log.

Recovery cuts only a torn tail: whatever is cut off the last record, every
record before it survives, appends after recovery land right behind the
prefix, and replay returns them.  Damage followed by valid records, damage in
an older file and gaps between files stop recovery with an error naming file
and offset, and leave every file as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest

from sluice.config import WalRecovery
from sluice.errors import WALCorruptedError
from sluice.storage.wal import HEADER_BYTES, Record, WriteAheadLog
from sluice.storage.wal_scan import scan_log


def wal_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.wal"))


def payload_of(i: int) -> bytes:
    # Varying sizes so record boundaries never line up with anything.
    return f"record-{i:05d}-".encode() + bytes(range(i % 37)) * 2


def fill(wal: WriteAheadLog, count: int, start: int = 0) -> list[Record]:
    records = []
    for i in range(start, start + count):
        records.append(wal.append(1 + i % 4, 1000 + i, payload_of(i)))
    wal.sync(wal.end_offset)
    return records


def replayed(wal: WriteAheadLog, start: int = 0) -> list[tuple[int, int, int, int, bytes]]:
    return [(r.offset, r.end, r.kind, r.timestamp, r.payload) for r in wal.replay(start)]


def expected(
    records: list[Record], payloads: list[bytes]
) -> list[tuple[int, int, int, int, bytes]]:
    return [
        (r.offset, r.end, r.kind, r.timestamp, p) for r, p in zip(records, payloads, strict=True)
    ]


# --- round trips and offsets ---------------------------------------------------------


def test_append_sync_replay_round_trip(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path / "wal")
    assert wal.end_offset == 0
    parts = [b"abc", memoryview(b"defg"), pa.py_buffer(b"hij"), b""]
    first = wal.append(1, 42, *parts)
    assert (first.offset, first.end) == (0, HEADER_BYTES + 10)
    second = wal.append(4, 43)  # an empty payload is a valid record
    third = wal.append(2, 2**63, b"x" * 10_000)
    wal.sync(third.end)
    assert wal.end_offset == third.end
    got = replayed(wal)
    assert got == [
        (first.offset, first.end, 1, 42, b"abcdefghij"),
        (second.offset, second.end, 4, 43, b""),
        (third.offset, third.end, 2, 2**63, b"x" * 10_000),
    ]
    assert replayed(wal, second.offset) == got[1:]
    wal.close()

    reopened = WriteAheadLog(tmp_path / "wal")
    assert replayed(reopened) == got
    assert reopened.end_offset == third.end
    fourth = reopened.append(3, 44, b"after reopen")
    assert fourth.offset == third.end
    reopened.sync(fourth.end)
    assert replayed(reopened)[-1] == (fourth.offset, fourth.end, 3, 44, b"after reopen")
    reopened.close()


def test_offsets_monotonic_across_rotation(tmp_path: Path) -> None:
    directory = tmp_path / "wal"
    wal = WriteAheadLog(directory, file_bytes=200)
    records = fill(wal, 60)
    ends = [0] + [r.end for r in records[:-1]]
    assert [r.offset for r in records] == ends, "each record starts where the previous ended"
    files = wal_files(directory)
    assert len(files) > 5, "a tiny file_bytes must rotate often"
    # Files are named by the global offset of their first record, and that is a record boundary.
    starts = [int(p.stem) for p in files]
    assert starts == sorted(starts)
    assert set(starts) <= {r.offset for r in records}
    for path, start, nxt in zip(files, starts, [*starts[1:], wal.end_offset], strict=True):
        assert path.stat().st_size == nxt - start, "files are contiguous"
    wal.close()

    reopened = WriteAheadLog(directory, file_bytes=200)
    assert replayed(reopened) == expected(records, [payload_of(i) for i in range(60)])
    more = fill(reopened, 20, start=60)
    assert more[0].offset == records[-1].end
    all_records = records + more
    assert [r.offset for r in all_records] == sorted({r.offset for r in all_records})
    assert replayed(reopened, more[0].offset) == expected(
        more, [payload_of(i) for i in range(60, 80)]
    )
    # Replay from any record boundary, including one that starts a file.
    for record in all_records[::7]:
        assert replayed(reopened, record.offset)[0][0] == record.offset
    reopened.close()


def test_truncate_before(tmp_path: Path) -> None:
    directory = tmp_path / "wal"
    wal = WriteAheadLog(directory, file_bytes=200)
    records = fill(wal, 60)
    payloads = [payload_of(i) for i in range(60)]
    assert wal.truncate_before(0) == 0
    files_before = {int(p.stem): p.stat().st_size for p in wal_files(directory)}

    keep_from = records[31]
    freed = wal.truncate_before(keep_from.offset)
    remaining = [int(p.stem) for p in wal_files(directory)]
    deleted = set(files_before) - set(remaining)
    assert deleted, "whole files before the offset go"
    assert freed == sum(files_before[s] for s in deleted)
    assert all(s <= keep_from.offset for s in deleted)
    # The file holding the kept record survives, so replay from it is complete.
    assert wal.first_offset <= keep_from.offset
    assert remaining[0] == wal.first_offset
    assert replayed(wal, keep_from.offset) == expected(records[31:], payloads[31:])

    # Truncating past the end never deletes the file being appended to.
    wal.truncate_before(wal.end_offset + 10_000)
    assert [int(p.stem) for p in wal_files(directory)] == [remaining[-1]]
    tail = [r for r in records if r.offset >= remaining[-1]]
    wal.close()

    reopened = WriteAheadLog(directory, file_bytes=200)
    assert reopened.first_offset == remaining[-1]
    assert reopened.end_offset == records[-1].end
    assert replayed(reopened, tail[0].offset) == expected(tail, payloads[-len(tail) :])
    new = reopened.append(1, 1, b"new")
    assert new.offset == records[-1].end, "offsets never restart after truncation"
    reopened.close()


# --- group commit ----------------------------------------------------------------------


def test_group_commit_shares_fsyncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wal = WriteAheadLog(tmp_path / "wal")
    real_fsync = os.fsync
    lock = threading.Lock()
    state = {"calls": 0, "durable": 0}

    def slow_fsync(fd: int) -> None:
        # What is on disk once this returns: at least the size the file had when it started.
        size = os.fstat(fd).st_size
        real_fsync(fd)
        threading.Event().wait(0.003)  # a real disk takes time; that is what lets syncs pile up
        with lock:
            state["calls"] += 1
            state["durable"] = max(state["durable"], size)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    threads_n, per_thread = 16, 25
    barrier = threading.Barrier(threads_n)
    failures: list[str] = []
    appended: list[list[Record]] = [[] for _ in range(threads_n)]

    def writer(t: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            rec = wal.append(1, t * 1000 + i, f"{t}:{i}".encode())
            wal.sync(rec.end)
            with lock:
                durable = state["durable"]
            if durable < rec.end:
                failures.append(f"thread {t} record {i}: sync returned at {durable} < {rec.end}")
            appended[t].append(rec)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    total = threads_n * per_thread
    assert state["calls"] < total / 2, f"{state['calls']} fsyncs for {total} syncs: not shared"
    monkeypatch.undo()
    wal.close()

    reopened = WriteAheadLog(tmp_path / "wal")
    got = {(r.timestamp, r.payload) for r in reopened.replay()}
    assert got == {
        (t * 1000 + i, f"{t}:{i}".encode()) for t in range(threads_n) for i in range(per_thread)
    }
    offsets = sorted(r.offset for recs in appended for r in recs)
    assert len(set(offsets)) == total
    reopened.close()


def test_sync_concurrent_with_rotation(tmp_path: Path) -> None:
    """Writers that rotate the log while others sync: no errors, no hang."""
    wal = WriteAheadLog(tmp_path / "wal", file_bytes=200)
    errors: list[OSError] = []

    def writer() -> None:
        for i in range(100):
            rec = wal.append(1, i, b"x" * 50)
            try:
                wal.sync(rec.end)
            except OSError as exc:
                errors.append(exc)
                return

    # Daemon threads: if a sync ever wedges the log, some of them never return.
    threads = [threading.Thread(target=writer, daemon=True) for _ in range(8)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    # Stop waiting at the first error: after one, the other threads may never finish.
    while any(t.is_alive() for t in threads) and not errors and time.monotonic() < deadline:
        time.sleep(0.01)
    hung = sum(thread.is_alive() for thread in threads)
    assert not errors and not hung, f"{len(errors)} sync errors ({errors[:1]}), {hung} threads hung"


def test_failed_sync_does_not_block_later_syncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wal = WriteAheadLog(tmp_path / "wal")
    real_dup = os.dup
    calls = {"n": 0}

    def dup_fails_once(fd: int) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(9, "Bad file descriptor")
        return real_dup(fd)

    monkeypatch.setattr(os, "dup", dup_fails_once)
    first = wal.append(1, 1, b"first")
    with contextlib.suppress(OSError):
        wal.sync(first.end)  # may fail, or retry: either is fine
    second = wal.append(1, 2, b"second")
    done = threading.Event()

    def later_sync() -> None:
        wal.sync(second.end)
        done.set()

    threading.Thread(target=later_sync, daemon=True).start()
    assert done.wait(2), "a sync after a failed one never returned"
    wal.close()


def test_sync_is_noop_when_fsync_disabled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(fd))
    wal = WriteAheadLog(tmp_path / "wal", fsync=False)
    rec = wal.append(1, 1, b"x")
    wal.sync(rec.end)
    wal.close()
    # Only directory fsyncs when the first file is created; never the data.
    assert len(calls) == 1


# --- recovery of a damaged tail ---------------------------------------------------------


@pytest.fixture
def fast_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests damage files by hand; real fsyncs only make them slow."""
    monkeypatch.setattr(os, "fsync", lambda fd: None)


def build(directory: Path, count: int, file_bytes: int) -> list[Record]:
    wal = WriteAheadLog(directory, file_bytes=file_bytes)
    records = fill(wal, count)
    wal.close()
    return records


def check_prefix_recovery(
    directory: Path, records: list[Record], keep: int, file_bytes: int
) -> None:
    """After recovery exactly ``records[:keep]`` remain; appends then work and replay."""
    payloads = [payload_of(i) for i in range(len(records))]
    wal = WriteAheadLog(directory, file_bytes=file_bytes)
    assert replayed(wal) == expected(records[:keep], payloads[:keep])
    cut = records[keep].offset
    assert wal.end_offset == cut
    last = wal_files(directory)[-1]
    assert int(last.stem) + last.stat().st_size == cut, "the invalid tail is gone from disk"
    new = fill(wal, 3, start=1000)
    assert new[0].offset == cut
    wal.close()
    again = WriteAheadLog(directory, file_bytes=file_bytes)
    assert replayed(again) == expected(
        records[:keep] + new, payloads[:keep] + [payload_of(i) for i in range(1000, 1003)]
    )
    again.close()


@pytest.mark.parametrize("file_bytes", [1 << 20, 300], ids=["one-file", "rotated"])
def test_truncated_mid_record_keeps_valid_prefix(
    tmp_path: Path, file_bytes: int, fast_fsync: None
) -> None:
    pristine = tmp_path / "pristine"
    records = build(pristine, 12, file_bytes)
    last = records[-1]
    last_file = wal_files(pristine)[-1]
    file_start = int(last_file.stem)
    assert file_start <= last.offset
    # Every cut inside the last record, from "header only partly written" to "one byte short",
    # and the cut that removes the record exactly.
    for cut in range(last.offset, last.end):
        work = tmp_path / f"cut-{cut}"
        shutil.copytree(pristine, work)
        os.truncate(work / last_file.name, cut - file_start)
        check_prefix_recovery(work, records, len(records) - 1, file_bytes)
        shutil.rmtree(work)


@pytest.mark.parametrize("file_bytes", [1 << 20, 300], ids=["one-file", "rotated"])
def test_flipped_byte_in_last_record_keeps_valid_prefix(
    tmp_path: Path, file_bytes: int, fast_fsync: None
) -> None:
    pristine = tmp_path / "pristine"
    records = build(pristine, 12, file_bytes)
    last = records[-1]
    last_file = wal_files(pristine)[-1]
    file_start = int(last_file.stem)
    # Every byte of the record: length, checksum, kind, timestamp and payload.
    for pos in range(last.offset, last.end):
        work = tmp_path / f"flip-{pos}"
        shutil.copytree(pristine, work)
        path = work / last_file.name
        data = bytearray(path.read_bytes())
        data[pos - file_start] ^= 0x5A
        path.write_bytes(bytes(data))
        check_prefix_recovery(work, records, len(records) - 1, file_bytes)
        shutil.rmtree(work)


def test_huge_length_field_is_cut_not_fatal(tmp_path: Path) -> None:
    directory = tmp_path / "wal"
    records = build(directory, 5, 1 << 20)
    path = wal_files(directory)[0]
    data = bytearray(path.read_bytes())
    # A length just under the sanity limit: recovery must not trust (or allocate) it.
    data[records[-1].offset : records[-1].offset + 4] = (2**31 - 16).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    check_prefix_recovery(directory, records, 4, 1 << 20)


@pytest.mark.parametrize("garbage", [b"\0" * 4096, b"\0" * 3, b"\0" * 17], ids=len)
def test_zeros_at_tail_are_cut(tmp_path: Path, garbage: bytes) -> None:
    directory = tmp_path / "wal"
    records = build(directory, 8, 1 << 20)
    path = wal_files(directory)[-1]
    with open(path, "ab") as fh:
        fh.write(garbage)
    payloads = [payload_of(i) for i in range(8)]
    wal = WriteAheadLog(directory)
    assert replayed(wal) == expected(records, payloads)
    assert wal.end_offset == records[-1].end
    assert path.stat().st_size == records[-1].end
    new = wal.append(1, 1, b"after garbage")
    wal.sync(new.end)
    assert new.offset == records[-1].end
    wal.close()
    again = WriteAheadLog(directory)
    assert [r.payload for r in again.replay()] == [*payloads, b"after garbage"]
    again.close()


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file of a log folder, byte for byte."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def flip_payload_byte(directory: Path, records: list[Record], victim: int) -> Path:
    """Damage the first payload byte of ``records[victim]``; return the file it is in."""
    files = wal_files(directory)
    record = records[victim]
    path = [f for f in files if int(f.stem) <= record.offset][-1]
    data = bytearray(path.read_bytes())
    data[record.offset - int(path.stem) + HEADER_BYTES] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def expect_corruption(directory: Path, offset: int, path: Path, file_bytes: int) -> None:
    """Opening fails naming ``path`` and ``offset``, and changes no file."""
    before = snapshot(directory)
    with pytest.raises(WALCorruptedError) as info:
        WriteAheadLog(directory, file_bytes=file_bytes)
    assert str(path) in info.value.message
    assert f"offset {offset}" in info.value.message
    assert "\n" not in info.value.message
    assert snapshot(directory) == before, "a corrupted log must be left exactly as it was"


@pytest.mark.parametrize("file_bytes", [1 << 20, 300], ids=["one-file", "rotated"])
def test_flipped_byte_before_valid_records_stops_recovery(tmp_path: Path, file_bytes: int) -> None:
    """A bad record followed by valid ones is corruption, in the newest file or any other."""
    directory = tmp_path / "wal"
    records = build(directory, 40, file_bytes)
    path = flip_payload_byte(directory, records, 20)
    expect_corruption(directory, records[20].offset, path, file_bytes)


def test_bad_last_record_of_an_older_file_stops_recovery(tmp_path: Path) -> None:
    """An older file was fsynced before the log moved on: it cannot hold a torn append."""
    directory = tmp_path / "wal"
    records = build(directory, 40, 300)
    files = wal_files(directory)
    second_start = int(files[2].stem)
    last_of_second = max(i for i, r in enumerate(records) if r.offset < second_start)
    path = flip_payload_byte(directory, records, last_of_second)
    assert path == files[1]
    expect_corruption(directory, records[last_of_second].offset, path, 300)


def test_huge_length_field_in_the_middle_is_corruption(tmp_path: Path) -> None:
    """A damaged length that runs past the end of the file is not mistaken for a torn tail."""
    directory = tmp_path / "wal"
    records = build(directory, 30, 1 << 20)
    path = wal_files(directory)[0]
    data = bytearray(path.read_bytes())
    victim = records[10]
    data[victim.offset : victim.offset + 4] = (2**31 - 16).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    expect_corruption(directory, victim.offset, path, 1 << 20)


def test_missing_middle_file_stops_recovery(tmp_path: Path) -> None:
    directory = tmp_path / "wal"
    build(directory, 40, 300)
    files = wal_files(directory)
    files[2].unlink()
    expect_corruption(directory, int(files[2].stem), files[1], 300)


def test_truncate_mode_cuts_at_the_first_bad_record(tmp_path: Path) -> None:
    """``WalRecovery.TRUNCATE`` (an operator's choice) keeps the prefix and drops the rest."""
    directory = tmp_path / "wal"
    file_bytes = 300
    records = build(directory, 40, file_bytes)
    files = wal_files(directory)
    victim = next(i for i, r in enumerate(records) if r.offset > int(files[1].stem))
    flip_payload_byte(directory, records, victim)
    wal = WriteAheadLog(directory, file_bytes=file_bytes, recovery=WalRecovery.TRUNCATE)
    payloads = [payload_of(i) for i in range(len(records))]
    assert replayed(wal) == expected(records[:victim], payloads[:victim])
    assert wal.end_offset == records[victim].offset
    remaining = [p.name for p in wal_files(directory)]
    assert remaining == [p.name for p in files[:2]], "later files are deleted"
    wal.close()
    check_prefix_recovery(directory, records, victim, file_bytes)


def test_truncate_mode_drops_files_after_a_gap(tmp_path: Path) -> None:
    directory = tmp_path / "wal"
    records = build(directory, 40, 300)
    files = wal_files(directory)
    files[2].unlink()
    wal = WriteAheadLog(directory, file_bytes=300, recovery=WalRecovery.TRUNCATE)
    kept = [r for r in records if r.offset < int(files[2].stem)]
    assert [r.offset for r in wal.replay()] == [r.offset for r in kept]
    assert wal.end_offset == int(files[2].stem)
    assert [p.name for p in wal_files(directory)] == [p.name for p in files[:2]]
    wal.close()


def test_scan_reports_without_changing_anything(tmp_path: Path) -> None:
    directory = tmp_path / "wal"
    records = build(directory, 12, 1 << 20)
    with open(wal_files(directory)[0], "ab") as fh:
        fh.write(b"\x07torn")
    before = snapshot(directory)
    scan = scan_log(directory)
    assert scan.corruption is None
    assert scan.torn_tail is not None and scan.end_offset == records[-1].end
    assert snapshot(directory) == before


def test_a_new_log_starts_at_the_offset_it_is_given(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path / "wal", start_offset=5000)
    assert wal.first_offset == wal.end_offset == 5000
    record = wal.append(1, 1, b"x")
    assert record.offset == 5000
    wal.close()
    reopened = WriteAheadLog(tmp_path / "wal", start_offset=0)
    assert [r.offset for r in reopened.replay()] == [5000]
    reopened.close()


def test_stray_files_are_ignored(tmp_path: Path) -> None:
    directory = tmp_path / "wal"
    records = build(directory, 5, 1 << 20)
    (directory / "notes.wal").write_bytes(b"not a log")
    wal = WriteAheadLog(directory)
    assert [r.offset for r in wal.replay()] == [r.offset for r in records]
    wal.close()
    assert (directory / "notes.wal").exists()


def test_empty_log_and_empty_last_file(tmp_path: Path) -> None:
    directory = tmp_path / "wal"
    wal = WriteAheadLog(directory)
    assert list(wal.replay()) == []
    wal.close()
    assert WriteAheadLog(directory).end_offset == 0
    # A crash right after rotation leaves an empty newest file: that is a valid log.
    records = build(tmp_path / "rot", 10, 300)
    files = wal_files(tmp_path / "rot")
    (tmp_path / "rot" / f"{records[-1].end:020d}.wal").touch()
    wal = WriteAheadLog(tmp_path / "rot", file_bytes=300)
    assert len(list(wal.replay())) == 10
    assert wal.end_offset == records[-1].end
    assert len(wal_files(tmp_path / "rot")) == len(files) + 1
    wal.close()
