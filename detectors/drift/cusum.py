"""Rank CUSUM: fast detection of a location or spread shift in one numeric feature, distribution-free.

Each value x becomes its mid-rank percentile in the frozen reference, u = (#ref < x + #ref == x / 2) / n:
uniform on (0, 1) while nothing drifts, whatever the feature's distribution. Two standardised
scores follow, each with mean 0 and variance at most 1 under no drift:

- location: (u - 1/2) / sqrt(1/12)
- spread:   (|2u - 1| - 1/2) / sqrt(1/12)

and each drives a two-sided CUSUM (Page): S+ = max(0, S+ + z - k), S- = max(0, S- - z - k); an
alarm when either reaches h. k = 0.25 (tuned for shifts of half a standard deviation of z and more:
a KS distance of 0.2 as a normal mean shift moves z by ~0.49) plus 2 / sqrt(n_ref): given a finite
reference of n_ref values, z's mean under no drift is off 0 by about 1 / sqrt(n_ref), which would
otherwise shorten the run length between false alarms many times over. h comes from the
false-alarm rate: Siegmund's approximation of the average run length of a one-sided CUSUM under no
drift, ARL0 = (exp(2k(h + 1.166)) - 2k(h + 1.166) - 1) / (2k^2), solved for h so that the four
CUSUMs of a feature together average ``arl`` rows between false alarms (each gets 4 * arl).
Ties make z's variance smaller than 1, so the rate is only more conservative there.

The change point is the CUSUM's own estimate: the row after its last reset to 0.
"""
from __future__ import annotations

import math

import numpy as np

K_REF = 0.25
_SD_U = math.sqrt(1.0 / 12.0)


def siegmund_arl(h: float, k: float = K_REF) -> float:
    b = 2.0 * k * (h + 1.166)
    return (math.exp(b) - b - 1.0) / (2.0 * k * k)


def threshold_for_arl(arl: float, k: float = K_REF) -> float:
    """The smallest h whose one-sided ARL0 (Siegmund) reaches `arl` rows (bisection)."""
    lo, hi = 0.0, 1.0
    while siegmund_arl(hi, k) < arl:
        hi *= 2.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if siegmund_arl(mid, k) < arl:
            lo = mid
        else:
            hi = mid
    return hi


class RankCusum:
    """Four CUSUMs (location up/down, spread up/down) of one numeric feature against a reference."""

    __slots__ = ("ref", "k", "h", "s", "start")

    def __init__(self, reference_sorted: np.ndarray, arl: float, k: float | None = None) -> None:
        if len(reference_sorted) < 2:
            raise ValueError("rank CUSUM needs at least 2 reference values")
        self.ref = reference_sorted
        self.k = float(k) if k is not None else K_REF + 2.0 / math.sqrt(len(reference_sorted))
        self.h = threshold_for_arl(4.0 * float(arl), self.k)
        self.s = [0.0, 0.0, 0.0, 0.0]
        self.start = [0, 0, 0, 0]        # row after each CUSUM's last reset

    def percentile(self, x: float) -> float:
        lo = int(np.searchsorted(self.ref, x, side="left"))
        hi = int(np.searchsorted(self.ref, x, side="right"))
        return (lo + 0.5 * (hi - lo)) / len(self.ref)

    def update(self, x: float, row: int) -> dict | None:
        """Add the value of row `row`; an alarm dict when a CUSUM reaches h (then all restart)."""
        u = self.percentile(x)
        zl = (u - 0.5) / _SD_U
        zs = (abs(2.0 * u - 1.0) - 0.5) / _SD_U
        hit = None
        for j, z in enumerate((zl, -zl, zs, -zs)):
            v = self.s[j] + z - self.k
            if v <= 0.0:
                self.s[j], self.start[j] = 0.0, row + 1
            else:
                self.s[j] = v
                if v >= self.h and hit is None:
                    hit = j
        if hit is None:
            return None
        out = {"test": "rank-cusum", "kind": ("location", "location", "spread", "spread")[hit],
               "direction": ("up", "down", "wider", "narrower")[hit], "statistic": self.s[hit],
               "h": self.h, "change_point": self.start[hit]}
        self.reset(row + 1)
        return out

    def reset(self, row: int) -> None:
        self.s = [0.0, 0.0, 0.0, 0.0]
        self.start = [row] * 4

    def to_state(self) -> dict:
        return {"s": list(self.s), "start": list(self.start)}

    def load_state(self, st: dict) -> None:
        self.s = [float(v) for v in st["s"]]
        self.start = [int(v) for v in st["start"]]
