"""GPU spend burn against a budget.

Each gpu.utilization sample says that one GPU (node x ``gpu.index``) was allocated during the
interval since its previous sample (capped at ``max_interval`` seconds; ``default_interval`` for a
GPU's first sample). Cost = GPU-hours x ``price_per_gpu_hour``. Spend is grouped by the attribute
``group_by`` (e.g. ``k8s.namespace.name`` or ``job.name``; empty = the whole fleet as one entity,
``fleet_entity``) against ``budget_per_day`` for each group.

score = max(min(projected daily spend over the long window, over the short window) / budget,
spent since UTC midnight / budget) — multi-window like an SLO burn: the long window proves it is
sustained, the short one that it is still happening. Flag at ``threshold`` (1 = on track to blow
the budget, or already over). Spend is a measurement: every in-order sample counts.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from core.names import GPU_UTILIZATION
from core.registry import register
from detectors.metrics.config import MetricConfig
from detectors.metrics.keyed import KeyedStateDetector, ledger, ledger_add, ledger_sum, ledger_trim


@register
class GpuSpendDetector(KeyedStateDetector):
    """Projected / actual GPU spend of a group against its daily budget."""

    type = "gpu_spend"
    metric_names = (GPU_UTILIZATION,)
    tags = ("cost", "gpu")

    @dataclass
    class Config(MetricConfig):
        price_per_gpu_hour: float = 2.5
        budget_per_day: float = 1000.0
        group_by: str = ""               # attribute naming the budget owner; "" = whole fleet
        fleet_entity: str = "gpu-fleet"
        long_window: float = 21600.0     # seconds
        short_window: float = 3600.0
        max_interval: float = 300.0
        default_interval: float = 60.0
        metrics: list[str] = field(default_factory=lambda: [GPU_UTILIZATION])
        high_factor: float = 1.5

        def validate(self) -> None:
            if self.price_per_gpu_hour <= 0 or self.budget_per_day <= 0:
                raise ValueError("price_per_gpu_hour and budget_per_day must be > 0")
            if not 0 < self.short_window <= self.long_window:
                raise ValueError("need 0 < short_window <= long_window")
            if self.max_interval <= 0 or self.default_interval <= 0 or self.threshold <= 0:
                raise ValueError("intervals and threshold must be > 0")
            super().validate()

    def key_for(self, ev):
        if self.config.group_by:
            g = ev.attributes.get(self.config.group_by)
            return (str(g) if g not in (None, "") else "unattributed"), "spend"
        return self.config.fleet_entity, "spend"

    def finding_entity(self, ev):
        return self.key_for(ev)[0]

    def new_state(self, ev):
        return {"last": {}, "spend": ledger(), "day": None, "today": 0.0}

    def _cost(self, st, ev, t):
        gpu = f"{ev.entity}#{ev.attributes.get('gpu.index', '')}"
        prev = st["last"].get(gpu)
        dt = self.config.default_interval if prev is None else min(max(t - prev, 0.0), self.config.max_interval)
        return gpu, dt / 3600.0 * self.config.price_per_gpu_hour

    def evaluate(self, st, ev, v, t):
        _, c = self._cost(st, ev, t)
        cfg = self.config
        day = int(t // 86400)
        today = (st["today"] if st["day"] == day else 0.0) + c
        rates = []
        for w in (cfg.long_window, cfg.short_window):
            spent = ledger_sum(st["spend"], t, w) + c
            rates.append(spent / w * 86400.0)
        proj = min(rates)
        score = max(proj, today) / cfg.budget_per_day
        return score, {"metric": ev.name, "value": v, "group": self.key_for(ev)[0],
                       "baseline": cfg.budget_per_day, "projected_daily_spend": proj,
                       "spent_today": today, "deviation": max(proj, today) - cfg.budget_per_day,
                       "direction": "up", "rule": "gpu_spend",
                       "window": {"long_s": cfg.long_window, "short_s": cfg.short_window,
                                  "projected_long": rates[0], "projected_short": rates[1]}}

    def update(self, st, ev, v, t, flagged):
        gpu, c = self._cost(st, ev, t)
        st["last"][gpu] = t
        day = int(t // 86400)
        if st["day"] != day:
            st["day"], st["today"] = day, 0.0
        st["today"] += c
        ledger_add(st["spend"], t, c)
        ledger_trim(st["spend"], t - self.config.long_window)

    def title(self, ev, e):
        return (f"GPU spend of {e['group']} on track for {e['projected_daily_spend']:.0f}/day "
                f"(spent {e['spent_today']:.0f} today) vs budget {e['baseline']:.0f}/day")
