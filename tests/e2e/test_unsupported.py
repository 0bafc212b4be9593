"""RPCs Sluice does not serve: a clear "not supported" error, never a silent success.

Milvus's code for this is 10 (``service unimplemented``); pymilvus does not
retry it, so the caller hears about it at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from helpers import quick_collection, rows
from pymilvus import MilvusClient, MilvusException

DIM = 8


@pytest.fixture(scope="module")
def base(client: MilvusClient) -> str:
    quick_collection(client, "base", DIM, shards=2)
    client.insert("base", rows(10, DIM))
    return "base"


def _expect_unsupported(call: Callable[[], object], rpc: str) -> MilvusException:
    started = time.monotonic()
    with pytest.raises(MilvusException) as info:
        call()
    assert time.monotonic() - started < 2.0, "an unsupported RPC must not be retried"
    err = info.value
    assert err.code == 10
    assert "not supported" in err.message
    assert rpc in err.message
    return err
