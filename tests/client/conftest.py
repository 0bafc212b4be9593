"""Fixtures for the client tests: one client per mode, on a fresh folder or a shared server.

``db`` is parametrised over ``embedded`` (an engine in this process on a
temporary folder) and ``remote`` (a real ``sluice serve`` subprocess, shared by
the whole session because starting one costs about a second).  Tests that
share the server use a unique collection name (``name``), so they never see
each other's data.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import sluice
from sluice.client import Client
from tests.conftest import SluiceProcess

MODES = ("embedded", "remote")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SluiceProcess]:
    proc = SluiceProcess(tmp_path_factory.mktemp("server") / "data").start()
    try:
        yield proc
    finally:
        proc.kill()


@pytest.fixture(scope="session")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SluiceProcess]:
    """A server whose every segment-file write takes 3 s: flushes stay in flight."""
    proc = SluiceProcess(
        tmp_path_factory.mktemp("slow") / "data", env={"SLUICE_TEST_STORAGE_DELAY": "3"}
    ).start()
    try:
        yield proc
    finally:
        proc.kill()


@pytest.fixture
def name() -> str:
    return f"c_{uuid.uuid4().hex[:12]}"


def open_client(mode: str, tmp_path: Path, server: SluiceProcess) -> Client:
    if mode == "embedded":
        return sluice.connect(tmp_path / "data")
    return sluice.connect(server.uri)


@pytest.fixture(params=MODES)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Client]:
    server = request.getfixturevalue("server") if request.param == "remote" else None
    client = sluice.connect(tmp_path / "data") if server is None else sluice.connect(server.uri)
    try:
        yield client
    finally:
        client.close()
