"""Per-client fairness.

`InflightLimiter`: at most `limit` requests of one client (its address plus token, the rate
limit's key) in the handlers at once; beyond that 429 + Retry-After. One client that sends many
slow or expensive requests in parallel cannot take every handler thread from the others.

Only handler time counts: a request is admitted after its body has arrived, so half-sent requests
(slow clients) hold a coroutine and a socket, never one of these slots. Acquired and released on
the server's event loop only (no lock).

`AddressConnections`: at most `limit` open connections from one client address, checked when a
connection opens, before anything is read from it: beyond that the connection gets a canned 429 +
Retry-After and is closed (counted `http.address_connections_refused`), so one address cannot hold
every connection the server takes (`max_connections`, 503 for everyone beyond) with idle or
half-sent requests. Counted on the event loop only."""
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


_REFUSED_BODY = b'{"error":"too many connections from this address"}'
REFUSED = (b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: %d\r\n"
           b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (RETRY_AFTER_S, len(_REFUSED_BODY), _REFUSED_BODY))


class AddressConnections:
    """Open connections per client address; `limit` 0 = unlimited."""

    def __init__(self, limit: int, on_refused=None) -> None:
        self.limit = limit
        self.on_refused = on_refused
        self._n: dict[str, int] = {}

    def open(self, address: str) -> bool:
        """Count a new connection from `address`; False (counted as refused) when it has `limit` open."""
        n = self._n.get(address, 0)
        if self.limit and n >= self.limit:
            if self.on_refused is not None:
                self.on_refused()
            return False
        self._n[address] = n + 1
        return True

    def close(self, address: str) -> None:
        n = self._n.get(address, 0) - 1
        if n > 0:
            self._n[address] = n
        else:
            self._n.pop(address, None)

    def open_from(self, address: str) -> int:
        return self._n.get(address, 0)
