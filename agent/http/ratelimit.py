"""Token buckets per client: requests per second and burst; 429 + Retry-After beyond them."""
from __future__ import annotations

import threading
import time


class RateLimiter:
    """Token buckets per client key: `rate` tokens per second, up to `burst`. rate 0 = unlimited."""

    MAX_CLIENTS = 10_000

    def __init__(self, rate: float, burst: int, clock=time.monotonic) -> None:
        self.rate, self.burst = float(rate), max(1, int(burst or 1))
        self.clock = clock
        self._b: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> tuple[bool, float]:
        """(allowed, seconds until the next token)."""
        if self.rate <= 0:
            return True, 0.0
        now = self.clock()
        with self._lock:
            b = self._b.get(key)
            if b is None:
                if len(self._b) >= self.MAX_CLIENTS:   # forget the idlest half: bounded memory
                    for k, _ in sorted(self._b.items(), key=lambda kv: kv[1][1])[: self.MAX_CLIENTS // 2]:
                        del self._b[k]
                b = self._b[key] = [float(self.burst), now]
            tokens = min(self.burst, b[0] + (now - b[1]) * self.rate)
            b[1] = now
            if tokens >= 1.0:
                b[0] = tokens - 1.0
                return True, 0.0
            b[0] = tokens
            return False, (1.0 - tokens) / self.rate
