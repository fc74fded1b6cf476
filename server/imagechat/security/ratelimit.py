"""Token-bucket rate limits, per key (a user or an IP, within a tenant), in this process."""

from __future__ import annotations

import math
import time

from imagechat.errors import ApiError


class RateLimiter:
    def __init__(self, per_minute: float, burst: int) -> None:
        self._rate = per_minute / 60.0
        self._burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when)

    def take(self, key: str) -> None:
        """Spend one token for `key`, or raise 429 with the seconds to wait."""
        now = time.monotonic()
        tokens, then = self._buckets.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - then) * self._rate)
        if tokens < 1:
            retry_after = math.ceil((1 - tokens) / self._rate) if self._rate else 60
            raise ApiError(429, "rate_limited", f"too many requests: try again in {retry_after} s",
                           headers={"Retry-After": str(retry_after)})
        self._buckets[key] = (tokens - 1, now)
        if len(self._buckets) > 50_000:
            self._forget_full(now)

    def _forget_full(self, now: float) -> None:
        """Buckets that have refilled carry no information: drop them to bound memory."""
        full = [k for k, (tokens, then) in self._buckets.items() if tokens + (now - then) * self._rate >= self._burst]
        for key in full:
            del self._buckets[key]
