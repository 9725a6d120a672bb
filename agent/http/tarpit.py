"""The tarpit: a client over its rate limit waits for its refusal.

A request the rate limit refuses (`RateLimited`: 429 + Retry-After) is answered `hold_s` later
instead of at once, counted `http.throttled`. A client that sends its next request when it gets an
answer (a closed loop: a script, a retrying agent, most floods) is then held near its rate: while
over its limit it sends one request per `hold_s` per connection instead of one per round trip, and
the server stops spending a parse, an authentication and an answer on each of them. A held request
costs a timer, a coroutine and its socket, no thread and no CPU: its body is not read (uvicorn stops
reading a connection whose unread data passes its high-water mark), and the answer closes the
connection.

Bounded: at most `max_held` refusals of one client (its address plus token, the rate limit's key)
are held at once; beyond that they are answered at once (still 429). Together with the open
connections per address (`max_connections_per_address`) that bounds what holding costs. A client
within its limit is never held: only refusals are. Held and counted on the event loop only (no
lock).
"""
from __future__ import annotations

import asyncio
from typing import Callable

from core.http import HttpError


class RateLimited(HttpError):
    """429 from the rate limit for the client `key`; `wait_s`: until its bucket holds a token."""

    def __init__(self, key: str, wait_s: float) -> None:
        super().__init__(429, "rate limit exceeded",
                         {"Retry-After": str(max(1, int(wait_s + 0.999))), "Connection": "close"})
        self.key, self.wait_s = key, wait_s


class Tarpit:
    """`await tarpit.hold(key)` before answering a refusal of `key`; `hold_s` 0 = off."""

    def __init__(self, hold_s: float = 0.0, max_held: int = 64, on_held: Callable[[], None] | None = None) -> None:
        if hold_s < 0 or max_held < 0:
            raise ValueError("hold_s and max_held must be >= 0")
        self.hold_s, self.max_held = hold_s, max_held
        self.on_held = on_held
        self._held: dict[str, int] = {}

    async def hold(self, key: str) -> bool:
        """Wait `hold_s` unless `key` already has `max_held` refusals waiting; whether it waited."""
        n = self._held.get(key, 0)
        if self.hold_s <= 0 or n >= self.max_held:
            return False
        self._held[key] = n + 1
        if self.on_held is not None:
            self.on_held()
        try:
            await asyncio.sleep(self.hold_s)
        finally:
            left = self._held[key] - 1
            if left:
                self._held[key] = left
            else:
                del self._held[key]            # bounded: only clients with refusals waiting
        return True

    def held(self, key: str) -> int:
        """Refusals of `key` waiting now."""
        return self._held.get(key, 0)
