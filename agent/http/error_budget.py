"""A server-wide budget of client errors: load spread over many clients, each under its own limit.

The per-client rate limit (agent.http.ratelimit, with failing requests costing more) holds one
client, but a fuzzer or a scanner spread over many addresses stays under every client's limit
and takes the server's CPU together. So all clients' client errors (4xx but 429) draw on one
token bucket too: `rate` errors per second, `burst` at most. While it is empty, a request from a
client that got a client error within the last `memory_s` seconds is refused before anything is
read (429 + Retry-After, held by the tarpit like any refusal of the rate limit); a client whose
requests succeed is never refused by it, however many others fail, so a good authenticated client
is not starved by the budget that holds the erring ones.

Bounded: at most MAX_CLIENTS erring clients are remembered (the longest quiet are forgotten
first). Used on the event loop only (no lock).
"""
from __future__ import annotations

import time
from collections import OrderedDict

from agent.http.token_bucket import TokenBucket


class ErrorBudget:
    MAX_CLIENTS = 10_000

    def __init__(self, rate: float, burst: float | None = None, memory_s: float = 10.0, clock=time.monotonic) -> None:
        if rate < 0 or memory_s < 0 or (burst is not None and burst < 1):
            raise ValueError("rate and memory_s must be >= 0 and burst >= 1")
        self.rate, self.memory_s, self.clock = float(rate), float(memory_s), clock
        self.burst = float(burst if burst is not None else max(1.0, 2 * rate))
        self._bucket = TokenBucket.full(self.rate, self.burst, clock()) if self.rate > 0 else None
        self._erred: OrderedDict[str, float] = OrderedDict()      # client key -> its last client error

    def spend(self, key: str) -> None:
        """One client error answered to `key`: a token of the budget, and `key` remembered as erring."""
        if self._bucket is None:
            return
        now = self.clock()
        self._bucket.refill(now)
        self._bucket.charge(1.0)
        self._erred[key] = now
        self._erred.move_to_end(key)
        while len(self._erred) > self.MAX_CLIENTS:
            self._erred.popitem(last=False)

    def admits(self, key: str) -> tuple[bool, float]:
        """(whether a request of `key` may go on, seconds until the budget holds a token): refused
        only while the budget is spent and `key` erred within `memory_s`."""
        if self._bucket is None:
            return True, 0.0
        now = self.clock()
        if self._bucket.refill(now) >= 1.0:
            return True, 0.0
        last = self._erred.get(key)
        if last is None or now - last > self.memory_s:
            return True, 0.0
        return False, self._bucket.wait_s()

    def spent(self) -> bool:
        """Whether the budget is empty now."""
        return self._bucket is not None and self._bucket.refill(self.clock()) < 1.0
