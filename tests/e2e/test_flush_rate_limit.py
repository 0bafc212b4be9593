"""Per-collection Flush rate limiting, Milvus's ``quotaAndLimits.flushRate.collection.max``.

At 0.1 flushes/s the first flush passes and the next one on the same
collection is refused for about nine seconds with code 8 / error_code
RateLimit (49); pymilvus retries such refusals with back-off until one passes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from helpers import (
    RATE_LIMIT,
    RawMilvus,
    SluiceProcess,
    assert_ok,
    assert_status,
    quick_collection,
    row_count,
    rows,
    write_config,
)
from pymilvus import MilvusClient


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SluiceProcess]:
    root = tmp_path_factory.mktemp("limited")
    config = write_config(root, "[flush]\ncollection_rate = 0.1\n")
    proc = SluiceProcess(root / "data", config=config).start()
    try:
        yield proc
    finally:
        proc.kill()


def test_second_flush_is_rate_limited_and_pymilvus_retries(limited: SluiceProcess) -> None:
    client = MilvusClient(limited.uri)
    raw = RawMilvus(limited)
    try:
        for name in ("limited_a", "limited_b"):
            quick_collection(client, name, 8, shards=2)
            client.insert(name, rows(20, 8))

        first = raw.flush("limited_a")
        assert_ok(first.status)
        started = time.monotonic()

        second = raw.flush("limited_a")
        assert_status(
            second.status,
            8,
            reason="request is rejected by grpc RateLimiter middleware, please retry later: "
            "rate limit exceeded[rate=0.1]",
            legacy=RATE_LIMIT,
        )
        assert second.status.retriable is True
        assert not second.coll_flush_ts

        # The limit is per collection: another collection flushes at once.
        other = raw.flush("limited_b")
        assert_ok(other.status)

        # pymilvus retries the refusal (back-off 1 s, 3 s, 3 s, ...) until a flush passes.
        client.insert("limited_a", rows(10, 8, start=20))
        client.flush("limited_a")
        elapsed = time.monotonic() - started
        assert elapsed > 5.0, f"flush passed after {elapsed:.1f}s despite the limit"
        assert elapsed < 20.0
        assert row_count(client, "limited_a") == 30
    finally:
        raw.close()
        client.close()
