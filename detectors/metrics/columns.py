"""The columns of a batch of metric events (series keys, values, times), read once per batch: the
detectors' kernels and the chart window (recent.py) share them."""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from core.event import Event

#: the last batch `extract` read in this thread: the chart window reuses its columns
LAST_EXTRACT = threading.local()


@dataclass
class Extracted:
    """Columns of a batch of events: series keys, values and times; `ok` marks metric events."""
    keys: list
    values: np.ndarray
    times: np.ndarray
    ok: np.ndarray


def extract(events: Sequence[Event], kinds: tuple[str, ...] = ("metric",)) -> Extracted:
    """Pull (entity, name), value, time out of events. Non-numeric values become NaN;
    events of other kinds get ok=False (score 0, never learned)."""
    n = len(events)
    keys = [(e.entity, e.name) for e in events]
    try:
        values = np.array([e.value for e in events], dtype=np.float64)
    except (TypeError, ValueError):
        values = np.empty(n, dtype=np.float64)
        for i, e in enumerate(events):
            try:
                values[i] = float(e.value) if e.value is not None else math.nan
            except (TypeError, ValueError):
                values[i] = math.nan
    try:
        times = np.array([e.time for e in events], dtype=np.float64)
    except (TypeError, ValueError):
        times = np.array([_to_float(e.time) for e in events], dtype=np.float64)
    if len(kinds) == 1:
        k0 = kinds[0]
        ok = np.fromiter((e.kind == k0 for e in events), dtype=bool, count=n)
    else:
        ok = np.fromiter((e.kind in kinds for e in events), dtype=bool, count=n)
    out = Extracted(keys, values, times, ok)
    LAST_EXTRACT.events, LAST_EXTRACT.ex = events, out     # reused by ChartWindow._remember, same batch
    return out


def _to_float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan
