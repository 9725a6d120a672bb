"""The options the metric detectors share, as dataclass bases of their ``Config``.

Every detector's ``Config`` derives from ``MetricConfig`` (or one of the option groups below) and
declares only what is its own: its own options, and a shared option again only where its default
differs. Its ``validate()`` checks its own options and then calls ``super().validate()``, which
checks the shared ones. Field names and defaults are the detectors' documented options; the
component machinery (core.component) copies them to same-named attributes.

| base | options | used by |
|---|---|---|
| ``MetricConfig`` | threshold, metrics, severity, high_factor | every metric detector |
| ``ScaleFloorConfig`` | min_scale, min_rel_scale | baseline, seasonal, changepoint, novelty |
| ``CalibrationConfig`` | suppress, rate_target, rate_halflife | novelty, pyod_window, forecast |
"""
from __future__ import annotations

from dataclasses import dataclass, field

SEVERITIES = ("info", "low", "medium", "high", "critical")


@dataclass
class MetricConfig:
    """Options of every metric detector."""
    threshold: float = 1.0        # score at or above which a point is flagged
    metrics: list[str] = field(default_factory=list)  # metric names to watch (empty = all)
    severity: str = "medium"
    high_factor: float = 2.0      # score >= high_factor * threshold raises severity one step (0 = never)

    def validate(self) -> None:
        if not self.threshold > 0:
            raise ValueError("threshold must be > 0")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}")


@dataclass
class ScaleFloorConfig(MetricConfig):
    """A scale (spread) estimate floored at ``max(min_scale, min_rel_scale * |centre|)``."""
    min_scale: float = 1e-9       # absolute scale floor
    min_rel_scale: float = 0.01   # scale floor relative to |centre|

    def validate(self) -> None:
        if self.min_scale < 0 or self.min_rel_scale < 0:
            raise ValueError("min_scale and min_rel_scale must be >= 0")
        super().validate()


@dataclass
class CalibrationConfig(MetricConfig):
    """Record suppression and flag-rate calibration of raw scores (common.suppress_and_calibrate)."""
    suppress: int = 100           # record suppression horizon, points (0 = off)
    rate_target: float = 0.001    # expected flag rate per series; a series flagging more is damped (0 = off)
    rate_halflife: float = 2000.0  # points

    def validate(self) -> None:
        if self.suppress < 0 or not 0 <= self.rate_target < 1 or self.rate_halflife <= 0:
            raise ValueError("suppress >= 0, rate_target in [0, 1) and rate_halflife > 0 required")
        super().validate()
