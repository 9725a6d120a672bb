"""Per-client fairness: at most `limit` requests of one client (its address plus token, the rate
limit's key) in the handlers at once; beyond that 429 + Retry-After. One client that sends many
slow or expensive requests in parallel cannot take every handler thread from the others.

Only handler time counts: a request is admitted after its body has arrived, so half-sent requests
(slow clients) hold a coroutine and a socket, never one of these slots. Acquired and released on
the server's event loop only (no lock)."""
from __future__ import annotations

from core.http import HttpError

RETRY_AFTER_S = 1


class InflightLimiter:
    """Requests in the handlers per client key; `limit` 0 = unlimited."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._n: dict[str, int] = {}

    def acquire(self, key: str) -> None:
        """Admit one request of `key`, or HttpError 429 + Retry-After when it has `limit` in progress."""
        n = self._n.get(key, 0)
        if self.limit and n >= self.limit:
            raise HttpError(429, f"more than {self.limit} requests of this client in progress",
                            {"Retry-After": str(RETRY_AFTER_S)})
        self._n[key] = n + 1

    def release(self, key: str) -> None:
        n = self._n.get(key, 0) - 1
        if n > 0:
            self._n[key] = n
        else:
            self._n.pop(key, None)          # bounded: only clients with requests in progress

    def in_progress(self, key: str) -> int:
        return self._n.get(key, 0)
