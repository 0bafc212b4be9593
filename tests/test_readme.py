"""The README's examples run as written (against a real server and a temp folder)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT, SluiceProcess

BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_readme_has_both_examples() -> None:
    assert len(BLOCKS) == 2
    assert "MilvusClient" in BLOCKS[0]
    assert "sluice.connect" in BLOCKS[1]


def test_pymilvus_example(sluice_server: SluiceProcess, capsys: pytest.CaptureFixture[str]) -> None:
    code = BLOCKS[0].replace("http://127.0.0.1:19530", sluice_server.uri)
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "'row_count': 1000" in out
    assert "Flushed" in out


def test_embedded_example(tmp_path: Path) -> None:
    code = BLOCKS[1].replace("./embedded-data", str(tmp_path / "embedded"))
    scope: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), scope)
    seg_ids = scope["seg_ids"]
    assert isinstance(seg_ids, list) and len(seg_ids) == 1
    assert scope["flush_ts"]
