"""Rate limiting shaped like Milvus's limiters: per-collection Flush, and the DML/DQL/DDL quotas.

Milvus uses a "punishment" token bucket: burst equals the rate, a request is
admitted while the balance is not negative and then costs its tokens, so the
balance may go below zero.  At 0.1 requests/s the first flush passes, the
balance drops to -0.9 and the next one is refused for about nine seconds.
Refusals carry code 8 / legacy ``RateLimit`` (49), which every Milvus SDK
retries with back-off.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable

from sluice.config import QuotaSettings
from sluice.errors import QuotaExceeded, RateLimited

MB = 1024 * 1024


class PunishmentBuckets:
    """One punishment bucket per key, all with the same rate (tokens per second)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._buckets: dict[Hashable, tuple[float, float]] = {}

    def admit(self, key: Hashable, cost: float = 1.0, now: float | None = None) -> bool:
        """Take ``cost`` tokens for ``key`` if its balance is not negative."""
        rate = self.rate
        now = time.monotonic() if now is None else now
        with self._lock:
            balance, stamp = self._buckets.get(key, (rate, now))
            balance = min(rate, balance + (now - stamp) * rate)
            if balance < 0 or rate <= 0:
                self._buckets[key] = (balance, now)
                return False
            self._buckets[key] = (balance - cost, now)
            return True


class FlushRateLimiter:
    def __init__(self, rate: float | None) -> None:
        self._rate = rate
        self._buckets = PunishmentBuckets(rate or 0.0)

    @property
    def enabled(self) -> bool:
        return self._rate is not None

    def admit(self, collection_id: int, now: float | None = None) -> None:
        """Raise :class:`RateLimited` if ``collection_id`` flushed too recently."""
        rate = self._rate
        if rate is None:
            return
        if rate <= 0:
            raise QuotaExceeded.with_fields(reason="flush is denied by the rate limit settings")
        if not self._buckets.admit(collection_id, 1.0, now):
            raise RateLimited.for_rate(rate)


class QuotaLimiter:
    """Milvus's ``quotaAndLimits`` DML, DQL and DDL rates for the whole server.

    Kinds and their units: ``insert``/``upsert``/``delete`` cost the request's
    bytes against MB/s rates; ``search`` costs the number of query vectors;
    ``query`` and the DDL kinds (``ddl_collection``, ``ddl_partition``,
    ``ddl_index``) cost one request.  A kind whose group is disabled, or whose
    rate is -1, is never limited.
    """

    def __init__(self, settings: QuotaSettings) -> None:
        rates: dict[str, float] = {}
        if settings.dml_enabled:
            for kind, rate in (
                ("insert", settings.dml_insert_rate),
                ("upsert", settings.dml_upsert_rate),
                ("delete", settings.dml_delete_rate),
            ):
                if rate >= 0:
                    rates[kind] = rate * MB
        if settings.dql_enabled:
            for kind, rate in (
                ("search", settings.dql_search_rate),
                ("query", settings.dql_query_rate),
            ):
                if rate >= 0:
                    rates[kind] = rate
        if settings.ddl_enabled:
            for kind, rate in (
                ("ddl_collection", settings.ddl_collection_rate),
                ("ddl_partition", settings.ddl_partition_rate),
                ("ddl_index", settings.ddl_index_rate),
            ):
                if rate >= 0:
                    rates[kind] = rate
        self._buckets = {kind: PunishmentBuckets(rate) for kind, rate in rates.items()}

    @property
    def enabled(self) -> bool:
        return bool(self._buckets)

    def limits(self, kind: str) -> bool:
        return kind in self._buckets

    def admit(self, kind: str, cost: float = 1.0, now: float | None = None) -> None:
        """Raise :class:`RateLimited` (code 8) if ``kind`` is over its rate."""
        buckets = self._buckets.get(kind)
        if buckets is not None and not buckets.admit(kind, cost, now):
            raise RateLimited.for_rate(buckets.rate)
