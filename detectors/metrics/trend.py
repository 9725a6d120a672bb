"""GPU memory leak: a sustained upward trend in gpu.memory.used (Mann-Kendall + Theil-Sen).

Per (node, gpu.index) the detector keeps the last ``window`` samples. For each new sample it runs
the Mann-Kendall trend test over the window plus the sample (``z`` of the S statistic) and the
Theil-Sen slope (median of pairwise slopes, robust to spikes and to a few allocation steps).

score = MK ``z`` x ``min(1, relative_rise / min_rel_rise)`` when the slope is positive, else 0,
where relative_rise = slope x window span / reference and the reference is the memory capacity
(attribute ``gpu.memory.total`` or the ``capacity`` option) or else the window's starting level.
So a leak needs both a statistically clear monotone trend and a material rise; a noisy flat or
daily-seasonal series scores low on one or the other. Flag at ``threshold`` (a z value).

Evidence: slope per hour, rise over the window, baseline (median of the window's first third),
Mann-Kendall z, and, when the capacity is known, the projected hours until the GPU is full.

The window is a measurement window, not a learned baseline: every in-order sample enters it, also
flagged ones (so a continuing leak keeps being reported with its current slope); it forgets
everything older than ``window`` samples. NaN skipped; late samples scored, not added.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from core.event import Event
from core.names import GPU_MEMORY_USED
from core.registry import register
from core.units import metric_value
from detectors.metrics.config import MetricConfig
from detectors.metrics.keyed import KeyedStateDetector


def mann_kendall_z(x: np.ndarray) -> float:
    n = len(x)
    if n < 3:
        return 0.0
    d = np.sign(x[None, :] - x[:, None])
    s = float(np.triu(d, 1).sum())
    # tie correction
    _, counts = np.unique(x, return_counts=True)
    ties = counts[counts > 1]
    var = (n * (n - 1) * (2 * n + 5) - float(np.sum(ties * (ties - 1) * (2 * ties + 5)))) / 18.0
    if var <= 0 or s == 0:
        return 0.0
    return (s - math.copysign(1.0, s)) / math.sqrt(var)


def theil_sen_slope(t: np.ndarray, x: np.ndarray) -> float:
    i, j = np.triu_indices(len(x), 1)
    dt = t[j] - t[i]
    ok = dt > 0
    if not ok.any():
        return 0.0
    return float(np.median((x[j] - x[i])[ok] / dt[ok]))


@register
class GpuLeakDetector(KeyedStateDetector):
    """Sustained upward trend of GPU memory (leak) per node and GPU."""

    type = "gpu_memory_leak"
    metric_names = (GPU_MEMORY_USED,)
    tags = ("gpu", "memory-leak")

    @dataclass
    class Config(MetricConfig):
        window: int = 30              # samples in the trend window (30 min at 60 s)
        min_points: int = 20          # samples needed before scoring
        threshold: float = 4.0        # Mann-Kendall z (after the rise factor)
        min_rel_rise: float = 0.05    # rise over the window relative to capacity / start level
        capacity: float = 0.0         # memory capacity (same unit); 0 = attribute or start level
        capacity_attribute: str = "gpu.memory.total"
        metrics: list[str] = field(default_factory=lambda: [GPU_MEMORY_USED])
        severity: str = "high"
        high_factor: float = 0.0

        def validate(self) -> None:
            if self.window < 5 or not 3 <= self.min_points <= self.window:
                raise ValueError("need window >= 5 and 3 <= min_points <= window")
            if not (self.threshold > 0 and self.min_rel_rise > 0):
                raise ValueError("threshold and min_rel_rise must be > 0")
            if self.capacity < 0:
                raise ValueError("capacity must be >= 0")
            super().validate()

    def key_for(self, ev: Event):
        return ev.entity, f"{ev.name}#{ev.attributes.get('gpu.index', '')}"

    def new_state(self, ev):
        return {"t": [], "v": []}

    def warm(self, st):
        return len(st["v"]) >= self.config.min_points - 1

    def evaluate(self, st, ev, v, t):
        ts = np.asarray(st["t"] + [t], dtype=np.float64)
        xs = np.asarray(st["v"] + [v], dtype=np.float64)
        z = mann_kendall_z(xs)
        slope = theil_sen_slope(ts, xs)
        span = float(ts[-1] - ts[0])
        rise = slope * span
        k = max(3, len(xs) // 3)
        level = float(np.median(xs[:k]))
        cap = self.config.capacity or _num(ev.attributes.get(self.config.capacity_attribute))
        ref = cap if cap and cap > 0 else abs(level)
        rel = rise / ref if ref > 0 else (math.inf if rise > 0 else 0.0)
        score = z * min(1.0, rel / self.config.min_rel_rise) if slope > 0 and z > 0 else 0.0
        evd = {"metric": ev.name, "value": v, "baseline": level, "slope_per_hour": slope * 3600.0,
               "rise": rise, "relative_rise": rel, "mann_kendall_z": z, "deviation": v - level,
               "direction": "up", "gpu.index": ev.attributes.get("gpu.index"),
               "window": {"points": len(xs), "seconds": span}}
        if cap and cap > 0:
            evd["capacity"] = cap
            evd["hours_to_full"] = (cap - v) / (slope * 3600.0) if slope > 0 else None
        return score, evd

    def update(self, st, ev, v, t, flagged):
        st["t"].append(t)
        st["v"].append(v)
        w = self.config.window
        if len(st["v"]) > w:
            del st["t"][:-w], st["v"][:-w]

    def title(self, ev, e):
        return (f"GPU memory leak on {ev.entity}: {ev.name} rising {metric_value(e['slope_per_hour'], ev.name, True)} "
                f"({e['relative_rise']:.0%} over {e['window']['seconds'] / 60:.0f} min)")


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0
