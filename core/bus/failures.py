"""Records a shared producer finally failed to deliver, told to every thread that flushes it (both
Kafka clients' producers use it)."""
from __future__ import annotations

import threading


class DeliveryFailures:
    """Records a shared producer finally failed to deliver. The stages of one process share the
    producer and flush it from their own threads, and nobody knows whose record failed: each
    flushing thread's next flush() raises for every failure since its own last flush, so no stage
    commits input offsets behind a lost record (it replays instead)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self.last = ""
        self._seen = threading.local()

    def add(self, what: str) -> None:
        with self._lock:
            self.count += 1
            self.last = what

    def raise_new(self) -> None:
        seen, n = getattr(self._seen, "n", 0), self.count
        if n != seen:
            self._seen.n = n
            raise ConnectionError(f"kafka: {n - seen} record(s) not delivered: {self.last}")
