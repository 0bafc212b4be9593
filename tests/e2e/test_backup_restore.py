"""Backup while serving -> restore into an empty folder -> the same query results.

Also: a backup is consistent at its timestamp (writes after it are not in
it), deletes made before it stay deleted, and exports import back.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import SluiceProcess, quick_collection, rows
from pymilvus import MilvusClient

DIM = 8


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SluiceProcess]:
    proc = SluiceProcess(tmp_path_factory.mktemp("backup") / "data").start()
    try:
        yield proc
    finally:
        proc.kill()


def sluice(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sluice", *args], capture_output=True, text=True, timeout=300
    )


def snapshot(client: MilvusClient, name: str) -> list[dict[str, Any]]:
    result = client.query(
        name, filter="id >= 0", output_fields=["*"], limit=10_000, consistency_level="Strong"
    )
    return sorted((dict(r) for r in result), key=lambda r: r["id"])


def test_backup_restore_gives_identical_results(
    server: SluiceProcess, client: MilvusClient, tmp_path: Path
) -> None:
    quick_collection(client, "kept", DIM)
    client.insert("kept", rows(400, DIM, tag="a"))
    client.flush("kept")
    client.insert("kept", rows(100, DIM, start=400, seed=3, tag="b"))  # still growing
    client.delete("kept", ids=list(range(0, 50)))
    expected = snapshot(client, "kept")
    query_vector = rows(1, DIM, seed=9)[0]["vector"]
    expected_hits = client.search("kept", [query_vector], limit=5)[0]

    target = tmp_path / "bk"
    result = sluice("backup", str(target), "--uri", server.http_uri)
    assert result.returncode == 0, result.stderr
    assert "backup of" in result.stdout
    # Written after the backup: must not appear in the restore.
    client.insert("kept", rows(10, DIM, start=10_000, seed=5))

    restored_dir = tmp_path / "restored"
    result = sluice("restore", str(target), "--data", str(restored_dir))
    assert result.returncode == 0, result.stderr
    restored = SluiceProcess(restored_dir).start()
    try:
        other = MilvusClient(restored.uri)
        try:
            assert snapshot(other, "kept") == expected
            hits = other.search("kept", [query_vector], limit=5)[0]
            assert [h["id"] for h in hits] == [h["id"] for h in expected_hits]
            assert [h["distance"] for h in hits] == pytest.approx(
                [h["distance"] for h in expected_hits], abs=1e-5
            )
            other.insert("kept", rows(5, DIM, start=20_000))
            assert len(other.get("kept", ids=[20_000])) == 1
        finally:
            other.close()
    finally:
        restored.stop()


def test_restore_refuses_a_non_empty_folder_or_a_partial_backup(tmp_path: Path) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "file").write_text("x")
    (tmp_path / "partial").mkdir()
    result = sluice("restore", str(tmp_path / "partial"), "--data", str(tmp_path / "new"))
    assert result.returncode == 1
    assert "is not a complete Sluice backup" in result.stderr
    assert result.stderr.count("\n") == 1


def test_backup_target_must_be_empty(server: SluiceProcess, tmp_path: Path) -> None:
    (tmp_path / "x").write_text("taken")
    result = sluice("backup", str(tmp_path), "--uri", server.http_uri)
    assert result.returncode == 1
    assert "must be an empty folder" in result.stderr


def test_export_then_import_round_trip(
    server: SluiceProcess, client: MilvusClient, tmp_path: Path
) -> None:
    quick_collection(client, "src", DIM)
    client.insert("src", rows(200, DIM, label="x"))
    client.delete("src", ids=[1, 2])
    out = tmp_path / "src.parquet"
    result = sluice("export", "src", "--out", str(out), "--uri", server.http_uri)
    assert result.returncode == 0, result.stderr
    assert "exported 198 rows" in result.stdout
    quick_collection(client, "dst", DIM)
    result = sluice("import", "dst", str(out), "--uri", server.http_uri)
    assert result.returncode == 0, result.stderr
    assert "198 rows" in result.stdout
    assert snapshot(client, "dst") == snapshot(client, "src")


def test_stats_over_http(server: SluiceProcess, client: MilvusClient) -> None:
    quick_collection(client, "counted", DIM)
    client.insert("counted", rows(30, DIM))
    reply = requests.post(f"{server.http_uri}/v2/sluice/stats", json={}, timeout=30).json()
    by_name = {c["name"]: c for c in reply["data"]["collections"]}
    assert by_name["counted"]["rows"] == 30
    result = sluice("stats", "--uri", server.http_uri)
    assert result.returncode == 0 and "default.counted" in result.stdout


def test_offline_commands_on_a_stopped_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc = SluiceProcess(data).start()
    try:
        client = MilvusClient(proc.uri)
        quick_collection(client, "off", DIM)
        client.insert("off", rows(50, DIM))
        client.close()
    finally:
        proc.stop()
    result = sluice("stats", "--data", str(data), "--json")
    assert result.returncode == 0, result.stderr
    assert '"name": "off"' in result.stdout
    result = sluice("backup", str(tmp_path / "bk"), "--data", str(data))
    assert result.returncode == 0, result.stderr
    result = sluice("export", "off", "--out", str(tmp_path / "off.parquet"), "--data", str(data))
    assert result.returncode == 0 and "exported 50 rows" in result.stdout
    # Plain inserts of existing keys are stored (Milvus does not deduplicate), so do imports.
    result = sluice("import", "off", str(tmp_path / "off.parquet"), "--data", str(data))
    assert result.returncode == 0, result.stderr
    assert "completed: 50 rows into default.off" in result.stdout
    result = sluice("stats", "--data", str(data), "--json")
    assert '"rows": 100' in result.stdout
    result = sluice("import", "off", str(tmp_path / "missing.parquet"), "--data", str(data))
    assert result.returncode == 1
    assert "failed" in result.stderr and "no such file" in result.stderr
