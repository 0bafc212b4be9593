"""Module-scoped servers: each test module shares one Sluice process.

Tests in a module isolate themselves by using their own collection names;
modules that need a specially configured server (storage delay, rate limit,
restarts) start their own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import RawMilvus, SluiceProcess
from pymilvus import MilvusClient


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SluiceProcess]:
    proc = SluiceProcess(tmp_path_factory.mktemp("e2e") / "data").start()
    try:
        yield proc
    finally:
        proc.kill()


@pytest.fixture(scope="module")
def client(server: SluiceProcess) -> Iterator[MilvusClient]:
    milvus = MilvusClient(server.uri)
    try:
        yield milvus
    finally:
        milvus.close()


@pytest.fixture(scope="module")
def raw(server: SluiceProcess) -> Iterator[RawMilvus]:
    stub = RawMilvus(server)
    try:
        yield stub
    finally:
        stub.close()
