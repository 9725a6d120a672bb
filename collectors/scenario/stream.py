"""What every stream generator of the scenario uses: a per-stream record heap, seeded randomness
(one `random.Random` per stream), Poisson counts and the daily load curve."""
from __future__ import annotations

import heapq
import math
import random
from typing import Any, Iterator


class RecordHeap:
    """One stream's pending records: a heap of (time, seq, format, record).

    A stream generator adds records (never earlier than the start of the period it is generating)
    and drains those before the next period's start, so each stream yields in (time, seq) order
    while holding only about one period of records.
    """

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, str, Any]] = []
        self.seq = 0

    def add(self, t: float, fmt: str, rec: Any) -> None:
        heapq.heappush(self.heap, (t, self.seq, fmt, rec))
        self.seq += 1

    def drain(self, upto: float = math.inf) -> Iterator[tuple[float, int, str, Any]]:
        h = self.heap
        while h and h[0][0] < upto:
            yield heapq.heappop(h)


def stream_rng(seed: int, stream: str) -> random.Random:
    return random.Random(f"warden-scenario:{seed}:{stream}")


def random_uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def daily_load(t: float) -> float:
    """Daily-ish load curve: 1 at 09:00 UTC peak-ish, lowest at 03:00 UTC."""
    hour = (t % 86400.0) / 3600.0
    return 1.0 + 0.25 * math.sin(2 * math.pi * (hour - 9.0) / 24.0)
