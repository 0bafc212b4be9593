"""Per-collection Flush rate limiting, shaped like Milvus's ``flushRate`` limiter.

Milvus uses a "punishment" token bucket: burst equals the rate, a request is
admitted while the balance is not negative and then costs one token, so the
balance may go below zero.  At 0.1 requests/s the first flush passes, the
balance drops to -0.9 and the next one is refused for about nine seconds.
Refusals carry code 8 / legacy ``RateLimit`` (49), which every Milvus SDK
retries with back-off.
"""

from __future__ import annotations

import threading
import time

from sluice.errors import QuotaExceeded, RateLimited


class FlushRateLimiter:
    def __init__(self, rate: float | None) -> None:
        self._rate = rate
        self._lock = threading.Lock()
        self._buckets: dict[int, tuple[float, float]] = {}

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
        now = time.monotonic() if now is None else now
        with self._lock:
            balance, stamp = self._buckets.get(collection_id, (rate, now))
            balance = min(rate, balance + (now - stamp) * rate)
            if balance < 0:
                self._buckets[collection_id] = (balance, now)
                raise RateLimited.for_rate(rate)
            self._buckets[collection_id] = (balance - 1.0, now)
