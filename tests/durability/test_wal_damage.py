"""A damaged write-ahead log under a real server: cut a torn tail, stop on anything else.

One folder is built once: a collection whose flushed rows are in segment files
and whose later 20 insert batches exist only in the WAL, spread over several
small WAL files, left by a SIGKILL.  Each test damages a copy and starts a
server on it:

- a torn tail (the last record cut short) is cut automatically and every
  earlier batch is served;
- a flipped byte mid-log, a missing middle file or a missing first file (one
  the channel's checkpoint still needs) stop start-up with one line naming the
  file and offset, and leave the folder byte for byte as it was;
- ``--wal-recovery truncate`` starts anyway, keeping what precedes the damage
  and logging what it dropped;
- ``sluice check`` reports each of these, and a healthy folder as clean.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from crash_support import SluiceProcess
from pymilvus import DataType, MilvusClient

from sluice.storage.wal_scan import HEADER, HEADER_BYTES, list_log_files

NAME = "damaged"
DIM = 8
FLUSHED_ROWS = 100
BATCHES = 20
BATCH = 25
CONFIG = "wal_file_bytes = 4096\n"


def _count(client: MilvusClient) -> int:
    result = client.query(NAME, filter="", output_fields=["count(*)"], consistency_level="Strong")
    return int(result[0]["count(*)"])


def _rows(start: int, n: int) -> list[dict[str, object]]:
    return [
        {"id": i, "vector": [float(i % 7) + j for j in range(DIM)]} for i in range(start, start + n)
    ]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A crashed folder: flushed rows, then BATCHES insert records only in the WAL."""
    root = tmp_path_factory.mktemp("wal_damage")
    config = root / "sluice.toml"
    config.write_text(CONFIG)
    server = SluiceProcess(root / "data", config=config).start()
    client = MilvusClient(server.uri)
    try:
        schema = client.create_schema()
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
        index = client.prepare_index_params()
        index.add_index("vector", index_type="FLAT", metric_type="L2")
        client.create_collection(NAME, schema=schema, index_params=index)
        client.insert(NAME, _rows(0, FLUSHED_ROWS))
        client.flush(NAME)
        for b in range(BATCHES):
            client.insert(NAME, _rows(FLUSHED_ROWS + b * BATCH, BATCH))
    finally:
        client.close()
        server.kill()
    return root / "data"


