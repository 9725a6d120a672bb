"""Synthetic metric streams for the metric detector tests (GPU nodes sampled every 60 s)."""
from __future__ import annotations

import numpy as np

from core.event import Event

STEP = 60.0
DAY = 1440


def ev(entity: str, name: str, t: float, v, attrs=None) -> Event:
    return Event(id=f"{entity}|{name}|{t}", time=float(t), kind="metric", source="test/x",
                 entity=entity, name=name, value=None if v is None else float(v),
                 attributes=attrs or {})


def seasonal(n: int, base: float, amp: float, noise: float, rng, lognormal: bool = False) -> np.ndarray:
    t = np.arange(n)
    s = base * (1 + amp * np.sin(2 * np.pi * t / DAY))
    if lognormal:
        return s * np.exp(noise * rng.standard_normal(n))
    return s + noise * base * rng.standard_normal(n)


def series_events(entity: str, name: str, values, t0: float = 0.0, attrs=None) -> list[Event]:
    return [ev(entity, name, t0 + STEP * i, v, attrs) for i, v in enumerate(values)]


def interleave(*streams: list[Event]) -> list[Event]:
    out = [e for s in streams for e in s]
    out.sort(key=lambda e: e.time)  # stable: keeps the per-time order of the streams
    return out
