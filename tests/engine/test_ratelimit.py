"""Milvus's punishment buckets for the DML/DQL/DDL quotas (time is passed in, never slept)."""

from __future__ import annotations

import pytest

from sluice.config import QuotaSettings
from sluice.engine.ratelimit import MB, QuotaLimiter
from sluice.errors import RateLimited


def test_disabled_groups_and_unlimited_rates_never_refuse() -> None:
    assert not QuotaLimiter(QuotaSettings()).enabled
    limiter = QuotaLimiter(QuotaSettings(dml_enabled=True))  # every rate is -1
    for _ in range(100):
        limiter.admit("insert", 10 * MB, now=0.0)


def test_bytes_are_charged_against_megabytes_per_second() -> None:
    limiter = QuotaLimiter(QuotaSettings(dml_enabled=True, dml_insert_rate=1))
    limiter.admit("insert", 3 * MB, now=0.0)  # admitted while the balance is not negative
    with pytest.raises(RateLimited) as info:
        limiter.admit("insert", 1, now=1.0)
    assert info.value.message.endswith("rate limit exceeded[rate=1.048576e+06]")
    limiter.admit("insert", 1, now=2.1)  # the debt is paid off at 1 MB/s
    limiter.admit("delete", 100 * MB, now=2.1)  # delete has no rate


def test_query_rate_counts_requests() -> None:
    limiter = QuotaLimiter(QuotaSettings(dql_enabled=True, dql_query_rate=2))
    for _ in range(3):  # a full bucket, then one more while the balance is still zero
        limiter.admit("query", now=0.0)
    with pytest.raises(RateLimited):
        limiter.admit("query", now=0.0)
    limiter.admit("query", now=1.0)


def test_zero_rate_refuses_everything() -> None:
    limiter = QuotaLimiter(QuotaSettings(ddl_enabled=True, ddl_collection_rate=0))
    with pytest.raises(RateLimited):
        limiter.admit("ddl_collection", now=0.0)
