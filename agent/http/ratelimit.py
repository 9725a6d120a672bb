"""Token buckets per client: requests per second and burst; 429 + Retry-After beyond them.

`charge(key, n)` takes `n` more tokens from a client's bucket after its request was answered: the
server charges a request answered with a client error (4xx) more than one token
(`rate_limit_error_cost`, agent.http.app), so a client whose requests keep failing (a fuzzer, a
token guesser, a scanner) runs out of its burst sooner and is held to a fraction of the rate. The
bucket may go into debt, down to minus one burst."""
from __future__ import annotations

import threading
import time

from agent.http.token_bucket import TokenBucket


class RateLimiter:
    """Token buckets per client key: `rate` tokens per second, up to `burst`. rate 0 = unlimited."""

    MAX_CLIENTS = 10_000

    def __init__(self, rate: float, burst: int, clock=time.monotonic) -> None:
        self.rate, self.burst = float(rate), max(1, int(burst or 1))
        self.clock = clock
        self._b: dict[str, TokenBucket] = {}
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
                    for k, _ in sorted(self._b.items(), key=lambda kv: kv[1].at)[: self.MAX_CLIENTS // 2]:
                        del self._b[k]
                b = self._b[key] = TokenBucket.full(self.rate, self.burst, now)
            if b.take(now):
                return True, 0.0
            return False, b.wait_s()

    def charge(self, key: str, tokens: float) -> None:
        """Take `tokens` more from `key`'s bucket (at most down to -burst); unknown keys are left alone."""
        if self.rate <= 0 or tokens <= 0:
            return
        with self._lock:
            b = self._b.get(key)
            if b is not None:
                b.charge(tokens)
