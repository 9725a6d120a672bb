"""Process-wide counters: every drop, dead letter, suppression, dedup and retry is counted here.

Names are dotted: `<stage>.<what>` (e.g. `detect.events`, `collect.deadletter`,
`decide.dedup`). The stages persist a snapshot at each checkpoint so `warden status` can show
them, and `/metrics` exposes them to Prometheus.
"""
from __future__ import annotations

import threading
from collections import defaultdict


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._c: dict[str, float] = defaultdict(float)

    def inc(self, name: str, n: float = 1) -> None:
        with self._lock:
            self._c[name] += n

    def get(self, name: str) -> float:
        with self._lock:
            return self._c.get(name, 0)

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return dict(sorted(self._c.items()))

    def reset(self) -> None:
        with self._lock:
            self._c.clear()


COUNTERS = Counters()
