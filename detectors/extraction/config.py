"""The `extraction` detector's options (detectors.extraction.detector describes each signal)."""
from __future__ import annotations

from dataclasses import dataclass

from core.event import SEVERITIES


@dataclass
class ExtractionConfig:
    history: int = 200
    prada_warmup: int = 30
    max_distances: int = 500
    min_queries: int = 100
    check_every: int = 10
    prada_threshold: float = 0.80
    prada_confirm: int = 3
    prada_trim: float = 0.02
    rate_window_s: float = 60.0
    max_rate: int = 600
    rate_factor: float = 20.0
    coverage_threshold: float = 0.9
    out_of_range_threshold: float = 0.2
    abuse_window: int = 100
    abuse_min: int = 10
    abuse_rate: float = 0.3
    cooldown: int = 1000
    max_clients: int = 10000
    severity: str = "high"

    def validate(self) -> None:
        if self.history < 2 or self.max_distances < 8 or self.min_queries < 8:
            raise ValueError("history >= 2, max_distances >= 8 and min_queries >= 8 required")
        if self.min_queries > self.max_distances:
            raise ValueError("min_queries must be <= max_distances")
        if self.check_every < 1 or self.cooldown < 1 or self.max_clients < 1:
            raise ValueError("check_every, cooldown and max_clients must be >= 1")
        if not 0.0 < self.prada_threshold < 1.0:
            raise ValueError("prada_threshold must be in (0, 1)")
        if self.rate_window_s <= 0 or self.max_rate < 1 or self.rate_factor <= 1:
            raise ValueError("rate_window_s > 0, max_rate >= 1 and rate_factor > 1 required")
        for n in ("coverage_threshold", "out_of_range_threshold", "abuse_rate"):
            if not 0.0 < getattr(self, n) <= 1.0:
                raise ValueError(f"{n} must be in (0, 1]")
        if self.abuse_window < 1 or self.abuse_min < 1:
            raise ValueError("abuse_window and abuse_min must be >= 1")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}")
