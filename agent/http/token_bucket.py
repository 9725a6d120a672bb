"""A token bucket: `rate` tokens per second up to `burst`, which may go into debt down to minus
one burst. The arithmetic shared by the per-client rate limit (agent.http.ratelimit) and the
server-wide budget of client errors (agent.http.error_budget); the caller passes the time, so the
bucket holds no clock and no lock."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class TokenBucket:
    rate: float
    burst: float
    tokens: float
    at: float           #: when `tokens` was last brought up to date (the caller's clock)

    @classmethod
    def full(cls, rate: float, burst: float, now: float) -> "TokenBucket":
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        return cls(float(rate), float(burst), float(burst), now)

    def refill(self, now: float) -> float:
        """Add the tokens earned since the last refill (at most up to `burst`); the tokens now."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        return self.tokens

    def take(self, now: float) -> bool:
        """One token if the bucket holds one (after refilling): whether it did."""
        if self.refill(now) >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def charge(self, tokens: float) -> None:
        """Take `tokens` whether or not the bucket holds them, going at most one burst into debt."""
        self.tokens = max(-self.burst, self.tokens - tokens)

    def wait_s(self) -> float:
        """Seconds until the bucket holds one token again (0 when it holds one)."""
        return max(0.0, (1.0 - self.tokens) / self.rate)