@pytest.fixture
def folder(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(pristine, copy)
    (copy / "LOCK").unlink(missing_ok=True)
    return copy


def wal_files(data: Path) -> list[Path]:
    (channel,) = [p for p in (data / "wal").iterdir() if p.is_dir()]
    return [f.path for f in list_log_files(channel)[0]]


def record_starts(path: Path) -> list[int]:
    data = path.read_bytes()
    starts, pos = [], 0
    while pos < len(data):
        starts.append(pos)
        length, _ = HEADER.unpack_from(data, pos)
        pos += HEADER.size + length
    return starts


def snapshot(data: Path) -> dict[str, bytes]:
    """Every log and segment file (not LOCK, nor the metadata journal the clock renews)."""
    keep = ("wal", "segments")
    return {
        str(p.relative_to(data)): p.read_bytes()
        for p in sorted(data.rglob("*"))
        if p.is_file() and p.relative_to(data).parts[0] in keep
    }


def start(data: Path, *args: str) -> SluiceProcess:
    config = data.parent / "sluice.toml"
    config.write_text(CONFIG)
    return SluiceProcess(data, config=config, extra_args=list(args)).start()


def start_fails(data: Path) -> str:
    """Start a server that must refuse the folder; return the error line it printed."""
    config = data.parent / "sluice.toml"
    config.write_text(CONFIG)
    server = SluiceProcess(data, config=config)
    with pytest.raises(RuntimeError) as info:
        server.start()
    assert "exited with 1" in str(info.value)
    log = server.log()
    assert "Traceback" not in log, log
    (line,) = [line for line in log.splitlines() if line.startswith("Error: ")]
    return line


def served_rows(data: Path, *args: str) -> tuple[list[int], str]:
    """The ids a server on ``data`` serves, and its log."""
    server = start(data, *args)
    client = MilvusClient(server.uri)
    try:
        total = _count(client)
        ids = sorted(r["id"] for r in client.query(NAME, filter="id >= 0", limit=total or 1))
        return ids[:total], server.log()
    finally:
        client.close()
        server.stop()


def sluice_check(data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sluice", "check", str(data)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def flip_mid_log(data: Path) -> tuple[Path, int]:
    """Flip a payload byte of a record in the second WAL file; return the file and the offset."""
    files = wal_files(data)
    assert len(files) >= 4, "the folder needs several WAL files"
    victim = files[1]
    pos = record_starts(victim)[1]
    raw = bytearray(victim.read_bytes())
    raw[pos + HEADER_BYTES] ^= 0xFF
    victim.write_bytes(bytes(raw))
    return victim, int(victim.stem) + pos


def test_torn_tail_is_cut_and_every_earlier_batch_served(folder: Path) -> None:
    last = wal_files(folder)[-1]
    with open(last, "r+b") as fh:
        fh.truncate(last.stat().st_size - 3)
    ids, log = served_rows(folder)
    assert ids == list(range(FLUSHED_ROWS + (BATCHES - 1) * BATCH))
    assert "cut an incomplete last record" in log


def test_flipped_byte_mid_log_stops_start_up_and_changes_nothing(folder: Path) -> None:
    victim, offset = flip_mid_log(folder)
    before = snapshot(folder)
    line = start_fails(folder)
    assert str(victim) in line and f"offset {offset}" in line, line
    assert snapshot(folder) == before


def test_missing_middle_file_stops_start_up(folder: Path) -> None:
    files = wal_files(folder)
    files[2].unlink()
    before = snapshot(folder)
    line = start_fails(folder)
    assert str(files[1]) in line and "missing log" in line, line
    assert snapshot(folder) == before


def test_missing_first_file_stops_start_up(folder: Path) -> None:
    """The oldest file holds the checkpoint's records: without it, acknowledged rows are gone."""
    files = wal_files(folder)
    files[0].unlink()
    before = snapshot(folder)
    line = start_fails(folder)
    assert str(files[1]) in line and f"starts at offset {int(files[1].stem)}" in line, line
    assert snapshot(folder) == before


def test_repair_flag_keeps_the_prefix_and_says_what_it_dropped(folder: Path) -> None:
    _, offset = flip_mid_log(folder)
    ids, log = served_rows(folder, "--wal-recovery", "truncate")
    # Whole batches before the damage survive; the damaged one and every later one are gone.
    kept_batches = (len(ids) - FLUSHED_ROWS) // BATCH
    assert 0 < kept_batches < BATCHES
    assert ids == list(range(FLUSHED_ROWS + kept_batches * BATCH))
    assert f"cut the log at offset {offset}" in log
    # Repaired once, the folder starts normally and keeps what was kept.
    again, _ = served_rows(folder)
    assert again == ids


def test_check_reports_a_healthy_folder_as_clean(folder: Path) -> None:
    result = sluice_check(folder)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert not [line for line in lines if line.startswith("problem:")]
    assert lines[-1].startswith("checked 1 collection(s)") and lines[-1].endswith("no problems")


def test_check_reports_damage_one_line_each(folder: Path) -> None:
    victim, offset = flip_mid_log(folder)
    files = wal_files(folder)
    segment = next((folder / "segments").rglob("*.parquet"))
    segment.write_bytes(segment.read_bytes()[:-40])
    before = snapshot(folder)
    result = sluice_check(folder)
    assert result.returncode == 1, result.stdout + result.stderr
    problems = [line for line in result.stdout.splitlines() if line.startswith("problem:")]
    assert len(problems) == 2, result.stdout
    assert any(str(victim) in p and f"offset {offset}" in p for p in problems), problems
    assert any(segment.name in p and "manifest says" in p for p in problems), problems
    assert result.stdout.splitlines()[-1].endswith("2 problem(s)")
    assert snapshot(folder) == before, "check changed the folder"
    assert len(files) == len(wal_files(folder))


def test_check_reports_a_missing_first_file_and_notes_a_torn_tail(folder: Path) -> None:
    files = wal_files(folder)
    with open(files[-1], "r+b") as fh:
        fh.truncate(files[-1].stat().st_size - 3)
    result = sluice_check(folder)
    assert result.returncode == 0, result.stdout
    assert any(
        line.startswith("note:") and "incomplete last record" in line
        for line in result.stdout.splitlines()
    )
    files[0].unlink()
    result = sluice_check(folder)
    assert result.returncode == 1
    (problem,) = [line for line in result.stdout.splitlines() if line.startswith("problem:")]
    assert str(files[1]) in problem and "checkpoint" in problem


def test_check_refuses_a_folder_in_use(folder: Path) -> None:
    server = start(folder)
    try:
        result = sluice_check(folder)
    finally:
        server.stop()
    assert result.returncode == 2
    assert result.stderr.startswith("Error: data folder") and "in use" in result.stderr
    assert result.stderr.count("\n") == 1


def flip_segment_byte(data: Path) -> Path:
    """Flip one bit in the middle of a flushed segment file; return it."""
    segment = next((data / "segments" / "insert_log").rglob("*.parquet"))
    raw = bytearray(segment.read_bytes())
    raw[len(raw) // 2] ^= 0x04
    segment.write_bytes(bytes(raw))
    return segment


def test_flipped_bit_in_a_segment_file_stops_start_up_by_name(folder: Path) -> None:
    segment = flip_segment_byte(folder)
    before = snapshot(folder)
    line = start_fails(folder)
    assert segment.name in line and "fails its checksum" in line, line
    assert snapshot(folder) == before
    # The operator restores the file: every row is served again.
    flip_segment_byte(folder)
    ids, _ = served_rows(folder)
    assert ids == list(range(FLUSHED_ROWS + BATCHES * BATCH))


def test_check_reports_a_flipped_bit_in_a_segment_file(folder: Path) -> None:
    segment = flip_segment_byte(folder)
    result = sluice_check(folder)
    assert result.returncode == 1, result.stdout + result.stderr
    (problem,) = [line for line in result.stdout.splitlines() if line.startswith("problem:")]
    assert segment.name in problem and "fails its checksum" in problem, problem
