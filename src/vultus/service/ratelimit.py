"""Request rate limiting per API key: a token bucket each, refilled continuously."""

from __future__ import annotations

import threading
import time


class RateLimiter:
    """`rate` requests per second on average, bursts of up to `burst`; rate <= 0 turns it off.

    One lock for all buckets: taking a token is a few arithmetic operations, far cheaper than
    anything a request then does, so finer locking would buy nothing.
    """

    def __init__(self, rate: float, burst: int | None = None, clock=time.monotonic):
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(1, round(2 * rate)))
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill time)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 if the request may go ahead, else the seconds to wait before the next one will."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
