"""Seasonal robust baseline: one robust baseline per (series, phase of the season).

The season (``period`` seconds, default one day) is cut into ``bins`` phases (default 24: one per
hour of the day; ``period: 604800, bins: 168`` for hour-of-week). Each (entity, metric, phase)
keeps its own Huber-EWMA centre and scale (the machinery of ``baseline``), so a value is compared
with the same hour on previous days: a daily peak is normal at the peak hour and anomalous at 4 am.
Half-lives and warm-up count points *of that phase* (with 60 s samples and hourly bins, 60 a day).
All bad-input behaviour (NaN, late, gaps, constant, mid-incident relearn) is that of ``baseline``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.event import Event
from core.registry import register
from detectors.metrics.baseline import BaselineDetector


@register
class SeasonalDetector(BaselineDetector):
    """Robust z-score against the same phase of the season (hour of day by default)."""

    type = "seasonal"

    @dataclass
    class Config(BaselineDetector.Config):
        period: float = 86400.0       # season length, seconds
        bins: int = 24                # phases per season
        warmup: int = 20              # points per phase before it scores
        halflife: float = 120.0       # per phase: 2 days of hourly bins at 60 s
        scale_halflife: float = 480.0
        relearn_after: int = 60

        def validate(self) -> None:
            super().validate()
            if not self.period > 0:
                raise ValueError("period must be > 0")
            if self.bins < 1:
                raise ValueError("bins must be >= 1")

    def _phase(self, t):
        p = float(self.config.period)
        return (np.floor(np.mod(t, p) / p * self.config.bins)).astype(np.int64)

    def _series_keys(self, ex) -> list:
        ph = self._phase(np.nan_to_num(ex.times)).tolist()
        return [(k[0], f"{k[1]}#{b}") for k, b in zip(ex.keys, ph)]

    def _key_of(self, event: Event):
        b = int(self._phase(np.array([event.time]))[0])
        return (event.entity, f"{event.name}#{b}")

    def window_evidence(self) -> dict:
        w = super().window_evidence()
        w.update({"period_s": self.config.period, "bins": self.config.bins})
        return w

    def _finding(self, ev, score, thr, center, scale):
        f = super()._finding(ev, score, thr, center, scale)
        if f is not None:
            f.evidence["window"]["phase"] = self._key_of(ev)[1].rsplit("#", 1)[1]
        return f
